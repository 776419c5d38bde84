import Foundation

/// HyGenRec's learned blender: a `BLEND` of trained models whose weights are learned on the validation part, one
/// weight vector for warm users and one for cold users (at most ``coldLimit`` training interactions).
///
/// The features of a candidate are each part's min–max normalised score over that part's pool (0 when the part does
/// not propose it), exactly what `RECOMMEND … USING BLEND(…)` sums; the weights come from a pairwise logistic ranker
/// (held-out item above every other candidate of the user) with weights kept ≥ 0. A user's list is therefore the
/// list `USING BLEND(part w₁, part w₂, …)` serves with that user's group weights (``expression(cold:)``): one planner,
/// no second scorer.
public struct LearnedBlendModel: Recommender {
    /// The name reports show (`hygenrec`).
    public let name: String
    /// The trained models blended, with the names their specs have.
    public let parts: [any Recommender]
    /// The parts' model names, for the served `BLEND(…)` expressions.
    public let partNames: [String]
    /// Weights for users with more than ``coldLimit`` training interactions.
    public let warmWeights: [Float]
    /// Weights for users with at most ``coldLimit`` training interactions.
    public let coldWeights: [Float]
    /// Candidates per part, as a blend takes them.
    public let pool: Int
    /// Validation users whose held-out items gave the weights (0 when the weights were given).
    public let validationUsers: Int
    /// The largest training history of a cold user (3, the evaluator's cold-start slice).
    public static let coldLimit = 3

    /// A blender with given weights (``fit(name:parts:partNames:evaluator:)`` learns them).
    public init(
        name: String, parts: [any Recommender], partNames: [String], warmWeights: [Float], coldWeights: [Float],
        pool: Int = RankingBlocks.firstPool, validationUsers: Int = 0
    ) {
        self.validationUsers = validationUsers
        self.name = name
        self.parts = parts
        self.partNames = partNames
        self.warmWeights = warmWeights
        self.coldWeights = coldWeights
        self.pool = pool
    }

    /// The blend of the user's group, as ``BlendModel`` scores it.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let weights = history.items.count <= Self.coldLimit ? coldWeights : warmWeights
        BlendModel(name: name, parts: parts, weights: weights, pool: pool).score(
            user: user, history: history, into: scores)
    }

    /// The first part's vector of the item that has one.
    public func itemVector(_ item: UInt32) -> [Float]? { parts.lazy.compactMap { $0.itemVector(item) }.first }

    /// The model expression that serves a group's lists: `BLEND(als 0.41, sasrec 0.52, text 0.07)`.
    public func expression(cold: Bool) -> String {
        let weights = cold ? coldWeights : warmWeights
        let total = max(weights.reduce(0, +), .leastNormalMagnitude)
        let terms = zip(partNames, weights).filter { $0.1 > 0 }.map { "\($0.0) \(String(format: "%.3f", $0.1 / total))" }
        return "BLEND(\(terms.joined(separator: ", ")))"
    }

    /// Learns the warm and cold weights over `parts` (trained on `evaluator.split.train`) from the validation part:
    /// per validation user, every candidate in some part's pool, the held-out ones as positives. A group with fewer
    /// than 20 users whose held-out item is a candidate takes the other group's weights; with none at all, equal
    /// weights. Deterministic: at most `maxUsers` users, taken in id order at an even stride.
    public static func fit(
        name: String, parts: [any Recommender], partNames: [String], evaluator: Evaluator, maxUsers: Int = 4000,
        pool: Int = RankingBlocks.firstPool
    ) -> LearnedBlendModel {
        let users = evaluator.split.validation.keys.sorted()
        let stride = max(1, users.count / max(maxUsers, 1))
        var warm = PairwiseRanker(features: parts.count), cold = PairwiseRanker(features: parts.count)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: evaluator.train.columns)
        defer { buffer.deallocate() }
        for index in Swift.stride(from: 0, to: users.count, by: stride) {
            let user = users[index]
            guard let relevant = evaluator.split.validation[user] else { continue }
            let history = evaluator.history(of: user)
            var features: [UInt32: [Float]] = [:]
            for (p, part) in parts.enumerated() {
                for (item, score) in BlendModel.normalisedCandidates(
                    part, user: user, history: history, pool: pool, buffer: buffer)
                {
                    features[item, default: [Float](repeating: 0, count: parts.count)][p] = score
                }
            }
            let positives = relevant.compactMap { features[$0] }
            guard !positives.isEmpty, features.count > positives.count else { continue }
            let relevantSet = Set(relevant)
            let negatives = features.filter { !relevantSet.contains($0.key) }.sorted { $0.key < $1.key }.map(\.value)
            if history.items.count <= coldLimit {
                cold.add(positives: positives, negatives: negatives)
            } else {
                warm.add(positives: positives, negatives: negatives)
            }
        }
        let equal = [Float](repeating: 1 / Float(max(parts.count, 1)), count: parts.count)
        let warmWeights = warm.users >= 20 ? warm.fit() : cold.users >= 20 ? cold.fit() : equal
        let coldWeights = cold.users >= 20 ? cold.fit() : warmWeights
        return LearnedBlendModel(
            name: name, parts: parts, partNames: partNames, warmWeights: warmWeights, coldWeights: coldWeights,
            pool: pool, validationUsers: warm.users + cold.users)
    }
}

/// A linear ranker with non-negative weights fitted by the pairwise logistic loss (RankNet): each user's positives
/// should score above that user's negatives; every user counts equally, whatever their number of pairs.
struct PairwiseRanker {
    /// Feature differences (positive − negative), `features` floats per pair, with each pair's weight.
    private var differences: [Float] = []
    private var pairWeights: [Float] = []
    let features: Int
    /// Users that gave at least one pair.
    private(set) var users = 0

    init(features: Int) { self.features = features }

    /// One user's pairs: every positive against every negative, weighted to sum to 1 for the user.
    mutating func add(positives: [[Float]], negatives: [[Float]]) {
        guard !positives.isEmpty, !negatives.isEmpty else { return }
        let weight = 1 / Float(positives.count * negatives.count)
        for p in positives {
            for n in negatives {
                for f in 0..<features { differences.append(p[f] - n[f]) }
                pairWeights.append(weight)
            }
        }
        users += 1
    }

    /// Weights ≥ 0 summing to 1, from projected gradient descent on the mean pairwise logistic loss plus a small L2
    /// term (full batch, `epochs` steps, from equal weights).
    func fit(epochs: Int = 300, learningRate: Float = 0.5, l2: Float = 1e-3) -> [Float] {
        var w = [Float](repeating: 1, count: features)
        let pairs = pairWeights.count
        guard pairs > 0, features > 0 else { return [Float](repeating: 1 / Float(max(features, 1)), count: features) }
        let scale = 1 / Float(users)
        for _ in 0..<epochs {
            var gradient = [Float](repeating: 0, count: features)
            for pair in 0..<pairs {
                let base = pair * features
                var margin: Float = 0
                for f in 0..<features { margin += w[f] * differences[base + f] }
                // d/dm log(1 + e^(−m)) = −1 / (1 + e^m)
                let g = -pairWeights[pair] / (1 + exp(min(margin, 30)))
                for f in 0..<features { gradient[f] += g * differences[base + f] }
            }
            for f in 0..<features {
                w[f] = max(0, w[f] - learningRate * (gradient[f] * scale + l2 * w[f]))
            }
        }
        let total = w.reduce(0, +)
        return total > 0 ? w.map { $0 / total } : [Float](repeating: 1 / Float(features), count: features)
    }
}
