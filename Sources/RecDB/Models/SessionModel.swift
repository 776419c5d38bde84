import Foundation

/// Visits as item sequences: a user's interactions split where the explicit session id changes or, for events
/// without one, where the user was inactive for longer than the gap.
public struct SessionLog: Sendable {
    /// Items of each session in time order (repeats kept: a transition needs them).
    public var sessions: [[UInt32]] = []
    /// Each session's last timestamp (milliseconds), for recency.
    public var ends: [Int64] = []
    /// One past the largest item id, copied from the source log (0 for an empty `init()`).
    public var itemLimit = 0

    /// No sessions and `itemLimit` 0.
    public init() {}

    /// Splits `log` (sorted by user then time) into sessions.
    public init(_ log: InteractionLog, gap: Int64 = 30 * 60 * 1000) {
        itemLimit = log.itemLimit
        var current: [UInt32] = []
        var lastTime: Int64 = 0, lastUser: UInt32 = .max, lastSession: UInt32 = 0
        for index in 0..<log.count {
            let user = log.users[index], time = log.times[index]
            let session = index < log.sessions.count ? log.sessions[index] : 0
            let continues = user == lastUser
                && (session != 0 ? session == lastSession : lastSession == 0 && time - lastTime <= gap)
            if !continues && !current.isEmpty {
                sessions.append(current)
                ends.append(lastTime)
                current = []
            }
            current.append(log.items[index])
            lastUser = user
            lastTime = time
            lastSession = session
        }
        if !current.isEmpty {
            sessions.append(current)
            ends.append(lastTime)
        }
    }

    /// Number of sessions (equal to `ends.count`).
    public var count: Int { sessions.count }
}

/// A model that scores the next item of a visit from the visit's items.
public protocol NextItemModel: Recommender {
    /// Adds scores for the next item after `visit` (item ids in time order) into `scores` (indexed by item id);
    /// returns the neighbour sessions that drove them (empty when the model has none).
    @discardableResult
    func scoreNext(after visit: [UInt32], into scores: UnsafeMutableBufferPointer<Float>) -> [UInt32]
}

extension NextItemModel {
    /// For a user, as `RECOMMEND … FOR USER` serves them: the next item after their latest visit
    /// (``UserHistory/latestVisit``: same items, order, count and session gap); items the model does not score are
    /// no candidates (−∞).
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        scores.update(repeating: 0)
        scoreNext(after: history.latestVisit, into: scores)
        for i in 0..<scores.count where !(scores[i] > 0) { scores[i] = -.infinity }
    }
}

/// Next item in a visit: vector-multiplied session-based kNN (V-SKNN, Ludewig and Jannach 2018) blended with
/// sequential rules (what tends to follow the visit's last items).
///
/// For the current visit, past sessions that share its items are neighbours, weighted by the shared items'
/// positions (the latest click counts most); the `neighbours` most similar vote for their items. Sequential rules
/// count, over training sessions, how often item b follows item a within a few steps (nearer steps count more).
/// Both are normalised per request and mixed with `ruleWeight`. Serves anonymous visitors and known users alike:
/// only the items of the visit matter.
public struct SessionKNNModel: NextItemModel {
    /// Tuning knobs; `init()` gives the defaults written beside each field. Codable so a model spec can store them.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Neighbour sessions that vote.
        public var neighbours = 100
        /// Most recent sessions per item considered as candidates.
        public var sampleSize = 1000
        /// Weight of the sequential-rule scores against the kNN scores (0: kNN only).
        public var ruleWeight: Float = 0.5
        /// How many steps ahead a rule looks.
        public var ruleSteps = 3
        /// The defaults: 100 neighbours, 1000 sessions sampled per item, rule weight 0.5, rules 3 steps ahead.
        public init() {}
    }

    /// The model's name in reports (default `ModelKind.session.rawValue`).
    public let name: String
    /// The knobs it was built with.
    public let parameters: Parameters
    let log: SessionLog
    /// Per item: sessions that contain it, most recent first (at most `sampleSize`).
    let postings: [[UInt32]]
    /// Per item: its successors with weights, best first.
    let rules: [[(item: UInt32, weight: Float)]]
    /// Distinct items per session.
    let sessionItems: [[UInt32]]

    /// Indexes `log` (no iterative training): per-item postings of the most recent sessions, and sequential rules.
    public init(name: String = ModelKind.session.rawValue, sessions log: SessionLog, parameters: Parameters = Parameters()) {
        self.name = name
        self.parameters = parameters
        self.log = log
        let itemLimit = max(log.itemLimit, (log.sessions.lazy.flatMap { $0 }.max().map { Int($0) + 1 }) ?? 0)
        var distinct: [[UInt32]] = []
        distinct.reserveCapacity(log.count)
        for session in log.sessions { distinct.append(Array(Set(session)).sorted()) }
        sessionItems = distinct
        var postings = [[UInt32]](repeating: [], count: itemLimit)
        let byRecency = (0..<log.count).sorted { log.ends[$0] > log.ends[$1] || (log.ends[$0] == log.ends[$1] && $0 > $1) }
        for s in byRecency {
            for item in distinct[s] where postings[Int(item)].count < parameters.sampleSize {
                postings[Int(item)].append(UInt32(s))
            }
        }
        self.postings = postings
        rules = Self.sequentialRules(log, itemLimit: itemLimit, steps: parameters.ruleSteps)
    }

    /// Successor counts: b after a at distance d counts 1/d, for d ≤ `steps`; the 100 best kept per item.
    static func sequentialRules(_ log: SessionLog, itemLimit: Int, steps: Int) -> [[(item: UInt32, weight: Float)]] {
        var counts = [[UInt32: Float]](repeating: [:], count: itemLimit)
        for session in log.sessions where session.count > 1 {
            for i in 0..<(session.count - 1) {
                for d in 1...max(1, steps) where i + d < session.count {
                    let a = session[i], b = session[i + d]
                    if a != b { counts[Int(a)][b, default: 0] += 1 / Float(d) }
                }
            }
        }
        return counts.map { successors -> [(item: UInt32, weight: Float)] in
            var list: [(item: UInt32, weight: Float)] = successors.map { (item: $0.key, weight: $0.value) }
            list.sort { a, b in a.weight > b.weight || (a.weight == b.weight && a.item < b.item) }
            return Array(list.prefix(100))
        }
    }

    /// Scores for the next item after `visit` (items in time order), written into `scores` (indexed by item id).
    /// Returns the neighbour sessions and rule sources that drove the scores, for provenance.
    @discardableResult
    public func scoreNext(after visit: [UInt32], into scores: UnsafeMutableBufferPointer<Float>) -> [UInt32] {
        guard !visit.isEmpty else { return [] }
        var knn: [UInt32: Float] = [:]
        // Position weights: the last item 1, earlier ones linearly less.
        var weightOf: [UInt32: Float] = [:]
        for (position, item) in visit.enumerated() {
            weightOf[item] = max(weightOf[item] ?? 0, Float(position + 1) / Float(visit.count))
        }
        var similarity: [UInt32: Float] = [:]
        for (item, weight) in weightOf where Int(item) < postings.count {
            for session in postings[Int(item)] { similarity[session, default: 0] += weight }
        }
        let best = similarity.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key > $1.key) }
            .prefix(parameters.neighbours)
        for (session, sim) in best {
            for item in sessionItems[Int(session)] { knn[item, default: 0] += sim }
        }
        let knnMax = knn.values.max() ?? 0
        if knnMax > 0 {
            for (item, score) in knn where Int(item) < scores.count { scores[Int(item)] += score / knnMax }
        }
        if parameters.ruleWeight > 0 {
            var ruleScores: [UInt32: Float] = [:]
            // The last item's successors, and the one before it at half weight.
            for (back, item) in visit.reversed().prefix(2).enumerated() where Int(item) < rules.count {
                for rule in rules[Int(item)] { ruleScores[rule.item, default: 0] += rule.weight / Float(back + 1) }
            }
            let ruleMax = ruleScores.values.max() ?? 0
            if ruleMax > 0 {
                for (item, score) in ruleScores where Int(item) < scores.count {
                    scores[Int(item)] += parameters.ruleWeight * score / ruleMax
                }
            }
        }
        return best.map(\.key)
    }
}

/// The plain item-transition baseline: how often each item immediately followed the visit's last item.
public struct TransitionModel: NextItemModel {
    /// The model's name in reports (default `ModelKind.transition.rawValue`).
    public let name: String
    let log: SessionLog
    let successors: [[(item: UInt32, weight: Float)]]

    /// Counts, over `log`'s sessions, each item's immediate successors (repeats of an item ignored); best 100 kept.
    public init(name: String = ModelKind.transition.rawValue, sessions log: SessionLog) {
        self.name = name
        self.log = log
        let itemLimit = max(log.itemLimit, (log.sessions.lazy.flatMap { $0 }.max().map { Int($0) + 1 }) ?? 0)
        successors = SessionKNNModel.sequentialRules(log, itemLimit: itemLimit, steps: 1)
    }

    /// Scores for the next item after `visit`.
    @discardableResult
    public func scoreNext(after visit: [UInt32], into scores: UnsafeMutableBufferPointer<Float>) -> [UInt32] {
        guard let last = visit.last, Int(last) < successors.count else { return [] }
        for rule in successors[Int(last)] where Int(rule.item) < scores.count { scores[Int(rule.item)] += rule.weight }
        return []
    }
}
