import Foundation
import Synchronization

/// The named LMDB databases of experiments: definitions, impressions, the outcomes credited to them and the counters
/// the bandit reads. `Schemas/storage-layout.md` documents the layout for people.
struct ExperimentSchema: Sendable {
    /// name → JSON ``Experiment``.
    let experiments: Database<StringCodec, BytesCodec>
    /// (experiment number, recommendation number) → ``Impression``.
    let impressions: Database<BytesCodec, BytesCodec>
    /// position → (experiment number, recommendation number, time, unit): every impression in commit order, appended,
    /// for crediting events that name no recommendation (``ImpressionLog``, ``UnitImpressionIndex``). Nil only in a
    /// read-only process on a database of format 3 or older.
    let impressionLog: Database<UInt64Codec, BytesCodec>?
    /// (experiment number, recommendation number, event sequence) → ``ImpressionOutcome``.
    let outcomes: Database<BytesCodec, BytesCodec>
    /// (experiment number, variant, counter) → count: impressions (0) and converted impressions (1).
    let counters: Database<BytesCodec, UInt64Codec>

    init(environment env: Environment) throws {
        experiments = try env.database("experiments", key: StringCodec.self, value: BytesCodec.self)
        impressions = try env.database("experiment_impressions", key: BytesCodec.self, value: BytesCodec.self)
        impressionLog = try env.addedLater {
            try env.database(ImpressionLog.name, key: UInt64Codec.self, value: BytesCodec.self)
        }
        outcomes = try env.database("experiment_outcomes", key: BytesCodec.self, value: BytesCodec.self)
        counters = try env.database("experiment_counters", key: BytesCodec.self, value: UInt64Codec.self)
    }

    static func impressionKey(_ id: RecommendationID) -> [UInt8] {
        var writer = BinaryWriter(capacity: 12)
        writer.write(id.experiment)
        writer.write(id.number)
        return writer.bytes
    }

    static func experimentPrefix(_ number: UInt32) -> [UInt8] {
        var writer = BinaryWriter(capacity: 4)
        writer.write(number)
        return writer.bytes
    }

    static func outcomeKey(_ id: RecommendationID, sequence: UInt64) -> [UInt8] {
        impressionKey(id) + UInt64Codec.withBytes(of: sequence) { Array($0) }
    }

    /// The bandit's counters of one variant.
    enum Counter: UInt8 {
        case impressions = 0
        case conversions = 1
    }

    static func counterKey(_ experiment: UInt32, variant: Int, _ counter: Counter) -> [UInt8] {
        var writer = BinaryWriter(capacity: 6)
        writer.write(experiment)
        writer.write(UInt8(variant))
        writer.write(counter.rawValue)
        return writer.bytes
    }
}

/// Which recommendation an answer was: the experiment's number and a random 64-bit number, written as 24 hex
/// digits (`0000000300a4c9e1f2b37d58`).
public struct RecommendationID: Sendable, Hashable, CustomStringConvertible {
    /// The experiment's number.
    public var experiment: UInt32
    /// The milliseconds since 1970 when it was made (high 44 bits) and a per-process sequence that starts at a random
    /// value (low 20 bits): unique in the experiment, and in time order, so recording an impression appends to its
    /// table instead of writing into a random page.
    public var number: UInt64

    /// The low bits of ``fresh(in:)``'s numbers.
    private static let sequence = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max))

    /// A fresh id in `experiment`, later than every id this process made before in the same millisecond.
    public static func fresh(in experiment: UInt32, now: Timestamp = .now) -> RecommendationID {
        let low = sequence.add(1, ordering: .relaxed).newValue & 0xF_FFFF
        return RecommendationID(experiment: experiment, number: UInt64(max(now.milliseconds, 0)) << 20 | low)
    }

    init(experiment: UInt32, number: UInt64) {
        self.experiment = experiment
        self.number = number
    }

    /// Parses the 24 hex digits of ``description``; nil for anything else.
    public init?(_ text: String) {
        guard text.utf8.count == 24, let experiment = UInt32(text.prefix(8), radix: 16),
            let number = UInt64(text.dropFirst(8), radix: 16)
        else { return nil }
        self.init(experiment: experiment, number: number)
    }

    /// 24 lowercase hex digits.
    public var description: String {
        // Written digit by digit: every answer of an experiment carries one, and the padded `String(_:radix:)`
        // concatenation was ~1 % of recd's CPU per IN EXPERIMENT request.
        String(unsafeUninitializedCapacity: 24) { out in
            func hex(_ nibble: UInt64) -> UInt8 { UInt8(nibble < 10 ? 48 + nibble : 87 + nibble) }
            for i in 0..<8 { out[i] = hex(UInt64(experiment >> (28 - 4 * UInt32(i))) & 0xF) }
            for i in 0..<16 { out[8 + i] = hex((number >> (60 - 4 * UInt64(i))) & 0xF) }
            return 24
        }
    }
}

// MARK: - Reading

extension CatalogReading where Self: ~Copyable {
    var experimentSchema: ExperimentSchema? { database.experimentSchema }

    /// The experiment named `name`, as of this snapshot; nil when there is none.
    public func experiment(_ name: String) throws -> Experiment? {
        try CatalogLimits.check(name, .modelName)
        guard let schema = experimentSchema, let raw = try schema.experiments.get(name, in: txn) else { return nil }
        return try database.experimentCache.decode(raw)
    }

    /// Every experiment, by name.
    public func experiments() throws -> [Experiment] {
        guard let schema = experimentSchema else { return [] }
        var all: [Experiment] = []
        try schema.experiments.scanRaw(in: txn) { _, value in
            all.append(try JSONDecoder().decode(Experiment.self, from: Data(value)))
            return .next
        }
        return all
    }

    /// The impression `id` names; nil when none was recorded.
    func impression(_ id: RecommendationID) throws -> Impression? {
        guard let schema = experimentSchema else { return nil }
        return try schema.impressions.withValue(ExperimentSchema.impressionKey(id), in: txn) { raw in
            try Impression(id: id, bytes: raw)
        }
    }

    /// The bandit's counter of one variant (0 when never counted).
    func experimentCounter(_ experiment: UInt32, variant: Int, _ counter: ExperimentSchema.Counter) throws -> UInt64 {
        guard let schema = experimentSchema else { return 0 }
        return try schema.counters.get(ExperimentSchema.counterKey(experiment, variant: variant, counter), in: txn) ?? 0
    }
}

// MARK: - Writing

extension CatalogWriter {
    private var writableExperiments: ExperimentSchema {
        get throws {
            guard let schema = experimentSchema else {
                throw RecDBError(.readOnly, "this database predates experiments; open it writable once to add them")
            }
            return schema
        }
    }

    /// Stores a new experiment; `alreadyExists` when one has its name.
    mutating func createExperiment(
        _ name: String, variants: [Experiment.Variant], allocation: Experiment.Allocation, windowSeconds: Int
    ) throws -> Experiment {
        try CatalogLimits.check(name, .modelName)
        try Experiment.validate(variants: variants)
        for variant in variants { _ = try ModelExpression.parse(variant.using) }
        guard try experiment(name) == nil else {
            throw RecDBError(.alreadyExists, "experiment '\(name)' exists; ALTER or STOP it, or choose another name")
        }
        let number = try experiments().map(\.number).max().map { $0 + 1 } ?? 1
        let now = Timestamp.now.description
        let created = Experiment(
            name: name, number: number, variants: variants, allocation: allocation, state: .running,
            attributionWindowSeconds: windowSeconds, createdAt: now, changedAt: now)
        try store(created)
        return created
    }

    /// Changes a stored experiment (its split, allocation or state); `notFound` when there is none.
    mutating func changeExperiment(_ name: String, _ change: (inout Experiment) throws -> Void) throws -> Experiment {
        guard var stored = try experiment(name) else { throw RecDBError(.notFound, "unknown experiment '\(name)'") }
        try change(&stored)
        try Experiment.validate(variants: stored.variants)
        stored.changedAt = Timestamp.now.description
        try store(stored)
        return stored
    }

    private mutating func store(_ experiment: Experiment) throws {
        var txn = WriteTransaction(continuing: handle)
        try writableExperiments.experiments.put(experiment.name, Array(try JSONEncoder().encode(experiment)), in: &txn)
    }

    /// Records what a recommendation showed, appends it to the impression log, and counts it for the bandit.
    mutating func record(_ impression: Impression) throws {
        try record([impression])
    }

    /// Records several impressions (a group commit's queue): each stored under its time-ordered id and appended to
    /// the impression log (both sequential writes), the bandit's counters moved once per variant rather than once
    /// per impression.
    mutating func record(_ impressions: [Impression]) throws {
        guard !impressions.isEmpty else { return }
        let schema = try writableExperiments
        var txn = WriteTransaction(continuing: handle)
        var shown: [[UInt8]: UInt64] = [:]
        for impression in impressions {
            try schema.impressions.put(ExperimentSchema.impressionKey(impression.id), impression.bytes, in: &txn)
            shown[ExperimentSchema.counterKey(impression.id.experiment, variant: Int(impression.variant), .impressions),
                default: 0] += 1
        }
        try appendToImpressionLog(impressions)
        for (key, count) in shown { try bumpCounter(key, by: count) }
    }

    private mutating func bumpCounter(_ experiment: UInt32, variant: Int, _ counter: ExperimentSchema.Counter) throws {
        try bumpCounter(ExperimentSchema.counterKey(experiment, variant: variant, counter), by: 1)
    }

    private mutating func bumpCounter(_ key: [UInt8], by count: UInt64) throws {
        let schema = try writableExperiments
        var txn = WriteTransaction(continuing: handle)
        try schema.counters.put(key, (try schema.counters.get(key, in: txn) ?? 0) + count, in: &txn)
    }

    /// Credits event `sequence` to the recommendation it names, or else, in each running experiment, to the newest
    /// impression of its user (or session) that showed its item within the attribution window. Returns the ids
    /// credited.
    @discardableResult
    mutating func attribute(_ event: EventQuery, sequence: UInt64, time: Timestamp) throws -> [RecommendationID] {
        guard let schema = experimentSchema else {
            if event.recommendation != nil { throw RecDBError(.notFound, "this database has no experiments") }
            return []
        }
        var credited: [Impression] = []
        if let named = event.recommendation {
            guard let id = RecommendationID(named) else {
                throw RecDBError(
                    .invalidArgument, "'\(named.excerpt(64))' is not a recommendation id (24 hex digits, as RECOMMEND … IN EXPERIMENT answers)")
            }
            guard let found = try self.impression(id) else {
                throw RecDBError(.notFound, "unknown recommendation '\(named)'")
            }
            credited = [found]
        } else {
            var units = ["u:" + event.user]
            if let session = event.session { units.append("s:" + session) }
            var newest: [UInt32: Impression] = [:]
            for (unit, candidates) in zip(units, try unitCandidates(units, before: time)) {
                for found in try latestImpressions(candidates, showing: event.item, before: time)
                where found.time > newest[found.id.experiment]?.time ?? .min {
                    newest[found.id.experiment] = found
                }
            }
            credited = newest.values.sorted { $0.id.experiment < $1.id.experiment }
        }
        var ids: [RecommendationID] = []
        for impression in credited {
            guard let owner = try experiment(impression.experiment), owner.state == .running else { continue }
            var txn = WriteTransaction(continuing: handle)
            let rank = impression.items.firstIndex(of: event.item).map { $0 + 1 } ?? 0
            let outcome = ImpressionOutcome(type: event.type, item: event.item, value: event.value, rank: rank)
            if event.type == ImpressionOutcome.conversionType, try !hasConversion(impression.id, in: schema) {
                try bumpCounter(impression.id.experiment, variant: Int(impression.variant), .conversions)
            }
            try schema.outcomes.put(
                ExperimentSchema.outcomeKey(impression.id, sequence: sequence), outcome.bytes, in: &txn)
            ids.append(impression.id)
        }
        return ids
    }

    private func hasConversion(_ id: RecommendationID, in schema: ExperimentSchema) throws -> Bool {
        var found = false
        try schema.outcomes.scanRaw(in: txn, prefix: ExperimentSchema.impressionKey(id)) { _, value in
            found = try ImpressionOutcome(bytes: value).type == ImpressionOutcome.conversionType
            return found ? .stop : .next
        }
        return found
    }

    /// How many of a unit's most recent impressions an event looks through for its item.
    static let attributionScanLimit = 64

    /// Each unit's newest ``attributionScanLimit`` impressions at or before `time`, newest first, from the unit
    /// index in memory (``UnitImpressionIndex``) and this transaction's own impressions.
    private func unitCandidates(_ units: [String], before time: Timestamp) throws -> [[RecommendationID]] {
        var window: Int64 = 0
        try experimentSchema?.experiments.scanRaw(in: txn) { _, raw in
            let experiment = try database.experimentCache.decode(Array(raw))
            window = max(window, Int64(experiment.attributionWindowSeconds) * 1000)
            return .next
        }
        let committed = try impressionLogBase ?? lastImpressionLogPosition()
        let found = try database.unitImpressions.latest(
            Self.attributionScanLimit, of: units, atOrBefore: time.milliseconds, window: window, committed: committed,
            own: loggedImpressions, now: Timestamp.now.milliseconds
        ) { from, through, body in try scanImpressionLog(from: from, through: through, body) }
        return found.map { $0.map(\.id) }
    }

    /// The newest impression per experiment among `candidates` (a unit's, newest first) that showed `item` within its
    /// experiment's window.
    private func latestImpressions(
        _ candidates: [RecommendationID], showing item: String, before time: Timestamp
    ) throws -> [Impression] {
        var windows: [UInt32: Int64] = [:]
        var found: [UInt32: Impression] = [:]
        for id in candidates where found[id.experiment] == nil {
            guard let impression = try impression(id) else { continue }
            if windows[id.experiment] == nil {
                windows[id.experiment] = Int64(try experiment(impression.experiment)?.attributionWindowSeconds ?? 0) * 1000
            }
            guard impression.time >= time.milliseconds - windows[id.experiment]! else { continue }
            if impression.items.contains(item) { found[id.experiment] = impression }
        }
        return Array(found.values)
    }
}
