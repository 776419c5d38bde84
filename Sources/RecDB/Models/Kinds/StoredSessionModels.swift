import Foundation

/// Session kNN with sequential rules as a stored kind: the training sessions (part ``ModelPart/sessions``), from
/// which serving rebuilds the model once per generation and continues the request's visit.
struct StoredSessionKNN: StoredModel {
    var parameters = SessionKNNModel.Parameters()

    static var kind: ModelKind { .session }
    static var aliases: [String] { ["sknn", "vsknn"] }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("neighbours", \.parameters.neighbours), .count("sample_size", \.parameters.sampleSize),
            .float("rule_weight", \.parameters.ruleWeight), .count("rule_steps", \.parameters.ruleSteps),
        ]
    }

    init() {}
    init(_ parameters: SessionKNNModel.Parameters) { self.parameters = parameters }

    var tuningGrid: [Self] {
        [50, 100, 200].flatMap { neighbours in
            [Float(0), 0.5, 1, 2].map { ruleWeight in
                var p = parameters
                p.neighbours = neighbours
                p.ruleWeight = ruleWeight
                return Self(p)
            }
        }
    }

    func train(_ input: TrainingInput) -> any Recommender {
        SessionKNNModel(sessions: SessionLog(input.log, gap: input.sessionGap), parameters: parameters)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let session = trained as? SessionKNNModel else { return }
        try generation.writeSessions(session.log)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 40
        case .session: 10
        case .items: 20
        case .similarTo, .usersForItem, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.sessionCandidates(record, resolved, pool: pool) { sessions in
            // Counts become array sizes and loop bounds: a damaged record is `corrupted`, never a crash.
            var parameters = SessionKNNModel.Parameters()
            let counts = 0...Int(Int32.max)
            parameters.neighbours = try record.count("neighbours", in: counts, default: parameters.neighbours)
            parameters.sampleSize = try record.count("sample_size", in: counts, default: parameters.sampleSize)
            if let v = record.parameters["rule_weight"] { parameters.ruleWeight = Float(v) }
            parameters.ruleSteps = try record.count("rule_steps", in: 0...1024, default: parameters.ruleSteps)
            return SessionKNNModel(name: record.name, sessions: sessions, parameters: parameters)
        }
    }
}

/// The plain item-transition baseline as a stored kind: its training sessions, as the session model's.
struct StoredTransition: StoredModel {
    static var kind: ModelKind { .transition }
    static var aliases: [String] { ["transitions"] }

    init() {}

    func train(_ input: TrainingInput) -> any Recommender {
        TransitionModel(sessions: SessionLog(input.log, gap: input.sessionGap))
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let transition = trained as? TransitionModel else { return }
        try generation.writeSessions(transition.log)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        if case .session = target { return 20 }
        return nil
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.sessionCandidates(record, resolved, pool: pool) { TransitionModel(name: record.name, sessions: $0) }
    }
}

extension ModelSpec {
    /// Next item in a visit: session kNN with sequential rules.
    public static func session(_ parameters: SessionKNNModel.Parameters) -> ModelSpec {
        ModelSpec(StoredSessionKNN(parameters))
    }
    /// The plain item-transition baseline for sessions.
    public static var transition: ModelSpec { ModelSpec(StoredTransition()) }
}

extension CatalogReading where Self: ~Copyable {
    /// Candidates of a next-item model: the items that follow the visit (``visit(_:)``), by the generation's model
    /// that `load` rebuilds from its stored sessions (once per generation).
    func sessionCandidates(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int,
        load: (SessionLog) throws -> any NextItemModel
    ) throws -> [Candidate] {
        let visit = visit(resolved)
        guard !visit.isEmpty else { return [] }
        let model = try sessionModel(record, load)
        let limit = max(resolved.itemLimit, 1)
        var scores = [Float](repeating: 0, count: limit)
        let neighbours = scores.withUnsafeMutableBufferPointer { model.scoreNext(after: visit, into: $0) }
        var ranked: [Candidate] = []
        for (index, score) in scores.enumerated() where score > 0 && resolved.accepts(UInt32(index)) {
            ranked.append(
                Candidate(
                    item: UInt32(index), score: score, model: record.name, reason: .session, sources: [visit.last!],
                    neighbours: neighbours.count))
        }
        return try bestLive(ranked, pool: pool)
    }
}
