import Foundation

/// ALS as a stored kind: user and item factors in an inner-product space `NAME@g` (items indexed), and `YᵀY` for
/// folding in users with newer events (part ``ModelPart/foldInGram``).
struct StoredALS: StoredModel {
    var parameters = ALSModel.Parameters()

    static var kind: ModelKind { .als }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("factors", \.parameters.factors), .count("iterations", \.parameters.iterations),
            .float("regularization", \.parameters.regularization), .float("alpha", \.parameters.alpha),
            .count("cg_steps", \.parameters.conjugateGradientSteps), .seed("seed", \.parameters.seed),
        ]
    }

    init() {}
    init(_ parameters: ALSModel.Parameters) { self.parameters = parameters }

    var tuningGrid: [Self] {
        var grid: [Self] = []
        for factors in [32, 64, 128] {
            for regularization: Float in [0.01, 0.1, 1, 10] {
                for alpha: Float in [1, 5, 20] {
                    var p = parameters
                    p.factors = factors
                    p.regularization = regularization
                    p.alpha = alpha
                    grid.append(Self(p))
                }
            }
        }
        return grid
    }

    func train(_ input: TrainingInput) -> any Recommender {
        ALSModel(log: input.log, parameters: parameters, threads: input.threads, progress: input.progress)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let als = trained as? ALSModel else { return }
        let f = als.parameters.factors
        try generation.writeFactors(users: als.userFactors, items: als.itemFactors, dimension: f, solved: f)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user, .usersForItem: 10
        case .items: 50
        case .similarTo: 40
        case .session, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.factorCandidates(record, resolved, pool: pool, biasColumn: false)
    }
}

/// BPR as a stored kind: as ALS, with rows of `factors + 1` whose last item column is the bias (users hold 1 there).
struct StoredBPR: StoredModel {
    var parameters = BPRModel.Parameters()

    static var kind: ModelKind { .bpr }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("factors", \.parameters.factors), .count("iterations", \.parameters.iterations),
            .float("learning_rate", \.parameters.learningRate), .float("regularization", \.parameters.regularization),
            .seed("seed", \.parameters.seed), .float("ignored_negatives", \.parameters.ignoredNegatives),
        ]
    }

    init() {}
    init(_ parameters: BPRModel.Parameters) { self.parameters = parameters }

    var tuningGrid: [Self] {
        var grid: [Self] = []
        for rate: Float in [0.01, 0.05] {
            for factors in [64, 128] {
                for iterations in [100, 300] {
                    var p = parameters
                    p.learningRate = rate
                    p.factors = factors
                    p.iterations = iterations
                    grid.append(Self(p))
                }
            }
        }
        return grid
    }

    func train(_ input: TrainingInput) -> any Recommender {
        BPRModel(log: input.log, parameters: parameters, threads: input.threads, progress: input.progress)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let bpr = trained as? BPRModel else { return }
        let f = bpr.parameters.factors
        try generation.writeFactors(users: bpr.userFactors, items: bpr.itemFactors, dimension: f + 1, solved: f)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user, .usersForItem: 20
        case .similarTo: 50
        case .session, .items, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.factorCandidates(record, resolved, pool: pool, biasColumn: true)
    }
}

extension ModelSpec {
    /// Implicit ALS with these parameters.
    public static func als(_ parameters: ALSModel.Parameters) -> ModelSpec { ModelSpec(StoredALS(parameters)) }
    /// BPR with these parameters.
    public static func bpr(_ parameters: BPRModel.Parameters) -> ModelSpec { ModelSpec(StoredBPR(parameters)) }
}

// MARK: - Serving factor models

extension CatalogReading where Self: ~Copyable {
    /// Candidates of a factor model: the items (or, for an audience, the users) nearest the target's vector — the
    /// user's, the item's, or one folded in from a visit or basket. `biasColumn` marks BPR's layout.
    func factorCandidates(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, biasColumn: Bool
    ) throws -> [Candidate] {
        guard let spaceName = record.space, let space = try space(spaceName) else { return [] }
        let query: [Float]?
        switch resolved.request.target {
        case .similarTo, .usersForItem:
            query = try storedVector(space, .items, resolved.sourceItems[0])
        case .user:
            query = try userVector(record, space, resolved, biasColumn: biasColumn)
        case .session, .items:
            query = try foldIn(record, space, resolved.sourceItems.map { ($0, Float(1)) }, biasColumn: biasColumn)
        case .matching:
            query = nil
        }
        guard var query else { return [] }
        if resolved.returnsUsers, biasColumn { query[query.count - 1] = 0 }
        let matches = try searchSpace(spaceName, query, resolved, pool: pool, kind: resolved.returnsUsers ? .users : .items)
        let reason: Provenance.Reason = resolved.returnsUsers ? .audience : resolved.sourceReason
        return matches.prefix(pool).map { Candidate(item: $0.node, score: $0.score, model: record.name, reason: reason) }
    }

    /// The user's vector: stored by the last refresh, or folded in from the current history when the user has
    /// events since (or none was stored).
    func userVector(
        _ record: ModelRecord, _ space: EmbeddingSpace, _ resolved: ResolvedRequest, biasColumn: Bool
    ) throws -> [Float]? {
        guard let user = resolved.userID else { return nil }
        let newest = resolved.history.first?.sequence ?? 0
        if let trainedThrough = record.lastEventSequence, newest <= trainedThrough,
            let stored = try storedVector(space, .users, user)
        {
            return stored
        }
        guard !resolved.history.isEmpty else { return nil }
        var weights: [UInt32: Float] = [:]
        for entry in resolved.history {
            weights[entry.itemID, default: 0] += try eventWeight(sequence: entry.sequence)
        }
        return try foldIn(record, space, weights.map { ($0.key, $0.value) }, biasColumn: biasColumn)
    }

    func eventWeight(sequence: UInt64) throws -> Float {
        guard let record = try schema.events.withValue(sequence, in: txn, { try EventRecord($0) }),
            let type = try eventTypes.type(code: record.typeCode)
        else { return 1 }
        return Float(type.weight(forValue: record.value))
    }

    /// Solves a user vector for the given items and weights against the model's item factors; with `biasColumn`
    /// (BPR) the last column is the item bias, not solved, and every event counts once.
    func foldIn(
        _ record: ModelRecord, _ space: EmbeddingSpace, _ items: [(UInt32, Float)], biasColumn: Bool
    ) throws -> [Float]? {
        let gram = try foldInGram(record)
        let dimension = space.dimension
        let solved = biasColumn ? dimension - 1 : dimension
        var history: [(vector: [Float], weight: Float)] = []
        for (item, weight) in items {
            if let vector = try storedVector(space, .items, item) { history.append((vector, weight)) }
        }
        let alpha = Float(record.parameters["alpha"] ?? 1), regularization = Float(record.parameters["regularization"] ?? 0.01)
        return FoldIn.solve(
            history: history, gram: gram, dimension: dimension, solved: solved,
            regularization: max(regularization, 1e-3), alpha: biasColumn ? 1 : alpha)
    }
}
