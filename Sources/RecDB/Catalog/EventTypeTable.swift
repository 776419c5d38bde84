import Foundation
import Synchronization

/// The event types of one snapshot: each type's name, stored code and weight.
///
/// Types can change while a process runs (`recctl types set` from another process), so every reader asks for the
/// table of its own transaction (``CatalogReading/eventTypes``): a token in `meta` changes with every change of the
/// types, and the table is reloaded when the token differs from the cached one.
struct EventTypeTable: Sendable {
    /// The `meta` token of the types this table was read from (0 for a database never changed since creation).
    let token: UInt64
    private let byName: [String: (code: UInt16, type: EventType)]
    private let byCode: [UInt16: EventType]

    static let empty = EventTypeTable(token: .max, byName: [:])
    /// The `meta` key of the token, rewritten with a fresh random value whenever a type is added or changed.
    static let tokenKey = "event_types_token"

    init(token: UInt64, byName: [String: (code: UInt16, type: EventType)]) {
        self.token = token
        self.byName = byName
        byCode = Dictionary(uniqueKeysWithValues: byName.values.map { ($0.code, $0.type) })
    }

    /// The type called `name` and its code, or nil.
    func named(_ name: String) -> (code: UInt16, type: EventType)? { byName[name] }

    /// The type stored under `code`, or nil.
    func type(code: UInt16) -> EventType? { byCode[code] }

    /// Every type, by code.
    var all: [EventType] { byCode.sorted { $0.key < $1.key }.map(\.value) }

    /// Every type with its code.
    var codes: [(code: UInt16, type: EventType)] { byName.values.sorted { $0.code < $1.code } }
}

/// The latest event type table a transaction of this process has read, and the transaction id it was checked at.
final class EventTypeCache: Sendable {
    private struct State {
        var table = EventTypeTable.empty
        /// `mdb_txn_id` of the last read-only snapshot that found `table` current (0: none).
        var checkedSnapshot = 0
    }
    private let state = Mutex(State())

    /// The types as `txn` sees them: the cached table when its token is the snapshot's, else read anew.
    /// `readOnly` says `txn` is a committed snapshot (a write transaction may yet abort: its tables are not kept).
    func table(in txn: borrowing ReadTransaction, readOnly: Bool, schema: CatalogSchema) throws -> EventTypeTable {
        let snapshot = txn.handle.id
        if readOnly, let table = state.withLock({ $0.checkedSnapshot == snapshot ? $0.table : nil }) { return table }
        let token = try schema.meta.get(EventTypeTable.tokenKey, in: txn)
            .map { raw in raw.count == 8 ? raw.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) } : 1 } ?? 0
        if let table = state.withLock({ $0.table.token == token ? $0.table : nil }) {
            if readOnly { state.withLock { $0.checkedSnapshot = snapshot } }
            return table
        }
        var byName: [String: (code: UInt16, type: EventType)] = [:]
        try schema.eventTypes.scan(in: txn) { name, raw in
            let (code, type) = try raw.withUnsafeBytes { try RecDatabase.decodeType(name: name, $0) }
            byName[name] = (code, type)
            return .next
        }
        let table = EventTypeTable(token: token, byName: byName)
        if readOnly { state.withLock { $0 = State(table: table, checkedSnapshot: snapshot) } }
        return table
    }
}
