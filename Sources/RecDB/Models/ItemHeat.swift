import Foundation

/// Popularity and trending kept current by every event, not only by refresh: a decayed counter per item, updated
/// in the transaction that writes the event, and a ranking by it that `USING popularity` and `USING trending` read.
///
/// An item's counter after events of weight wᵢ at times tᵢ is Σ wᵢ · 2^(tᵢ / h) for the half-life h, kept as its
/// base-2 logarithm L (so it never overflows): the decayed count at any moment `now` is 2^(L − now / h), and the
/// order by L is the order by decayed count at every moment, so the ranking never needs re-sorting as time passes.
/// Positive weights only, as ``PopularityModel`` (a return does not make an item less popular).
///
/// A refresh of `popularity` or `trending` turns its counter on, rebuilding it from every event when it is new or
/// its half-life changed (one write transaction over the events); from then on events move it. They are folded into
/// the tables in runs of ``ItemHeatCounter/foldRun`` events (meta `heat.folded_through` names the last event folded),
/// not one by one: an event's transaction would otherwise rewrite two random pages per item (its counter and its
/// place in the ranking) and nearly double the bytes a durable event costs. Reads add the few events not folded yet
/// (read from the event log itself), so every answer counts every committed event.
/// `Schemas/storage-layout.md` documents the tables.
struct ItemHeatSchema: Sendable {
    /// (counter byte, item id big-endian) → L as a `Double`'s bits, big-endian.
    let counters: Database<BytesCodec, BytesCodec>
    /// (counter byte, order-preserving L, item id big-endian) → nothing: items by counter, hottest last.
    let ranking: Database<BytesCodec, BytesCodec>

    init(environment env: Environment) throws {
        counters = try env.database("item_heat", key: BytesCodec.self, value: BytesCodec.self)
        ranking = try env.database("item_heat_ranking", key: BytesCodec.self, value: BytesCodec.self)
    }
}

/// One live counter: which model kind it serves and its key byte.
struct ItemHeatCounter: Sendable, Hashable {
    /// The kind that reads it.
    let kind: ModelKind
    /// Its first key byte in both tables.
    let code: UInt8

    /// `popularity`'s counter.
    static let popularity = ItemHeatCounter(kind: .popularity, code: 1)
    /// `trending`'s counter.
    static let trending = ItemHeatCounter(kind: .trending, code: 2)
    static let all = [popularity, trending]

    static func of(_ kind: ModelKind) -> ItemHeatCounter? { all.first { $0.kind == kind } }

    /// The `meta` key holding the half-life in milliseconds while the counter is live.
    var halfLifeKey: String { "heat.\(kind.rawValue).half_life_ms" }

    /// The `meta` key holding the sequence of the last event every live counter holds (absent in files whose
    /// counters were moved in each event's transaction: they hold every committed event).
    static let foldedThroughKey = "heat.folded_through"

    /// Events left unfolded before a write transaction folds them: what a read of a live counter adds at most.
    static let foldRun: UInt64 = 1024

    /// The level one event of `weight` at `time` adds to a counter with `halfLife` (milliseconds).
    static func level(weight: Double, time: Int64, halfLife: Double) -> Double {
        log2(weight) + Double(time) / halfLife
    }

    func counterKey(_ item: UInt32) -> [UInt8] {
        [code, UInt8(item >> 24), UInt8(item >> 16 & 0xFF), UInt8(item >> 8 & 0xFF), UInt8(item & 0xFF)]
    }

    func rankingKey(_ level: Double, _ item: UInt32) -> [UInt8] {
        // IEEE bits made to sort as numbers: flip every bit of negatives, only the sign bit of the rest.
        let bits = level.bitPattern
        let ordered = bits >> 63 == 1 ? ~bits : bits | (1 << 63)
        var key = [code]
        key.reserveCapacity(13)
        for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(ordered >> UInt64(shift) & 0xFF)) }
        key += counterKey(item).dropFirst()
        return key
    }

    /// The level stored as `ordered` in a ranking key (the inverse of ``rankingKey(_:_:)``'s encoding).
    static func level(orderedBits ordered: UInt64) -> Double {
        Double(bitPattern: ordered >> 63 == 1 ? ordered & ~(1 << 63) : ~ordered)
    }

    /// Adds one event's `level` to `item`'s entry of `levels` (log₂ of a sum, so the sum of the powers).
    static func add(_ level: Double, to item: UInt32, in levels: inout [UInt32: Double]) {
        levels[item] = levels[item].map { logSum($0, level) } ?? level
    }

    /// log2(2^a + 2^b), stable for any magnitudes.
    static func logSum(_ a: Double, _ b: Double) -> Double {
        let high = max(a, b), low = min(a, b)
        return high + log2(1 + exp2(low - high))
    }
}

/// A positive-weight event waiting for the writer's flush to move the live counters.
struct ItemHeatEvent: Sendable {
    var item: UInt32
    var weight: Double
    var time: Int64
}

extension ModelKind {
    /// Time-decayed popularity with a short half-life (a day by default): what is selling now.
    public static let trending: ModelKind = "trending"
}

extension CatalogReading where Self: ~Copyable {
    /// The half-life in milliseconds of `counter` when it is live, else nil.
    func liveHalfLife(_ counter: ItemHeatCounter) throws -> Double? {
        guard database.itemHeatSchema != nil, let raw = try schema.meta.get(counter.halfLifeKey, in: txn),
            raw.count == 8
        else { return nil }
        return Double(bitPattern: raw.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) })
    }

    /// The last event sequence the live counters hold, or nil when the file predates folding in runs (then they
    /// hold every committed event).
    func heatFoldedThrough() throws -> UInt64? {
        guard let raw = try schema.meta.get(ItemHeatCounter.foldedThroughKey, in: txn), raw.count == 8 else { return nil }
        return raw.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) }
    }

    /// What the events after `foldedThrough` add to a counter with `halfLife`, per item (log₂ of the decayed sum).
    func heatLevels(after foldedThrough: UInt64, halfLife: Double) throws -> [UInt32: Double] {
        let types = try eventTypes
        var added: [UInt32: Double] = [:]
        let start = UInt64Codec.withBytes(of: foldedThrough + 1) { Array($0) }
        try schema.events.scanRaw(in: txn, from: start) { _, value in
            let record = try EventRecord(value)
            let weight = types.type(code: record.typeCode).map { $0.weight(forValue: record.value) } ?? 1
            guard weight > 0 else { return .next }
            let level = ItemHeatCounter.level(weight: weight, time: record.time, halfLife: halfLife)
            ItemHeatCounter.add(level, to: record.item, in: &added)
            return .next
        }
        return added
    }

    /// The stored level of `item` in `counter`, nil when it has none.
    func storedHeat(_ counter: ItemHeatCounter, _ item: UInt32, tables: ItemHeatSchema) throws -> Double? {
        guard let raw = try tables.counters.get(counter.counterKey(item), in: txn), raw.count == 8 else { return nil }
        return Double(bitPattern: raw.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) })
    }

    /// Items by live counter, hottest first, as candidates of `record`. The score is the decayed count relative to the
    /// hottest item's (1 for it), so it changes with events, never with the clock: two reads between the same writes
    /// answer the same. Nil when the counter is not live, so the caller serves the generation's scores.
    func liveHeatCandidates(
        _ counter: ItemHeatCounter, _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int
    ) throws -> [Candidate]? {
        guard let tables = database.itemHeatSchema, let halfLife = try liveHalfLife(counter) else { return nil }
        // The generation's scores are still checked (read once per generation): a damaged part is reported.
        _ = try popularityScores(record)
        // Events not folded yet: their items' levels are the stored ones plus what these events add.
        var unfolded: [UInt32: Double] = [:]
        if let folded = try heatFoldedThrough() {
            for (item, added) in try heatLevels(after: folded, halfLife: halfLife) {
                unfolded[item] = try storedHeat(counter, item, tables: tables).map { ItemHeatCounter.logSum($0, added) }
                    ?? added
            }
        }
        var scored: [(item: UInt32, level: Double)] = []
        if let allowed = resolved.allowed {
            // A filter: rank its items by their counters instead of walking the whole ranking.
            try allowed.forEach { item in
                guard resolved.accepts(item) else { return }
                if let level = try unfolded[item] ?? storedHeat(counter, item, tables: tables) {
                    scored.append((item, level))
                }
            }
        } else {
            // The ranking's first `pool` items, then every item with unfolded events (only they can move up past them).
            try tables.ranking.scanRaw(in: txn, prefix: [counter.code], reverse: true) { key, _ in
                guard key.count == 13 else { return .next }
                let item = key.loadBigEndianUInt32(at: 9)
                guard unfolded[item] == nil, resolved.accepts(item), try schema.items.contains(item, in: txn) else {
                    return .next
                }
                scored.append((item, ItemHeatCounter.level(orderedBits: key.loadBigEndianUInt64(at: 1))))
                return scored.count >= pool ? .stop : .next
            }
            for (item, level) in unfolded where resolved.accepts(item) { scored.append((item, level)) }
        }
        scored.sort { $0.level > $1.level || ($0.level == $1.level && $0.item < $1.item) }
        let reference = scored.first?.level ?? 0
        func score(_ level: Double) -> Float { Float(max(exp2(level - reference), Double(Float.leastNonzeroMagnitude))) }
        var result: [Candidate] = []
        for (item, level) in scored where result.count < pool {
            guard try schema.items.contains(item, in: txn) else { continue }
            result.append(Candidate(item: item, score: score(level), model: record.name, reason: .popularity))
        }
        return result
    }
}

extension CatalogWriter {
    /// Called by ``flush()`` with this transaction's positive-weight events: folds every unfolded event into the
    /// live counters once ``ItemHeatCounter/foldRun`` of them wait (or at once with `force`). In a file whose
    /// counters predate folding in runs, folds `events` (the only ones they miss) and starts the runs from here.
    mutating func foldItemHeat(_ events: [ItemHeatEvent], force: Bool = false) throws {
        guard let tables = database.itemHeatSchema, force || !events.isEmpty else { return }
        let live = try ItemHeatCounter.all.compactMap { counter in try liveHalfLife(counter).map { (counter, $0) } }
        guard !live.isEmpty else { return }
        let last = try lastEventSequence()
        guard let folded = try heatFoldedThrough() else {
            for (counter, halfLife) in live {
                var added: [UInt32: Double] = [:]
                for event in events {
                    let level = ItemHeatCounter.level(weight: event.weight, time: event.time, halfLife: halfLife)
                    ItemHeatCounter.add(level, to: event.item, in: &added)
                }
                try move(counter, by: added, tables: tables)
            }
            try setHeatFoldedThrough(last)
            return
        }
        guard last > folded, force || last - folded >= ItemHeatCounter.foldRun else { return }
        for (counter, halfLife) in live { try move(counter, by: try heatLevels(after: folded, halfLife: halfLife), tables: tables) }
        try setHeatFoldedThrough(last)
    }

    private mutating func setHeatFoldedThrough(_ sequence: UInt64) throws {
        var txn = writeTxn
        try schema.meta.put(ItemHeatCounter.foldedThroughKey, Self.bigEndianBytes(sequence), in: &txn)
    }

    /// Turns `counter` on with `halfLifeDays`, rebuilding it from every stored event unless it is already live with
    /// that half-life (then the events kept it current).
    mutating func enableItemHeat(_ counter: ItemHeatCounter, halfLifeDays: Double) throws {
        guard let tables = database.itemHeatSchema else { return }
        let halfLife = max(halfLifeDays, 1e-3) * 86_400_000
        if try liveHalfLife(counter) == halfLife { return }
        // The other live counter takes its unfolded events first: the rebuild below moves the fold mark to the end.
        try foldItemHeat([], force: true)
        var txn = writeTxn
        var stale: [[UInt8]] = []
        for table in [tables.counters, tables.ranking] {
            stale.removeAll()
            try table.scanRaw(in: txn, prefix: [counter.code]) { key, _ in
                stale.append(Array(key))
                return .next
            }
            for key in stale { _ = try table.delete(key, in: &txn) }
        }
        let types = try eventTypes.codes
        var weights: [UInt16: EventType] = [:]
        for (code, type) in types { weights[code] = type }
        var levels: [UInt32: Double] = [:]
        try schema.events.scanRaw(in: txn) { _, value in
            let record = try EventRecord(value)
            let weight = weights[record.typeCode].map { $0.weight(forValue: record.value) } ?? 1
            guard weight > 0 else { return .next }
            let level = ItemHeatCounter.level(weight: weight, time: record.time, halfLife: halfLife)
            ItemHeatCounter.add(level, to: record.item, in: &levels)
            return .next
        }
        try schema.meta.put(counter.halfLifeKey, Self.bigEndianBytes(halfLife.bitPattern), in: &txn)
        try move(counter, by: levels, tables: tables)
        try setHeatFoldedThrough(try lastEventSequence())
    }

    /// Adds `added` (per item, log₂ of the decayed sum) to `counter`: one read and three writes per item.
    private mutating func move(_ counter: ItemHeatCounter, by added: [UInt32: Double], tables: ItemHeatSchema) throws {
        var txn = writeTxn
        for (item, level) in added {
            let key = counter.counterKey(item)
            var total = level
            if let raw = try tables.counters.get(key, in: txn), raw.count == 8 {
                let old = Double(bitPattern: raw.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) })
                _ = try tables.ranking.delete(counter.rankingKey(old, item), in: &txn)
                total = ItemHeatCounter.logSum(old, level)
            }
            try tables.counters.put(key, Self.bigEndianBytes(total.bitPattern), in: &txn)
            try tables.ranking.put(counter.rankingKey(total, item), [], in: &txn)
        }
    }

    private static func bigEndianBytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(value >> UInt64(56 - 8 * $0) & 0xFF) }
    }
}
