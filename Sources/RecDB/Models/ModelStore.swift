import Foundation

/// A trained model as stored: what it is, its active generation and where that generation's data lives.
public struct ModelRecord: Sendable, Codable {
    /// The model's name (`als`, `bpr`, `itemknn`, `popularity`).
    public var name: String
    public var kind: String
    /// Parameters as given, for `recctl models`.
    public var parameters: [String: Double]
    /// The active generation; 0 before the first refresh.
    public var generation: UInt32
    /// For factor models: the embedding space holding this generation's user and item vectors.
    public var space: String?
    public var trainedAt: String
    public var trainingSeconds: Double
    /// Events in the snapshot it trained on.
    public var events: Int
    /// The sequence number of the newest event in that snapshot: a user with later events is folded in at query time.
    public var lastEventSequence: UInt64?
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
    public var record: ModelRecord
    public var seconds: Double
}

extension ModelSpec {
    var kind: String { name }

    /// The parameters as `name=value` words, for people.
    public var parameterDescription: String {
        parameterTable.sorted { $0.key < $1.key }.map { "\($0.key)=\(AttributeValue.number($0.value))" }
            .joined(separator: " ")
    }

    var parameterTable: [String: Double] {
        /// Floats as people wrote them (0.01, not 0.009999999776482582).
        func d(_ value: Float) -> Double { Double(value.description) ?? Double(value) }
        return switch self {
        case .popularity(let halfLife): ["half_life_days": halfLife]
        case .itemKNN(let neighbours, let similarity):
            ["neighbours": Double(neighbours), "conditional": similarity == .conditionalProbability ? 1 : 0]
        case .als(let p):
            [
                "factors": Double(p.factors), "iterations": Double(p.iterations), "regularization": d(p.regularization),
                "alpha": d(p.alpha), "cg_steps": Double(p.conjugateGradientSteps), "seed": Double(p.seed),
            ]
        case .bpr(let p):
            [
                "factors": Double(p.factors), "iterations": Double(p.iterations), "learning_rate": d(p.learningRate),
                "regularization": d(p.regularization), "seed": Double(p.seed),
            ]
        case .content(let p):
            [
                "dimensions": Double(p.dimensions), "min_document_frequency": Double(p.minDocumentFrequency),
                "stemming": p.stemming ? 1 : 0, "power_iterations": Double(p.powerIterations),
            ]
        case .session(let p):
            [
                "neighbours": Double(p.neighbours), "sample_size": Double(p.sampleSize), "rule_weight": d(p.ruleWeight),
                "rule_steps": Double(p.ruleSteps),
            ]
        case .transition, .text: [:]
        case .blend(_, let weights): Dictionary(uniqueKeysWithValues: weights.enumerated().map { ("weight\($0.offset)", d($0.element)) })
        case .chain: [:]
        }
    }
}

extension ModelSpec {
    /// The spec a stored model was trained with (its kind and recorded parameters), so that evaluating a stored
    /// model evaluates that model, not the defaults. Nil for kinds that are not stored.
    public init?(record: ModelRecord) {
        let p = record.parameters
        func int(_ key: String, _ fallback: Int) -> Int { p[key].map { Int($0) } ?? fallback }
        func float(_ key: String, _ fallback: Float) -> Float { p[key].map { Float($0) } ?? fallback }
        switch record.kind {
        case "popularity": self = .popularity(halfLifeDays: p["half_life_days"] ?? 30)
        case "itemknn":
            self = .itemKNN(neighbours: int("neighbours", 100), similarity: p["conditional"] == 1 ? .conditionalProbability : .cosine)
        case "als":
            var a = ALSModel.Parameters()
            a.factors = int("factors", a.factors)
            a.iterations = int("iterations", a.iterations)
            a.regularization = float("regularization", a.regularization)
            a.alpha = float("alpha", a.alpha)
            a.conjugateGradientSteps = int("cg_steps", a.conjugateGradientSteps)
            a.seed = UInt64(int("seed", Int(a.seed)))
            self = .als(a)
        case "bpr":
            var b = BPRModel.Parameters()
            b.factors = int("factors", b.factors)
            b.iterations = int("iterations", b.iterations)
            b.learningRate = float("learning_rate", b.learningRate)
            b.regularization = float("regularization", b.regularization)
            b.seed = UInt64(int("seed", Int(b.seed)))
            self = .bpr(b)
        case "content":
            var c = ContentModel.Parameters()
            c.dimensions = int("dimensions", c.dimensions)
            c.minDocumentFrequency = int("min_document_frequency", c.minDocumentFrequency)
            c.stemming = p["stemming"].map { $0 != 0 } ?? c.stemming
            c.powerIterations = int("power_iterations", c.powerIterations)
            self = .content(c)
        case "session":
            var s = SessionKNNModel.Parameters()
            s.neighbours = int("neighbours", s.neighbours)
            s.sampleSize = int("sample_size", s.sampleSize)
            s.ruleWeight = float("rule_weight", s.ruleWeight)
            s.ruleSteps = int("rule_steps", s.ruleSteps)
            self = .session(s)
        case "transition": self = .transition
        case "text": self = .text
        default: return nil
        }
    }
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

    static func dataKey(_ model: String, _ generation: UInt32, part: UInt8, index: UInt32) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(model)
        writer.write(generation)
        writer.write(part)
        writer.write(index)
        return writer.bytes
    }

    static func spaceName(_ model: String, _ generation: UInt32) -> String { "\(model)@\(generation)" }

    // Parts of a generation's model data.
    static let popularityPart: UInt8 = 1
    /// Item-kNN neighbour lists in the sequential layout of older versions (read, no longer written).
    static let neighboursPart: UInt8 = 2
    static let vocabularyPart: UInt8 = 3
    static let basisPart: UInt8 = 4
    static let gramPart: UInt8 = 5
    static let sessionsPart: UInt8 = 6
    /// Item-kNN neighbour lists with an offset table per value (``NeighbourLists``).
    static let neighbourTablePart: UInt8 = 7

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
            var txn = WriteTransaction(handle: w.handle)
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
