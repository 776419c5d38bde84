import Foundation

/// Item-kNN as a stored kind: each item's neighbour lists (part ``ModelPart/neighbourTable``), summed over the
/// source items of the request.
struct StoredItemKNN: StoredModel {
    var neighbours = 100
    var similarity = ItemKNNModel.Similarity.cosine

    static var kind: ModelKind { .itemKNN }
    static var aliases: [String] { ["item-knn", "knn"] }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("neighbours", \.neighbours),
            ModelParameter(
                name: "conditional", read: { $0.similarity == .conditionalProbability ? 1 : 0 },
                assign: { $0.similarity = $1 == 1 ? .conditionalProbability : .cosine }),
        ]
    }

    init() {}
    init(neighbours: Int, similarity: ItemKNNModel.Similarity) {
        self.neighbours = neighbours
        self.similarity = similarity
    }

    var tuningGrid: [Self] {
        [20, 50, 100, 200].flatMap { n in
            [ItemKNNModel.Similarity.cosine, .conditionalProbability].map { Self(neighbours: n, similarity: $0) }
        }
    }

    func train(_ input: TrainingInput) -> any Recommender {
        ItemKNNModel(log: input.log, neighbours: neighbours, similarity: similarity, threads: input.threads)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let knn = trained as? ItemKNNModel else { return }
        try generation.writeNeighbourLists(knn.lists)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 30
        case .session: 30
        case .items, .similarTo: 10
        case .usersForItem, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.neighbourCandidates(record, resolved, pool: pool)
    }
}

extension ModelSpec {
    /// Item-kNN keeping `neighbours` per item.
    public static func itemKNN(neighbours: Int, similarity: ItemKNNModel.Similarity = .cosine) -> ModelSpec {
        ModelSpec(StoredItemKNN(neighbours: neighbours, similarity: similarity))
    }
}

extension CatalogReading where Self: ~Copyable {
    func neighbourCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        let lists = try neighbourListSource(record)
        var scores: [UInt32: (score: Float, source: UInt32, best: Float)] = [:]
        for source in sourceItems(resolved) {
            try forEachNeighbour(of: source, in: lists) { item, similarity in
                guard resolved.accepts(item) else { return }
                var entry = scores[item] ?? (0, source, 0)
                entry.score += similarity
                if similarity > entry.best { entry.source = source; entry.best = similarity }
                scores[item] = entry
            }
        }
        let ranked = scores.map {
            Candidate(item: $0.key, score: $0.value.score, model: record.name, reason: resolved.sourceReason, sources: [$0.value.source])
        }
        return try bestLive(ranked, pool: pool)
    }
}
