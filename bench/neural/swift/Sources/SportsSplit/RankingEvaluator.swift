import Foundation

/// Full-ranking HR@10 and NDCG@10 over every item, the protocol's evaluator shared by every model in the bench:
/// the items of the user's history are masked (as S3-Rec's evaluator: a target repeated from the history is masked
/// too, a miss), and ties count against the target (an item scored equal to the target ranks above it), so a model
/// that cannot score the target gets no credit.
public struct RankingEvaluator {
    /// Cut-off.
    public static let k = 10
    public private(set) var users = 0
    private(set) var hits = 0.0
    private(set) var gain = 0.0

    /// An evaluator with no users yet.
    public init() {}

    /// Adds one user: `scores` indexed by item id (index 0 unused), `history` masked, `target` the held-out item.
    public mutating func add(scores: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int32>, target: Int32) {
        scores[0] = -.infinity
        for item in history { scores[Int(item)] = -.infinity }
        let targetScore = scores[Int(target)]
        var above = 0
        for i in 1..<scores.count where i != Int(target) && scores[i] >= targetScore {
            above += 1
            if above >= Self.k { break }
        }
        users += 1
        if above < Self.k {
            hits += 1
            gain += 1 / log2(Double(above) + 2)
        }
    }

    /// HR@10.
    public var hitRate: Double { users == 0 ? 0 : hits / Double(users) }
    /// NDCG@10.
    public var ndcg: Double { users == 0 ? 0 : gain / Double(users) }
}
