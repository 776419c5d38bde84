import Foundation

/// A trained model as stored: what it is, its active generation and where that generation's data lives.
public struct ModelRecord: Sendable, Codable {
    /// The model's name (`als`, `bpr`, `itemknn`, `popularity`).
    public var name: String
    /// What the model is; records written before kinds were typed hold the same string.
    public var kind: ModelKind
    /// Parameters as given, for `recctl models`.
    public var parameters: [String: Double]
    /// The active generation; 0 before the first refresh.
    public var generation: UInt32
    /// For factor models: the embedding space holding this generation's user and item vectors.
    public var space: String?
    /// When the refresh that made this generation finished training: UTC, ISO 8601 with milliseconds (`…T…Z`).
    public var trainedAt: String
    /// Wall-clock seconds spent training this generation (reading the snapshot and writing the data not included).
    public var trainingSeconds: Double
    /// Events in the snapshot it trained on.
    public var events: Int
    /// The sequence number of the newest event in that snapshot: a user with later events is folded in at query time.
    public var lastEventSequence: UInt64?
    /// The latest result stored by `recordEvaluation(_:for:)`, carried over to later generations; nil if none.
    public var lastEvaluation: EvaluationResult?
}

extension ModelRecord {
    /// The record stored under `name` in `models`, decoded and checked: JSON that does not decode, a name or space
    /// that does not match the key and generation, or a parameter that is not a finite number of sane size is
    /// `corrupted` (parameters become `Int`s and counts, so a flipped exponent must not reach them).
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String? = nil) throws -> ModelRecord {
        let record: ModelRecord
        do {
            record = try JSONDecoder().decode(ModelRecord.self, from: Data(bytes))
        } catch {
            throw RecDBError(
                .corrupted, "model record\(name.map { " '\($0)'" } ?? "") is not a valid record: \(error)",
                cause: error)
        }
        func fail(_ problem: String) -> RecDBError {
            RecDBError(.corrupted, "model record '\(record.name)' generation \(record.generation): \(problem)")
        }
        if let name, record.name != name { throw fail("stored under the key '\(name)'") }
        if let space = record.space, record.generation != 0, space != ModelSchema.spaceName(record.name, record.generation) {
            throw fail("names the space '\(space)'")
        }
        for (key, value) in record.parameters where !(value.isFinite && abs(value) <= Self.parameterLimit) {
            throw fail("parameter \(key) is \(value)")
        }
        guard record.events >= 0, record.trainingSeconds.isFinite else { throw fail("has \(record.events) events") }
        return record
    }

    /// The largest magnitude a stored parameter may have (they are counts, rates and seeds; 2⁵³ keeps `Int` exact).
    static let parameterLimit = Double(1 << 53)

    /// A parameter as a count in `range` (neighbours, factors), or `fallback` when absent; `corrupted` outside.
    func count(_ key: String, in range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        guard let value = parameters[key] else { return fallback }
        guard value == value.rounded(), value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
            throw RecDBError(
                .corrupted, "model record '\(name)' generation \(generation): parameter \(key) is \(value), not in \(range)")
        }
        return Int(value)
    }
}

/// What a refresh did.
public struct RefreshReport: Sendable {
    /// The model's record after the switch to its new generation (`space` set when the model stores vectors).
    public var record: ModelRecord
    /// Wall-clock seconds of the whole refresh: reading the snapshot, training and writing the generation.
    public var seconds: Double
}

/// Databases of trained models.
struct ModelSchema: Sendable {
    /// model name → JSON ``ModelRecord``.
    let models: Database<StringCodec, BytesCodec>
    /// (model name, generation, part, index) → model data that is not an embedding space (scores, neighbour lists).
    let data: Database<BytesCodec, BytesCodec>

    init(environment env: Environment) throws {
        models = try env.database("models", key: StringCodec.self, value: BytesCodec.self)
        data = try env.database("model_data", key: BytesCodec.self, value: BytesCodec.self)
    }

    static func dataPrefix(_ model: String, _ generation: UInt32? = nil) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(model)
        if let generation { writer.write(generation) }
        return writer.bytes
    }

    static func dataKey(_ model: String, _ generation: UInt32, _ part: ModelPart, index: UInt32) -> [UInt8] {
        dataKey(model, generation, part: part.rawValue, index: index)
    }

    static func dataKey(_ model: String, _ generation: UInt32, part: UInt8, index: UInt32) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(model)
        writer.write(generation)
        writer.write(part)
        writer.write(index)
        return writer.bytes
    }

    static func spaceName(_ model: String, _ generation: UInt32) -> String { "\(model)@\(generation)" }

    // The raw bytes of some parts (``ModelPart`` names them all), for tests that damage stored values.
    static let popularityPart = ModelPart.popularityScores.rawValue
    static let neighboursPart = ModelPart.sequentialNeighbours.rawValue
    static let gramPart = ModelPart.foldInGram.rawValue
    static let sessionsPart = ModelPart.sessions.rawValue
    static let neighbourTablePart = ModelPart.neighbourTable.rawValue

    /// Floats per value of a float part (popularity, basis, Gram): the last value of a part holds the rest.
    static let floatsPerValue = 1 << 18
    /// Sessions per value of a session model.
    static let sessionsPerValue = 4096
}

extension RecDatabase {
    /// The stored models.
    public func models() throws -> [ModelRecord] {
        try read { r in
            var records: [ModelRecord] = []
            try modelSchema.models.scanRaw(in: r.txn) { key, value in
                records.append(try ModelRecord.decode(value, name: try StringCodec.decode(key)))
                return .next
            }
            return records
        }
    }

    /// A stored model by name, or nil.
    public func model(_ name: String) throws -> ModelRecord? {
        try read { r in try r.model(name) }
    }

    /// Stores an evaluation result on the model's record (shown by `recctl models`).
    public func recordEvaluation(_ result: EvaluationResult, for name: String) throws {
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            guard var record = try w.model(name) else { return }
            record.lastEvaluation = result
            try modelSchema.models.put(name, Array(try JSONEncoder().encode(record)), in: &txn)
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    var modelSchema: ModelSchema { database.modelSchema }

    /// A stored model by name, as of this snapshot.
    public func model(_ name: String) throws -> ModelRecord? {
        try CatalogLimits.check(name, .modelName)
        return try modelSchema.models.withValue(name, in: txn) { try database.modelCache.record(name, stored: $0) }
    }

    /// The `k` items the active generation of `model` ranks highest for `user`, leaving out items the user has met,
    /// optionally only in `category` (or below it): ``recommend(_:)`` with one model, strict (never filled), as scores.
    public func recommend(model name: String, user: String, k: Int, category: String? = nil) throws
        -> [(item: UInt32, score: Float)]
    {
        var request = RecommendRequest(
            .user(user), count: k, models: [ModelWeight(name)], filter: category.map { .category($0) })
        request.strict = true
        return try recommend(request).map { ($0.internalID, $0.score) }
    }
}
