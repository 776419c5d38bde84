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
    /// Item-kNN's candidates: each neighbour of the target's recent items scored by the sum of its similarities to
    /// them, its source the item it is most similar to; the `pool` best live ones, best first (ties by lower id).
    func neighbourCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard pool > 0 else { return [] }
        let lists = try neighbourListSource(record)
        typealias Score = (score: Float, source: UInt32, best: Float)
        let sources = sourceItems(resolved)
        var scores: [UInt32: Score] = [:]
        scores.reserveCapacity(min(sources.count * lists.capacity, 1 << 16))
        func add(_ similarity: Float, from source: UInt32, to entry: inout Score) {
            entry.score += similarity
            if similarity > entry.best { entry.source = source; entry.best = similarity }
        }
        for source in sources {
            try forEachNeighbour(of: source, in: lists) { item, similarity in
                guard resolved.accepts(item) else { return }
                add(similarity, from: source, to: &scores[item, default: (0, source, 0)])
            }
        }
        func candidate(_ item: UInt32, _ entry: Score) -> Candidate {
            Candidate(
                item: item, score: entry.score, model: record.name, reason: resolved.sourceReason,
                sources: [entry.source])
        }
        // The `pool` best by (score, lower id) through a heap, so only they become candidates (a user's lists hold
        // thousands of neighbours); when one of them was deleted, the whole ranking decides, as before.
        var heap = NeighborHeap(capacity: pool + 1, isMax: true)
        defer { heap.deallocate() }
        for (item, entry) in scores {
            let neighbour = Neighbor(distance: -entry.score, node: item)
            if heap.count < pool {
                heap.push(neighbour)
            } else if neighbour < heap.top {
                heap.pop()
                heap.push(neighbour)
            }
        }
        let best = heap.elements.sorted()
        if try best.allSatisfy({ try schema.items.contains($0.node, in: txn) }) {
            return best.map { candidate($0.node, scores[$0.node]!) }
        }
        return try bestLive(scores.map { candidate($0.key, $0.value) }, pool: pool)
    }
}
