import Foundation
import RecKernels

/// Time-decayed popularity: each interaction counts its weight × 2^(−age / half-life), age measured from the newest
/// interaction of the training data. Serves cold users and the end of every fallback chain.
public struct PopularityModel: Recommender {
    /// The model's name in reports (default `ModelKind.popularity.rawValue`).
    public let name: String
    /// Score per item id.
    public let scores: [Float]

    /// Sums decayed positive weights per item; `halfLifeDays` is the age in days after which an event's weight halves
    /// (default 30, floored at 0.001). Negative weights (returns) are ignored. O(interactions).
    public init(name: String = ModelKind.popularity.rawValue, log: InteractionLog, halfLifeDays: Double = 30) {
        self.name = name
        var scores = [Float](repeating: 0, count: log.itemLimit)
        let newest = log.times.max() ?? 0
        let halfLife = max(halfLifeDays, 1e-3) * 86_400_000
        for index in 0..<log.count where log.weights[index] > 0 {
            let age = Double(newest - log.times[index])
            scores[Int(log.items[index])] += log.weights[index] * Float(exp2(-age / halfLife))
        }
        self.scores = scores
    }

    /// Every item's popularity; items nobody met (score 0) are no candidates, as in serving.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<scores.count {
            scores[i] = i < self.scores.count && self.scores[i] > 0 ? self.scores[i] : -.infinity
        }
    }

    /// The most popular items among `candidates` (e.g. one category's postings), best first.
    public func top(_ k: Int, among candidates: [UInt32]) -> [(item: UInt32, score: Float)] {
        var scored: [(item: UInt32, score: Float)] = []
        scored.reserveCapacity(candidates.count)
        for item in candidates { scored.append((item, Int(item) < scores.count ? scores[Int(item)] : 0)) }
        scored.sort { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        return Array(scored.prefix(k))
    }
}

/// Item-based k-nearest neighbours: cosine similarity between items' interaction columns (binary or weighted),
/// the top `neighbours` kept per item. A user's score for an item sums its similarities to the items in the
/// user's history; "similar items" and "items for a basket" read the neighbour lists directly.
public struct ItemKNNModel: Recommender {
    /// How two items' similarity is measured from the users who interacted with them.
    public enum Similarity: String, Sendable, Hashable, Codable {
        /// co(i, j) / √(n_i · n_j) over binary (or weighted) columns.
        case cosine
        /// P(j | i) = co(i, j) / n_i: asymmetric, favours what follows a given item.
        case conditionalProbability = "conditional"
    }

    /// The model's name in reports (default `ModelKind.itemKNN.rawValue`).
    public let name: String
    /// Most similar items kept per item (default 100).
    public let neighbours: Int
    /// Per item: neighbour ids and similarities, most similar first.
    public let lists: [[(item: UInt32, similarity: Float)]]

    /// Builds the neighbour lists from `log` on `threads` workers (default 2). `binary` (default true) counts each
    /// user–item pair once; false uses the summed weights in the columns and norms. Blocks until done.
    public init(name: String = ModelKind.itemKNN.rawValue, log: InteractionLog, neighbours: Int = 100, binary: Bool = true,
                similarity: Similarity = .cosine, threads: Int = 2) {
        self.name = name
        self.neighbours = neighbours
        let byUser = InteractionMatrix(log)
        let byItem = InteractionMatrix(log, transpose: true)
        let itemCount = byItem.rows
        var norms = [Float](repeating: 0, count: itemCount)
        for i in 0..<itemCount {
            let values = byItem.row(i).values
            norms[i] = binary ? Float(values.count).squareRoot() : values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        }
        let itemNorms = norms
        let output = UnsafeMutableBufferPointer<[(item: UInt32, similarity: Float)]>.allocate(capacity: itemCount)
        output.initialize(repeating: [])
        defer { output.deallocate() }
        let workers = max(1, min(threads, itemCount))
        let shared = SharedPointer(output.baseAddress!)  // disjoint writes: item i only by worker i % workers
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let output = shared.base
            var accumulator = [Float](repeating: 0, count: itemCount)
            var touched: [Int] = []
            var i = worker
            while i < itemCount {
                defer { i += workers }
                let column = byItem.row(i)
                guard !column.indices.isEmpty else { continue }
                for (user, wi) in zip(column.indices, column.values) {
                    let row = byUser.row(Int(user))
                    for (j, wj) in zip(row.indices, row.values) where Int(j) != i {
                        if accumulator[Int(j)] == 0 { touched.append(Int(j)) }
                        accumulator[Int(j)] += binary ? 1 : wi * wj
                    }
                }
                var list: [(item: UInt32, similarity: Float)] = []
                list.reserveCapacity(touched.count)
                for j in touched {
                    let denominator = similarity == .cosine
                        ? itemNorms[i] * itemNorms[j] : itemNorms[i] * itemNorms[i]
                    if denominator > 0 { list.append((UInt32(j), accumulator[j] / denominator)) }
                    accumulator[j] = 0
                }
                touched.removeAll(keepingCapacity: true)
                list.sort { $0.similarity > $1.similarity || ($0.similarity == $1.similarity && $0.item < $1.item) }
                if list.count > neighbours { list.removeSubrange(neighbours...) }
                output[i] = list
            }
        }
        lists = Array(output)
    }

    /// A model from neighbour lists computed elsewhere (Spark, ``ImportedSimilarities``), indexed by internal item id.
    init(name: String, neighbours: Int, lists: [[(item: UInt32, similarity: Float)]]) {
        self.name = name
        self.neighbours = neighbours
        self.lists = lists
    }

    /// Sums the neighbour lists of the user's ``UserHistory/sourceLimit`` most recent distinct items, newest first,
    /// as serving does; items no list names are no candidates.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        for item in history.recentItems(limit: UserHistory.sourceLimit) where Int(item) < lists.count {
            for neighbour in lists[Int(item)] where Int(neighbour.item) < scores.count {
                scores[Int(neighbour.item)] += neighbour.similarity
            }
        }
        for i in 0..<scores.count where !(scores[i] > 0) { scores[i] = -.infinity }
    }
}
