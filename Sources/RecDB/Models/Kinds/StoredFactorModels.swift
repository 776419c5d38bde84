import Foundation

/// ALS as a stored kind: user and item factors in an inner-product space `NAME@g` (items indexed), and `YᵀY` for
/// folding in users with newer events (part ``ModelPart/foldInGram``).
struct StoredALS: StoredModel {
    var parameters = ALSModel.Parameters()
    /// GAN-synthesised interactions for sparse users (off by default).
    var augmentation = CFGANAugmentation()

    static var kind: ModelKind { .als }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("factors", \.parameters.factors), .count("iterations", \.parameters.iterations),
            .float("regularization", \.parameters.regularization), .float("alpha", \.parameters.alpha),
            .count("cg_steps", \.parameters.conjugateGradientSteps), .seed("seed", \.parameters.seed),
        ] + CFGANAugmentation.storedParameters(\Self.augmentation)
    }

    init() {}
    init(_ parameters: ALSModel.Parameters, augmentation: CFGANAugmentation = CFGANAugmentation()) {
        self.parameters = parameters
        self.augmentation = augmentation
    }

    var tuningGrid: [Self] {
        var grid: [Self] = []
        for factors in [32, 64, 128] {
            for regularization: Float in [0.01, 0.1, 1, 10] {
                for alpha: Float in [1, 5, 20] {
                    var p = parameters
                    p.factors = factors
                    p.regularization = regularization
                    p.alpha = alpha
                    var setting = self
                    setting.parameters = p
                    grid.append(setting)
                }
            }
        }
        return grid
    }

    func validateParameters() throws { try augmentation.validate() }

    func train(_ input: TrainingInput) -> any Recommender {
        guard augmentation.isOn else {
            return ALSModel(log: input.log, parameters: parameters, threads: input.threads, progress: input.progress)
        }
        let (log, synthetic) = augmentation.augment(input.log)
        let als = ALSModel(log: log, parameters: parameters, threads: input.threads, progress: input.progress)
        return AugmentedRecommender(base: als, synthetic: synthetic)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        let (model, synthetic) = AugmentedRecommender.unwrap(trained)
        guard let als = model as? ALSModel else { return }
        let f = als.parameters.factors
        try generation.writeFactors(users: als.userFactors, items: als.itemFactors, dimension: f, solved: f)
        try generation.writeSynthetic(synthetic)
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
    /// GAN-synthesised interactions for sparse users (off by default).
    var augmentation = CFGANAugmentation()

    static var kind: ModelKind { .bpr }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("factors", \.parameters.factors), .count("iterations", \.parameters.iterations),
            .float("learning_rate", \.parameters.learningRate), .float("regularization", \.parameters.regularization),
            .seed("seed", \.parameters.seed), .flag("uniform_negatives", \.parameters.uniformNegatives),
            .float("ignored_negatives", \.parameters.ignoredNegatives),
        ] + CFGANAugmentation.storedParameters(\Self.augmentation)
    }

    init() {}
    init(_ parameters: BPRModel.Parameters, augmentation: CFGANAugmentation = CFGANAugmentation()) {
        self.parameters = parameters
        self.augmentation = augmentation
    }

    /// Cheapest first (so a `--budget` cuts the longest runs): epochs 100, 300, 1,000 × factors 64, 128 × learning
    /// rate 0.01, 0.05 × λ 0.01, 0.001, then uniform negatives at two of those. Sparse shops (a few items per user,
    /// as Amazon Sports) need the long runs; dense ones (ml-100k) overfit with them.
    var tuningGrid: [Self] {
        var grid: [Self] = []
        func add(_ iterations: Int, _ factors: Int, _ rate: Float, _ regularization: Float, uniform: Bool = false) {
            var setting = self
            setting.parameters.iterations = iterations
            setting.parameters.factors = factors
            setting.parameters.learningRate = rate
            setting.parameters.regularization = regularization
            setting.parameters.uniformNegatives = uniform
            grid.append(setting)
        }
        for iterations in [100, 300, 1000] {
            for factors in [64, 128] {
                for rate: Float in [0.01, 0.05] {
                    for regularization: Float in [0.01, 0.001] { add(iterations, factors, rate, regularization) }
                }
            }
        }
        add(100, 64, 0.01, 0.01, uniform: true)
        add(300, 128, 0.05, 0.01, uniform: true)
        return grid
    }

    func validateParameters() throws { try augmentation.validate() }

    func train(_ input: TrainingInput) -> any Recommender {
        guard augmentation.isOn else {
            return BPRModel(log: input.log, parameters: parameters, threads: input.threads, progress: input.progress)
        }
        let (log, synthetic) = augmentation.augment(input.log)
        let bpr = BPRModel(
            log: log, parameters: parameters, threads: input.threads,
            syntheticPairs: Set(synthetic.map { UInt64($0.user) << 32 | UInt64($0.item) }),
            syntheticWeight: augmentation.weight, progress: input.progress)
        return AugmentedRecommender(base: bpr, synthetic: synthetic)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        let (model, synthetic) = AugmentedRecommender.unwrap(trained)
        guard let bpr = model as? BPRModel else { return }
        let f = bpr.parameters.factors
        try generation.writeFactors(users: bpr.userFactors, items: bpr.itemFactors, dimension: f + 1, solved: f)
        try generation.writeSynthetic(synthetic)
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
    /// Implicit ALS with these parameters, trained with GAN-synthesised interactions when `augmentation` is on.
    public static func als(_ parameters: ALSModel.Parameters, augmentation: CFGANAugmentation = CFGANAugmentation())
        -> ModelSpec
    { ModelSpec(StoredALS(parameters, augmentation: augmentation)) }
    /// BPR with these parameters, trained with GAN-synthesised interactions when `augmentation` is on.
    public static func bpr(_ parameters: BPRModel.Parameters, augmentation: CFGANAugmentation = CFGANAugmentation())
        -> ModelSpec
    { ModelSpec(StoredBPR(parameters, augmentation: augmentation)) }
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
    /// events since (or none was stored). In BPR's layout (`biasColumn`) a stored vector is kept even then: a
    /// least-squares solve against pairwise-ranking factors ranks far worse than the trained vector.
    func userVector(
        _ record: ModelRecord, _ space: EmbeddingSpace, _ resolved: ResolvedRequest, biasColumn: Bool
    ) throws -> [Float]? {
        guard let user = resolved.userID else { return nil }
        let newest = resolved.history.first?.sequence ?? 0
        let current = biasColumn || record.lastEventSequence.map { newest <= $0 } == true
        if current, let stored = try storedVector(space, .users, user) {
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
