import Foundation

extension ModelKind {
    /// EASE, the closed-form item-to-item autoencoder (``EASEModel``).
    public static let ease: ModelKind = "ease"
}

/// EASE as a stored kind: each item's largest weights of `B` in item-kNN's neighbour-list layout (part
/// ``ModelPart/neighbourTable``), served like item-kNN by summing the lists of the request's source items.
struct StoredEASE: StoredModel {
    var parameters = EASEModel.Parameters()

    static var kind: ModelKind { .ease }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [.float("lambda", \.parameters.lambda), .count("neighbours", \.parameters.neighbours)]
    }

    init() {}
    init(_ parameters: EASEModel.Parameters) { self.parameters = parameters }

    /// λ over two decades; each setting costs one factorisation.
    var tuningGrid: [Self] {
        [Float(10), 25, 50, 100, 250, 500, 1000].map { lambda in
            var p = parameters
            p.lambda = lambda
            return Self(p)
        }
    }

    func validateParameters() throws { try parameters.validate() }

    func checkFits(_ log: InteractionLog) throws { try EASEModel.checkFits(log) }

    func train(_ input: TrainingInput) -> any Recommender {
        EASEModel(log: input.log, parameters: parameters, threads: input.threads, progress: input.progress)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let ease = trained as? EASEModel else { return }
        try generation.writeNeighbourLists(ease.lists)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 20
        case .session: 35
        case .items: 20
        case .similarTo, .usersForItem, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.neighbourCandidates(record, resolved, pool: pool)
    }
}

extension ModelSpec {
    /// EASE with these parameters.
    public static func ease(_ parameters: EASEModel.Parameters) -> ModelSpec { ModelSpec(StoredEASE(parameters)) }
}
