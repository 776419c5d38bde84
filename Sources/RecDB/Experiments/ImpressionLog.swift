import Foundation

/// One impression as the unit index sees it: when it was shown, and which recommendation it was. Ordered by time,
/// then experiment, then number (the order in which the unit index of format 3 kept a unit's impressions).
struct UnitImpression: Sendable, Hashable, Comparable {
    var time: Int64
    var id: RecommendationID

    static func < (a: UnitImpression, b: UnitImpression) -> Bool {
        (a.time, a.id.experiment, a.id.number) < (b.time, b.id.experiment, b.id.number)
    }
}

/// An entry of the impression log (`experiment_impression_log`): its position, the unit that was shown the page,
/// and the impression.
struct ImpressionLogEntry: Sendable, Hashable {
    var position: UInt64
    var unit: String
    var impression: UnitImpression
}

/// The impression log: every recorded impression's unit, time and recommendation id under a position that only
/// grows, so recording appends to the log's last page instead of writing a random page of a per-unit index.
///
/// A position is `max(previous + 1, time << 20)`: in commit order across processes (LMDB has one writer at a time),
/// and never below its impression's time in milliseconds shifted by 20 bits, so every impression shown at or after
/// a time `t` lies at or after position `t << 20`. Nothing reads the log by unit: ``UnitImpressionIndex`` holds the
/// attribution window of it in memory, per unit, and follows the log's end.
enum ImpressionLog {
    /// The LMDB name of the log.
    static let name = "experiment_impression_log"

    /// The position of an impression shown at `time` recorded after position `last` (0: the log is empty).
    static func position(after last: UInt64, time: Int64) -> UInt64 {
        max(last &+ 1, start(of: time))
    }

    /// The first position an impression shown at or after `time` can have.
    static func start(of time: Int64) -> UInt64 {
        UInt64(min(max(time, 0), (1 << 44) - 1)) << 20
    }

    static func value(unit: String, _ impression: UnitImpression) -> [UInt8] {
        var writer = BinaryWriter(capacity: 24 + unit.utf8.count)
        writer.write(impression.id.experiment)
        writer.write(impression.id.number)
        writer.write(impression.time)
        writer.write(unit)
        return writer.bytes
    }

    static func entry(position: UInt64, value: UnsafeRawBufferPointer) throws -> ImpressionLogEntry {
        var reader = BinaryReader(value)
        let id = RecommendationID(experiment: try reader.readUInt32(), number: try reader.readUInt64())
        let time = try reader.readInt64()
        return ImpressionLogEntry(position: position, unit: try reader.readString(), impression: UnitImpression(time: time, id: id))
    }

    /// The name of the format-3 unit index, (unit, time, experiment, number) → 1, migrated into the log at open.
    static let formerUnitIndexName = "experiment_unit_impressions"
}

// MARK: - Reading and appending

extension CatalogReading where Self: ~Copyable {
    /// The log's last position in this transaction (0 when it is empty or absent).
    func lastImpressionLogPosition() throws -> UInt64 {
        guard let log = experimentSchema?.impressionLog else { return 0 }
        var last: UInt64 = 0
        try log.scanRaw(in: txn, reverse: true) { key, _ in
            last = try UInt64Codec.decode(key)
            return .stop
        }
        return last
    }

    /// Calls `body` with every log entry from position `from` through `through`, in order.
    func scanImpressionLog(
        from: UInt64, through: UInt64, _ body: (ImpressionLogEntry) throws -> Void
    ) throws {
        guard from <= through, let log = experimentSchema?.impressionLog else { return }
        try log.scanRaw(in: txn, from: UInt64Codec.withBytes(of: from) { Array($0) }) { key, value in
            let position = try UInt64Codec.decode(key)
            guard position <= through else { return .stop }
            try body(try ImpressionLog.entry(position: position, value: value))
            return .next
        }
    }
}

extension CatalogWriter {
    /// Appends `impressions` to the impression log, remembering them (and the log's end before this transaction's
    /// first append) for attribution in this transaction and for ``UnitImpressionIndex`` once it commits.
    mutating func appendToImpressionLog(_ impressions: [Impression]) throws {
        guard let log = experimentSchema?.impressionLog else {
            throw RecDBError(.readOnly, "this database predates the impression log; open it writable once to add it")
        }
        var last = try lastImpressionLogPosition()
        if impressionLogBase == nil { impressionLogBase = last }
        var txn = writeTxn
        for impression in impressions {
            let shown = UnitImpression(time: impression.time, id: impression.id)
            let position = ImpressionLog.position(after: last, time: impression.time)
            let appended = try log.put(position, ImpressionLog.value(unit: impression.unit, shown), in: &txn, flags: .append)
            guard appended else {
                throw RecDBError(.corrupted, "the impression log has an entry after position \(last)")
            }
            loggedImpressions.append(ImpressionLogEntry(position: position, unit: impression.unit, impression: shown))
            last = position
        }
    }
}

// MARK: - Migration from format 3

extension RecDatabase {
    /// Moves a format-3 database's unit index (`experiment_unit_impressions`, one random page written per impression)
    /// into the impression log, once, when a writable process opens it, and empties the old table: every impression
    /// it indexed stays attributable. Old entries go in at their time's position (after any entry already there).
    func migrateFormerUnitIndex() throws {
        guard experimentSchema?.impressionLog != nil,
            try environment.databaseNames().contains(ImpressionLog.formerUnitIndexName)
        else { return }
        let former = try environment.database(
            ImpressionLog.formerUnitIndexName, key: BytesCodec.self, value: BytesCodec.self)
        guard try environment.read({ txn in try former.count(in: txn) }) > 0 else { return }
        try write { w in
            guard let log = w.experimentSchema?.impressionLog else { return }
            var txn = WriteTransaction(continuing: w.handle)
            try former.scanRaw(in: ReadTransaction(viewing: w.handle)) { key, _ in
                var reader = BinaryReader(key)
                let unit = try reader.readString()
                let time = try reader.readInt64()
                let id = RecommendationID(experiment: try reader.readUInt32(), number: try reader.readUInt64())
                var position = ImpressionLog.start(of: time)
                while try log.contains(position, in: txn) { position += 1 }
                try log.put(position, ImpressionLog.value(unit: unit, UnitImpression(time: time, id: id)), in: &txn)
                return .next
            }
            try former.removeAll(in: &txn)
        }
    }
}
