import Foundation

/// Something that ranks items for a user: a trained model seen by the evaluator.
public protocol Recommender: Sendable {
    /// The model's name in reports.
    var name: String { get }
    /// Writes a score for every item id (`scores.count` = the item limit, zeroed by the caller) for `user`, whose
    /// training interactions are `history` (summed per item, and the newest in time order). Higher is better; −∞
    /// marks an item the model would not return.
    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>)
    /// The item's vector, for intra-list diversity; nil when the model has none.
    func itemVector(_ item: UInt32) -> [Float]?
}

extension Recommender {
    /// No vectors: diversity falls back to categories and tags.
    public func itemVector(_ item: UInt32) -> [Float]? { nil }
}

/// Several models mixed as `RECOMMEND … USING BLEND(…)` mixes them: each model's best ``pool`` candidates (items
/// the user met left out) are min–max normalised over themselves (all 1 when their scores are equal), weighted and
/// summed per item; an item no model puts in its pool is no candidate. Replays serving exactly for lists of up to
/// ``RankingBlocks/block`` items (serving ranks deeper pages from larger pools).
public struct BlendModel: Recommender {
    /// The blend's name in reports.
    public let name: String
    /// The trained models mixed.
    public let parts: [any Recommender]
    /// Each part's weight.
    public let weights: [Float]
    /// Candidates per model.
    public let pool: Int

    /// Mixes `parts` with `weights`, taking each part's best `pool` candidates.
    public init(name: String, parts: [any Recommender], weights: [Float], pool: Int = RankingBlocks.firstPool) {
        self.name = name
        self.parts = parts
        self.weights = weights
        self.pool = pool
    }

    /// The blended score of every item in some part's pool; −∞ for the rest.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: scores.count)
        defer { buffer.deallocate() }
        var blended: [UInt32: Float] = [:]
        for (part, weight) in zip(parts, weights) where weight > 0 {
            for (item, normalised) in Self.normalisedCandidates(
                part, user: user, history: history, pool: pool, buffer: buffer)
            {
                let contribution = weight * normalised
                if let sum = blended[item] { blended[item] = sum + contribution } else { blended[item] = contribution }
            }
        }
        scores.update(repeating: -.infinity)
        for (item, score) in blended { scores[Int(item)] = score }
    }

    /// `part`'s best `pool` candidates for the user, best first, each with its score min–max normalised over the pool
    /// (1 when the scores are equal): what a blend weights and sums.
    static func normalisedCandidates(
        _ part: any Recommender, user: UInt32, history: UserHistory, pool: Int,
        buffer: UnsafeMutableBufferPointer<Float>
    ) -> [(item: UInt32, score: Float)] {
        let found = candidates(part, user: user, history: history, pool: pool, buffer: buffer)
        guard let high = found.first.map({ buffer[Int($0)] }), let low = found.last.map({ buffer[Int($0)] }) else {
            return []
        }
        let span = high - low
        return found.map { ($0, span > 0 ? (buffer[Int($0)] - low) / span : 1) }
    }

    /// `part`'s best `pool` items for the user, best first (ties by lower id), leaving out the items the user met;
    /// their scores stay in `buffer`.
    static func candidates(
        _ part: any Recommender, user: UInt32, history: UserHistory, pool: Int,
        buffer: UnsafeMutableBufferPointer<Float>
    ) -> [UInt32] {
        buffer.update(repeating: 0)
        part.score(user: user, history: history, into: buffer)
        for item in history.met where Int(item) < buffer.count { buffer[Int(item)] = -.infinity }
        return TopScores.indices(buffer, k: pool)
    }

    /// The first part's vector of the item that has one.
    public func itemVector(_ item: UInt32) -> [Float]? { parts.lazy.compactMap { $0.itemVector(item) }.first }
}

/// The fallback chain as `RECOMMEND` fills it: the first model's best ``pool`` candidates in its order, then each
/// later model's best ones not yet listed, until ``pool`` are listed; nothing else is a candidate. A model that
/// cannot serve a user (no visit, no profile) gives nothing and the next one fills. Replays serving exactly for
/// lists of up to ``RankingBlocks/block`` items.
public struct FallbackChainModel: Recommender {
    /// The chain's name in reports.
    public let name: String
    /// The trained models, first first.
    public let parts: [any Recommender]
    /// Candidates listed in all.
    public let pool: Int

    /// Lists `parts`' candidates in order until `pool` are listed.
    public init(name: String, parts: [any Recommender], pool: Int = RankingBlocks.firstPool) {
        self.name = name
        self.parts = parts
        self.pool = pool
    }

    /// Scores falling with the position in the chain's list; −∞ for items it does not list.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: scores.count)
        defer { buffer.deallocate() }
        var listed: [UInt32] = []
        var taken = Set<UInt32>()
        for part in parts where listed.count < pool {
            for item in BlendModel.candidates(part, user: user, history: history, pool: pool, buffer: buffer)
            where taken.insert(item).inserted {
                listed.append(item)
                if listed.count >= pool { break }
            }
        }
        // Scores that fall with the position keep the chain's order.
        scores.update(repeating: -.infinity)
        for (position, item) in listed.enumerated() { scores[Int(item)] = Float(listed.count - position) }
    }

    /// The first part's vector of the item that has one.
    public func itemVector(_ item: UInt32) -> [Float]? { parts.lazy.compactMap { $0.itemVector(item) }.first }
}

/// How ``CatalogReading/recommend(_:)`` ranks: in blocks of ``block`` results, each block from pools of twice as
/// many candidates per model. A page of up to ``block`` results comes from the first block alone, which is what
/// evaluation replays for blends and chains (``BlendModel``, ``FallbackChainModel``).
public enum RankingBlocks {
    /// Results per block.
    public static let block = 25
    /// The candidates each model gives for the first block.
    public static let firstPool = 2 * block
}

/// The best-scored item ids of a score vector, as evaluation and compositions rank them.
enum TopScores {
    /// The indices of the `k` largest finite scores, best first (ties by lower id).
    static func indices(_ scores: UnsafeMutableBufferPointer<Float>, k: Int) -> [UInt32] {
        var heap = NeighborHeap(capacity: k + 1, isMax: true)
        defer { heap.deallocate() }
        for i in 0..<scores.count {
            let s = scores[i]
            guard s.isFinite else { continue }
            // Distances are negated scores so the max-heap keeps the k best.
            let candidate = Neighbor(distance: -s, node: UInt32(i))
            if heap.count < k {
                heap.push(candidate)
            } else if candidate < heap.top {
                heap.pop()
                heap.push(candidate)
            }
        }
        return heap.elements.sorted().map(\.node)
    }
}
