/// Changes to the catalog inside one write transaction, handed out by ``RecDatabase/write(_:)``.
/// Every index is updated in the same transaction as the record it indexes.
///
/// The writer keeps some changes in memory until ``flush()`` writes them at the end of the transaction: id counters,
/// event counters, the items changed (for the item version and its change log, `item_changes`) and ids resolved for
/// the ``IDCache``. ``savepoint(_:)`` and ``attempt(_:)`` roll these back together with the nested transaction.
public struct CatalogWriter: CatalogReading, ~Copyable {
    /// The database being written; its caches (event types, ids) are updated only when the transaction commits.
    public let database: RecDatabase
    /// The LMDB transaction: the write transaction, or the nested one while a savepoint's body runs.
    public private(set) var handle: TransactionHandle
    /// Always false: what this writer reads includes its own uncommitted changes, and the transaction may yet abort.
    public var isSnapshot: Bool { false }
    private var nextIDs: [String: UInt64] = [:]
    private var changedIDs: Set<String> = []
    private var eventDeltas: [UInt16: Int64] = [:]
    /// Positive-weight events of this transaction: the live popularity counters (``ItemHeatSchema``) fold at flush
    /// when enough wait.
    private var heatEvents: [ItemHeatEvent] = []
    /// Items written or deleted: the catalog's item version moves on at flush, and the change log records them.
    private var changedItems: [UInt32] = []
    /// Versions whose changed items stay in the change log (older entries are pruned).
    static let itemChangeHistory: UInt64 = 1024
    /// A version that changed more items than this records none (cached filters are then evaluated afresh).
    static let maxLoggedChanges = 65_536
    /// The `meta` key of the item version (see ``CatalogReading/itemsVersion``).
    static let itemsVersionKey = "items.version"
    /// Ids committed by earlier transactions of the same writer (an import), to skip B-tree lookups.
    var cache: IDCache?
    /// Ids resolved or assigned in this transaction; they join `cache` once it commits.
    private(set) var resolved = IDCache.Entries()
    /// Model outputs computed before the transaction for the statement running in it (item text vectors).
    var modelInputs: ModelInputs?
    /// Impressions this transaction appended to the impression log: attribution in the transaction sees them, and
    /// the unit index takes them once it commits (``UnitImpressionIndex``).
    var loggedImpressions: [ImpressionLogEntry] = []
    /// The impression log's last position before this transaction's first append: what was committed before it.
    var impressionLogBase: UInt64?

    /// The longest external id, in UTF-8 bytes (LMDB keys are at most 511 bytes); see ``CatalogLimits``.
    public static let maxIDLength = CatalogLimits.maxIDBytes

    init(database: RecDatabase, handle: TransactionHandle) throws {
        self.database = database
        self.handle = handle
    }

    var writeTxn: WriteTransaction { WriteTransaction(continuing: handle) }

    /// The event types, read once per transaction (they change only in transactions of their own).
    private var typesOfThisTransaction: EventTypeTable?

    private mutating func transactionEventTypes() throws -> EventTypeTable {
        if let types = typesOfThisTransaction { return types }
        let types = try eventTypes
        typesOfThisTransaction = types
        return types
    }

    /// Adds an event type or changes an existing one's weight in this transaction (`DEFINE EVENT TYPE`); the
    /// statements after it in the transaction see the change.
    mutating func defineEventType(_ type: EventType) throws {
        var txn = writeTxn
        try RecDatabase.putEventType(type, schema: schema, in: &txn)
        typesOfThisTransaction = nil
    }

    // MARK: - Savepoints

    /// What the writer holds in memory for ``flush()``, as it was when a savepoint began.
    private struct Mark {
        var nextIDs: [String: UInt64]
        var changedIDs: Set<String>
        var eventDeltas: [UInt16: Int64]
        /// `changedItems` only grows until the flush: its length is enough.
        var changedItemCount: Int
        /// `heatEvents` only grows until the flush too.
        var heatEventCount: Int
        var resolved: IDCache.Entries
        /// `loggedImpressions` only grows until the commit too.
        var loggedImpressionCount: Int
    }

    private var mark: Mark {
        Mark(
            nextIDs: nextIDs, changedIDs: changedIDs, eventDeltas: eventDeltas, changedItemCount: changedItems.count,
            heatEventCount: heatEvents.count, resolved: resolved, loggedImpressionCount: loggedImpressions.count)
    }

    private mutating func rollBack(to mark: Mark) {
        nextIDs = mark.nextIDs
        changedIDs = mark.changedIDs
        eventDeltas = mark.eventDeltas
        changedItems.removeSubrange(mark.changedItemCount...)
        heatEvents.removeSubrange(mark.heatEventCount...)
        resolved = mark.resolved
        loggedImpressions.removeSubrange(mark.loggedImpressionCount...)
    }

    /// Runs `body` in a savepoint (a nested LMDB transaction, see ``WriteTransaction/savepoint(_:)``): on return its
    /// changes join this transaction; on a throw every change it made is undone — in LMDB and in what the writer
    /// keeps in memory (id counters, event counters, the changed-items log) — and the error is rethrown.
    ///
    /// ```swift
    /// try db.write { w in
    ///     try w.upsertItem("i1", attributes: [:])
    ///     // Fails on the long session id after creating user 'u9' and item 'i9': neither remains.
    ///     _ = try? w.savepoint { w in
    ///         try w.addEvent(EventInput(user: "u9", item: "i9", type: "view", timestamp: .now, session: tooLong))
    ///     }
    /// }
    /// ```
    ///
    /// Ids dropped from the writer's ``IDCache`` inside the savepoint (a deleted item's) stay dropped: the cache only
    /// saves lookups, so a missing entry is read from the database again.
    public mutating func savepoint<R>(_ body: (inout CatalogWriter) throws -> R) throws -> R {
        try attempt(body).get()
    }

    /// Like ``savepoint(_:)``, but hands `body`'s failure back instead of throwing it (see
    /// ``WriteTransaction/attempt(_:)``): throws only what ends the whole transaction, a full map above all, which
    /// ``RecDatabase/write(_:)`` answers by growing the map and running its body again.
    public mutating func attempt<R>(_ body: (inout CatalogWriter) throws -> R) throws -> Result<R, any Error> {
        let saved = mark
        let parent = handle
        var txn = writeTxn
        let result: Result<R, any Error>
        do {
            result = try txn.attempt { child in
                handle = child.handle
                defer { handle = parent }
                return try body(&self)
            }
        } catch {
            rollBack(to: saved)
            throw error
        }
        if case .failure = result { rollBack(to: saved) }
        return result
    }

    /// Writes the id counters and event counters gathered during the transaction.
    mutating func flush() throws {
        var txn = writeTxn
        for name in changedIDs {
            try schema.meta.put(name, UInt64Codec.withBytes(of: nextIDs[name]!) { Array($0) }, in: &txn)
        }
        let types = try transactionEventTypes()
        for (code, delta) in eventDeltas where delta != 0 {
            guard let type = types.type(code: code) else { continue }
            let name = "events." + type.name
            let current = Int64(try schema.counters.get(name, in: txn) ?? 0)
            try schema.counters.put(name, UInt64(max(0, current + delta)), in: &txn)
        }
        if !changedItems.isEmpty {
            let version = try CatalogSchemaAccess.nextID(Self.itemsVersionKey, handle: handle, meta: schema.meta) + 1
            try schema.meta.put(Self.itemsVersionKey, UInt64Codec.withBytes(of: version) { Array($0) }, in: &txn)
            try logItemChanges(version: version, in: &txn)
            changedItems.removeAll()
        }
        try foldItemHeat(heatEvents)
        heatEvents.removeAll()
        changedIDs.removeAll()
        eventDeltas.removeAll()
    }

    /// Records which items `version` changed, and drops entries older than ``itemChangeHistory`` versions.
    private func logItemChanges(version: UInt64, in txn: inout WriteTransaction) throws {
        var writer = BinaryWriter(capacity: 1)
        if changedItems.count <= Self.maxLoggedChanges {
            // A marker byte: 1 = the ids follow (an empty value would mean "too many to list").
            writer.write(UInt8(1))
            for id in Set(changedItems).sorted() { writer.write(id) }
        }
        try schema.itemChanges.put(version, writer.bytes, in: &txn)
        guard version > Self.itemChangeHistory, version % 64 == 0 else { return }
        let cutoff = version - Self.itemChangeHistory
        var stale: [UInt64] = []
        try schema.itemChanges.scanRaw(in: ReadTransaction(viewing: handle)) { key, _ in
            let old = key.loadBigEndianUInt64(at: 0)
            guard old < cutoff else { return .stop }
            stale.append(old)
            return .next
        }
        for old in stale { try schema.itemChanges.delete(old, in: &txn) }
    }

    mutating func allocate(_ name: String, startingAt first: UInt64) throws -> UInt64 {
        let next: UInt64
        if let cached = nextIDs[name] {
            next = cached
        } else if let raw = try schema.meta.get(name, in: txn) {
            next = try raw.withUnsafeBytes { try UInt64Codec.decode($0) }
        } else {
            next = first
        }
        nextIDs[name] = next + 1
        changedIDs.insert(name)
        return next
    }

    // MARK: - Items

    /// Creates an item or merges `attributes` into an existing one (`replace` drops the attributes not given).
    /// Category and tag postings and the attribute index (``AttributeIndex``) follow the new values. Returns the internal id.
    @discardableResult
    public mutating func upsertItem(_ id: String, attributes: Attributes, replace: Bool = false) throws -> UInt32 {
        try CatalogLimits.check(id, .itemID)
        try WellKnownAttribute.validate(attributes, forItem: true, owner: "item '\(id)'")
        var txn = writeTxn
        if let internalID = try itemID(for: id) {
            let old = try item(internalID: internalID)?.attributes ?? [:]
            var merged = replace ? attributes : old
            if !replace { merged.merge(attributes) { _, new in new } }
            guard merged != old else { return internalID }
            changedItems.append(internalID)
            try updatePostings(item: internalID, old: old, new: merged)
            try schema.items.put(internalID, EntityRecord(externalID: id, attributes: merged).bytes, in: &txn)
            try updateContentVector(item: internalID, id: id, attributes: merged)
            return internalID
        }
        let internalID = UInt32(try allocate("next.item", startingAt: 0))
        guard internalID < UInt32.max else { throw RecDBError(.invalidArgument, "the catalog is out of item ids") }
        changedItems.append(internalID)
        try schema.itemIDs.put(id, internalID, in: &txn)
        try schema.items.put(internalID, EntityRecord(externalID: id, attributes: attributes).bytes, in: &txn, flags: .append)
        try updatePostings(item: internalID, old: [:], new: attributes)
        if !attributes.isEmpty { try updateContentVector(item: internalID, id: id, attributes: attributes) }
        return internalID
    }

    private mutating func updatePostings(item: UInt32, old: Attributes, new: Attributes) throws {
        var txn = writeTxn
        func categories(_ attributes: Attributes) -> Set<String> {
            if case .string(let path)? = attributes["category"] { Set(WellKnownAttribute.categoryPrefixes(path)) } else { [] }
        }
        func tags(_ attributes: Attributes) -> Set<String> {
            if case .strings(let list)? = attributes["tags"] {
                // Stored tags were validated when written (``WellKnownAttribute/validate``); older records may hold
                // tags that break today's limits: those have no posting.
                Set(list.filter { CatalogLimits.problem($0, .tag) == nil })
            } else { [] }
        }
        let oldCategories = categories(old), newCategories = categories(new)
        for path in oldCategories.subtracting(newCategories) { try schema.categoryItems.delete(path, value: item, in: &txn) }
        for path in newCategories.subtracting(oldCategories) where CatalogLimits.problem(path, .category) == nil {
            try schema.categoryItems.put(path, item, in: &txn, flags: .noDuplicateData)
        }
        let oldTags = tags(old), newTags = tags(new)
        for tag in oldTags.subtracting(newTags) { try schema.tagItems.delete(tag, value: item, in: &txn) }
        for tag in newTags.subtracting(oldTags) { try schema.tagItems.put(tag, item, in: &txn, flags: .noDuplicateData) }
        try updateAttributeIndex(item: item, old: old, new: new)
    }

    /// Deletes an item with its events, history entries, seen entries, postings and id mapping.
    /// Returns false when there was no such item.
    @discardableResult
    public mutating func deleteItem(_ id: String) throws -> Bool {
        guard let internalID = try itemID(for: id) else { return false }
        changedItems.append(internalID)
        cache?.entries.items[id] = nil
        resolved.items[id] = nil
        var txn = writeTxn
        var entries: [ItemEventEntry] = []
        try schema.itemEvents.duplicatesRaw(of: internalID, in: txn) { raw in
            entries.append(try ItemEventEntry(raw))
            return .next
        }
        var users = Set<UInt32>()
        for entry in entries {
            guard let record = try schema.events.withValue(entry.sequence, in: txn, { try EventRecord($0) }) else { continue }
            try removeEventIndexes(sequence: entry.sequence, record: record, keepingItemIndex: true)
            users.insert(entry.user)
        }
        for user in users { try schema.seen.delete(user, value: internalID, in: &txn) }
        try schema.itemEvents.delete(internalID, in: &txn)
        try updatePostings(item: internalID, old: try item(internalID: internalID)?.attributes ?? [:], new: [:])
        try removeVectors(of: .items, node: internalID)
        try schema.items.delete(internalID, in: &txn)
        try schema.itemIDs.delete(id, in: &txn)
        return true
    }

    // MARK: - Users

    /// Creates a user or merges `attributes` into an existing one. Returns the internal id.
    @discardableResult
    public mutating func upsertUser(_ id: String, attributes: Attributes = [:], replace: Bool = false) throws -> UInt32 {
        try CatalogLimits.check(id, .userID)
        try WellKnownAttribute.validate(attributes, forItem: false, owner: "user '\(id)'")
        var txn = writeTxn
        if let internalID = try userID(for: id) {
            if attributes.isEmpty && !replace { return internalID }
            let old = try user(internalID: internalID)?.attributes ?? [:]
            var merged = replace ? attributes : old
            if !replace { merged.merge(attributes) { _, new in new } }
            if merged != old {
                try schema.users.put(internalID, EntityRecord(externalID: id, attributes: merged).bytes, in: &txn)
            }
            return internalID
        }
        let internalID = UInt32(try allocate("next.user", startingAt: 0))
        guard internalID < UInt32.max else { throw RecDBError(.invalidArgument, "the catalog is out of user ids") }
        try schema.userIDs.put(id, internalID, in: &txn)
        try schema.users.put(internalID, EntityRecord(externalID: id, attributes: attributes).bytes, in: &txn, flags: .append)
        return internalID
    }

    /// Deletes a user with every event, history, seen and session entry. Returns false when there was none.
    @discardableResult
    public mutating func deleteUser(_ id: String) throws -> Bool {
        guard let internalID = try userID(for: id) else { return false }
        cache?.entries.users[id] = nil
        resolved.users[id] = nil
        var txn = writeTxn
        var entries: [UserEventEntry] = []
        try schema.userEvents.duplicatesRaw(of: internalID, in: txn) { raw in
            entries.append(try UserEventEntry(raw))
            return .next
        }
        for entry in entries {
            guard let record = try schema.events.withValue(entry.sequence, in: txn, { try EventRecord($0) }) else { continue }
            try removeEventIndexes(sequence: entry.sequence, record: record, keepingItemIndex: false)
        }
        try schema.userEvents.delete(internalID, in: &txn)
        try schema.seen.delete(internalID, in: &txn)
        try removeVectors(of: .users, node: internalID)
        try schema.users.delete(internalID, in: &txn)
        try schema.userIDs.delete(id, in: &txn)
        return true
    }

    /// Removes one event from the event log, the session index, the counters, and the user or item index
    /// (the caller removes the whole list of the side it is deleting).
    private mutating func removeEventIndexes(sequence: UInt64, record: EventRecord, keepingItemIndex: Bool) throws {
        var txn = writeTxn
        try schema.events.delete(sequence, in: &txn)
        if keepingItemIndex {
            let entry = UserEventEntry(time: record.time, sequence: sequence, item: record.item, session: record.session)
            try schema.userEvents.delete(record.user, value: entry.bytes, in: &txn)
        } else {
            let entry = ItemEventEntry(time: record.time, sequence: sequence, user: record.user)
            try schema.itemEvents.delete(record.item, value: entry.bytes, in: &txn)
        }
        if record.session != 0 {
            let entry = SessionEventEntry(time: record.time, sequence: sequence)
            try schema.sessionEvents.delete(record.session, value: entry.bytes, in: &txn)
            if try schema.sessionEvents.duplicateCount(of: record.session, in: txn) == 0,
                let raw = try schema.sessions.get(record.session, in: txn)
            {
                let name = try raw.withUnsafeBytes { raw -> String in
                    var reader = BinaryReader(raw)
                    _ = try reader.readUInt32()
                    return try reader.readString()
                }
                try schema.sessions.delete(record.session, in: &txn)
                try schema.sessionIDs.delete(name, in: &txn)
            }
        }
        eventDeltas[record.typeCode, default: 0] -= 1
    }

    // MARK: - Events

    /// An id from this transaction, the cache of committed ids, or the database (remembered for the cache).
    private mutating func cachedID(_ name: String, _ table: WritableKeyPath<IDCache.Entries, [String: UInt32]>) throws
        -> UInt32?
    {
        if let id = resolved[keyPath: table][name] ?? cache?.entries[keyPath: table][name] { return id }
        let found: UInt32?
        switch table {
        case \IDCache.Entries.items: found = try itemID(for: name)
        case \IDCache.Entries.users: found = try userID(for: name)
        default: found = try sessionID(for: name)
        }
        guard let id = found else { return nil }
        if cache != nil { resolved[keyPath: table][name] = id }
        return id
    }

    /// Records an event. Unknown users and items are created (without attributes) when `createMissing` is true,
    /// otherwise they are an error. Returns the event's global sequence number.
    @discardableResult
    public mutating func addEvent(_ input: EventInput, createMissing: Bool = true) throws -> UInt64 {
        try CatalogLimits.check(input.user, .userID)
        try CatalogLimits.check(input.item, .itemID)
        let types = try transactionEventTypes()
        guard let (code, type) = types.named(input.type) else {
            let known = types.all.map(\.name).joined(separator: ", ")
            throw RecDBError(.invalidArgument, "unknown event type '\(input.type.excerpt(64))' (known: \(known))")
        }
        guard input.value.isFinite else { throw RecDBError(.invalidArgument, "event value \(input.value) is not finite") }
        let user: UInt32
        if let existing = try cachedID(input.user, \.users) {
            user = existing
        } else if createMissing {
            user = try upsertUser(input.user)
            resolved.users[input.user] = user
        } else {
            throw RecDBError(.notFound, "unknown user '\(input.user)'")
        }
        let item: UInt32
        if let existing = try cachedID(input.item, \.items) {
            item = existing
        } else if createMissing {
            item = try upsertItem(input.item, attributes: [:])
            resolved.items[input.item] = item
        } else {
            throw RecDBError(.notFound, "unknown item '\(input.item)'")
        }
        var txn = writeTxn
        var session: UInt32 = 0
        if let name = input.session, !name.isEmpty {
            try CatalogLimits.check(name, .sessionID)
            if let existing = try cachedID(name, \.sessions) {
                session = existing
            } else {
                session = UInt32(try allocate("next.session", startingAt: 1))
                try schema.sessionIDs.put(name, session, in: &txn)
                var writer = BinaryWriter()
                writer.write(user)
                writer.write(name)
                try schema.sessions.put(session, writer.bytes, in: &txn, flags: .append)
                resolved.sessions[name] = session
            }
        }
        let sequence = try allocate("next.event", startingAt: 1)
        let time = input.timestamp.milliseconds
        let record = EventRecord(
            user: user, item: item, typeCode: code, value: input.value, time: time, session: session, text: input.text)
        try schema.events.put(sequence, record.bytes, in: &txn, flags: .append)
        try schema.userEvents.put(
            user, UserEventEntry(time: time, sequence: sequence, item: item, session: session).bytes, in: &txn)
        try schema.itemEvents.put(item, ItemEventEntry(time: time, sequence: sequence, user: user).bytes, in: &txn)
        try schema.seen.put(user, item, in: &txn, flags: .noDuplicateData)
        if session != 0 {
            try schema.sessionEvents.put(session, SessionEventEntry(time: time, sequence: sequence).bytes, in: &txn)
        }
        eventDeltas[code, default: 0] += 1
        let weight = type.weight(forValue: input.value)
        if weight > 0 { heatEvents.append(ItemHeatEvent(item: item, weight: weight, time: time)) }
        return sequence
    }
}

/// External → internal ids that one writer learned in transactions it committed, so that a long run of write
/// transactions (an import) resolves repeated ids without B-tree lookups. It is cleared whenever another writer
/// committed in between (LMDB transaction ids are consecutive), since that writer may have deleted ids.
final class IDCache {
    struct Entries {
        var items: [String: UInt32] = [:]
        var users: [String: UInt32] = [:]
        var sessions: [String: UInt32] = [:]
    }

    var entries = Entries()
    var lastTransactionID: Int?
    /// Above this many entries the cache starts over, bounding its memory.
    let limit = 4_000_000

    func merge(_ new: Entries, transactionID: Int) {
        if entries.items.count + entries.users.count + entries.sessions.count > limit { entries = Entries() }
        entries.items.merge(new.items) { _, new in new }
        entries.users.merge(new.users) { _, new in new }
        entries.sessions.merge(new.sessions) { _, new in new }
        lastTransactionID = transactionID
    }
}
