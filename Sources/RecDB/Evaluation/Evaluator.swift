import Foundation
import RecKernels

/// Ranking metrics at K, averaged over the evaluated users, plus list-level measures.
public struct EvaluationResult: Sendable, Codable {
    /// The evaluated model's report name (`Recommender.name`).
    public var model: String
    /// The split's kind as its raw value, e.g. `leave-last-out`.
    public var split: String
    /// List length K that every metric is cut at (default 10).
    public var k: Int
    /// Users scored: those with at least one held-out item; the averages' denominator.
    public var users = 0
    /// Mean precision@K: hits in the top K ÷ K (so < 1 whenever a user has fewer than K held-out items), in [0, 1].
    public var precision = 0.0
    /// Mean recall@K: hits in the top K ÷ the user's held-out items, in [0, 1].
    public var recall = 0.0
    /// Mean per-user F1@K, the harmonic mean of that user's precision and recall (0 without hits); not F1 of the means.
    public var f1 = 0.0
    /// Mean NDCG@K with binary relevance and a log2(rank + 1) discount, normalised by the ideal list of
    /// min(K, held-out) hits; in [0, 1].
    public var ndcg = 0.0
    /// Mean reciprocal rank of the first held-out item within the top K (0 when none is there), in [0, 1].
    public var mrr = 0.0
    /// Share of users with at least one held-out item in their top K, in [0, 1].
    public var hitRate = 0.0
    /// Distinct items recommended to anyone ÷ items in the catalog.
    public var coverage = 0.0
    /// 1 − mean pairwise similarity within a list (cosine of item vectors clamped to [0, 1], else Jaccard of category
    /// and tags), in [0, 1]; nil when the model has no vectors and the items have no categories or tags.
    public var diversity: Double?
    /// Mean −log2 of the recommended items' popularity share among training users.
    public var novelty = 0.0
    /// Wall-clock seconds the evaluation took (training not included).
    public var seconds = 0.0
    /// The same metrics over users with at most 3 training interactions (nil when there are none).
    public var coldStart: ColdStart?
    /// Mean recall at each cut-off of the evaluator's ``Evaluator/recallCurve`` (nil when it has none), for
    /// recall-vs-K plots: hits in the top K' of the same ranking ÷ the user's held-out items.
    public var recallAt: [Int: Double]?
    /// The same metrics over held-out items that have no training interaction at all (cold items), counting only
    /// those items as relevant, over the users who have one (nil when there are none).
    public var coldItems: ColdStart?

    /// Metrics over a subgroup (cold users or cold items), defined as in the full result, averaged over the group.
    public struct ColdStart: Sendable, Codable {
        /// Users in the subgroup; the averages' denominator (always > 0 in a stored result).
        public var users: Int
        /// Mean NDCG@K over the subgroup (binary relevance, log2 discount).
        public var ndcg: Double
        /// Mean recall@K over the subgroup.
        public var recall: Double
        /// Share of the subgroup with at least one relevant item in the top K.
        public var hitRate: Double
    }
}

struct EvaluationPartial {
    var precision = 0.0, recall = 0.0, f1 = 0.0, ndcg = 0.0, mrr = 0.0, hits = 0.0, users = 0
    var coldUsers = 0, coldNDCG = 0.0, coldRecall = 0.0, coldHits = 0.0
    var coldItemUsers = 0, coldItemNDCG = 0.0, coldItemRecall = 0.0, coldItemHits = 0.0
    var diversity = 0.0, diversityLists = 0, novelty = 0.0, noveltyItems = 0
    var recommended = Set<UInt32>()
    var recallAt: [Double] = []
}

/// Full-ranking offline evaluation: every item the user has not met in their history is a candidate (no sampled
/// negatives); the items met are excluded from the lists. Models train on the training part and get each user's
/// history as serving reads it (``UserHistory``: the newest events in time order, beside the summed row): the
/// training events when the validation part is scored, and by default (``TestHistory/withValidation``, the standard
/// protocol) the training and validation events when the test part is.
public struct Evaluator: Sendable {
    /// What a user's history holds when the test part is scored.
    public enum TestHistory: String, Sendable, CaseIterable {
        /// The training and validation events (the standard protocol): the models, trained on the training part,
        /// see the validation events as `RECOMMEND` sees events that arrived after the last refresh. A test item the
        /// user already met in validation is then not scored (it is in the history, so never a candidate).
        case withValidation = "with-validation"
        /// The training events only: the validation events are withheld from the history, a gap before the test.
        case trainingOnly = "training-only"
    }

    /// The rows, events and exclusions one kind of history is read from.
    struct HistorySource: Sendable {
        /// The events, sorted by user then time.
        let log: InteractionLog
        /// Summed interactions per user (pairs whose weights sum to ≤ 0 left out).
        let rows: InteractionMatrix
        /// Every item each user met, whatever the weights sum to.
        let met: InteractionMatrix
        /// Each user's range of `log`; empty for users without events.
        let ranges: [Range<Int>]

        init(_ log: InteractionLog) {
            self.log = log
            var ranges = [Range<Int>](repeating: 0..<0, count: log.userLimit)
            for (user, range) in log.userRanges() {
                if Int(user) >= ranges.count {
                    ranges += [Range<Int>](repeating: 0..<0, count: Int(user) + 1 - ranges.count)
                }
                ranges[Int(user)] = range
            }
            self.ranges = ranges
            rows = InteractionMatrix(log)
            var everyPair = log
            everyPair.weights = everyPair.weights.map { _ in 1 }
            met = InteractionMatrix(everyPair)
        }
    }

    /// The split evaluated: the models train on `split.train` and are scored on its test or validation part.
    public let split: EvaluationSplit
    /// Summed training interactions per user (pairs whose weights sum to ≤ 0 left out): the models' `history` rows.
    public let train: InteractionMatrix
    /// The training events: the histories of ``history(of:)`` and of the validation part. Its `met` rows hold every
    /// item each user met in training, whatever the weights sum to (a purchase then a return sums to 0 and is not in
    /// `train`, but is met all the same): these never make a list.
    let training: HistorySource
    /// The histories the test part is scored with: `training`, or training and validation events.
    let atTest: HistorySource
    /// What a user's history holds when the test part is scored.
    public let testHistory: TestHistory
    /// Whether `atTest` holds validation events (the standard protocol, and a split that has some).
    let testHistoriesHoldValidation: Bool
    /// List length K (default 10); every user's list holds at most K items.
    public let k: Int
    /// Items the catalog holds (coverage's denominator).
    public let catalogItems: Int
    /// Category and tag sets per item, for diversity when a model has no vectors.
    public let itemFeatures: [UInt32: Set<String>]
    /// Share of training users per item, for novelty.
    let popularityShare: [Double]
    /// Training users per item; 0 marks a cold item.
    let itemTrainingCounts: [Int]
    /// The inactivity gap that ends a visit, as the database splits sessions.
    public let sessionGap: Int64
    /// Cut-offs at which recall is also reported (``EvaluationResult/recallAt``); the ranking goes as deep as the
    /// largest, the other metrics stay at ``k``.
    public let recallCurve: [Int]
    /// Whether diversity compares items by their category and tag sets only (Jaccard), never by a model's vectors,
    /// so that every model is measured on the same similarity.
    public let diversityByFeatures: Bool

    /// Prepares the training matrices and per-item counts from `split` (O(training interactions)); no model runs yet.
    /// `catalogItems` is coverage's denominator; `itemFeatures` (category and tag sets) serve diversity when a model
    /// has no vectors; `sessionGap` (milliseconds, default 30 minutes) ends a visit in each user's history;
    /// `recallCurve` lists extra cut-offs for recall (e.g. `[1, 5, 10, 20, 50]`); `diversityByFeatures` measures
    /// every model's diversity on category and tag sets; `testHistory` says whether the validation events join the
    /// histories the test part is scored with (the default, the standard protocol).
    public init(
        split: EvaluationSplit, k: Int = 10, catalogItems: Int, itemFeatures: [UInt32: Set<String>] = [:],
        sessionGap: Int64 = 30 * 60 * 1000, recallCurve: [Int] = [], diversityByFeatures: Bool = false,
        testHistory: TestHistory = .withValidation
    ) {
        self.diversityByFeatures = diversityByFeatures
        self.split = split
        self.k = k
        self.recallCurve = Set(recallCurve.filter { $0 > 0 }).sorted()
        self.sessionGap = sessionGap
        self.testHistory = testHistory
        self.catalogItems = catalogItems
        self.itemFeatures = itemFeatures
        training = HistorySource(split.train)
        testHistoriesHoldValidation = testHistory == .withValidation && split.validationEvents.count > 0
        atTest =
            testHistoriesHoldValidation ? HistorySource(split.train.merged(with: split.validationEvents)) : training
        let matrix = training.rows
        train = matrix
        var users = [Int](repeating: 0, count: matrix.columns)
        var active = 0
        for u in 0..<matrix.rows {
            let row = matrix.row(u).indices
            if !row.isEmpty { active += 1 }
            for item in row { users[Int(item)] += 1 }
        }
        active = max(active, 1)
        popularityShare = users.map { (Double($0) + 0.5) / Double(active) }
        itemTrainingCounts = users
    }

    /// Evaluates on the test (or validation) held-out items, using `threads` threads.
    public func evaluate(_ model: some Recommender, onValidation: Bool = false, threads: Int = 2) -> EvaluationResult {
        let started = Date()
        let heldOut = onValidation ? split.validation : split.test
        let source = onValidation ? training : atTest
        let historyHasValidation = !onValidation && testHistoriesHoldValidation
        let users = heldOut.keys.sorted()
        let itemCount = train.columns
        let workers = max(1, min(threads, users.count))
        let partials = UnsafeMutableBufferPointer<EvaluationPartial>.allocate(capacity: workers)
        partials.initialize(repeating: EvaluationPartial())
        defer { partials.deallocate() }
        let k = self.k, curve = recallCurve, depth = max(k, recallCurve.last ?? 0)
        let shared = SharedPointer(partials.baseAddress!)  // disjoint writes: one element per worker
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let partials = shared.base
            var partial = EvaluationPartial()
            partial.recallAt = [Double](repeating: 0, count: curve.count)
            let scores = UnsafeMutableBufferPointer<Float>.allocate(capacity: itemCount)
            defer { scores.deallocate() }
            var index = worker
            while index < users.count {
                defer { index += workers }
                let user = users[index]
                let history = history(of: user, from: source)
                // A test item the user also met in validation is in the history, so never a candidate: not scored.
                let held = heldOut[user] ?? []
                let relevant = historyHasValidation ? held.filter { !history.met.contains($0) } : held
                guard !relevant.isEmpty else { continue }
                let deep = ranking(for: user, history: history, model: model, scores: scores, depth: depth)
                let top = Array(deep.prefix(k))
                let relevantSet = Set(relevant)
                for (index, cut) in curve.enumerated() {
                    let found = deep.prefix(cut).reduce(0) { $0 + (relevantSet.contains($1) ? 1 : 0) }
                    partial.recallAt[index] += Double(found) / Double(relevant.count)
                }
                var hits = 0, dcg = 0.0, firstRank = 0
                for (rank, item) in top.enumerated() where relevantSet.contains(item) {
                    hits += 1
                    dcg += 1 / log2(Double(rank) + 2)
                    if firstRank == 0 { firstRank = rank + 1 }
                }
                let ideal = (0..<min(k, relevant.count)).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
                let precision = Double(hits) / Double(k), recall = Double(hits) / Double(relevant.count)
                partial.precision += precision
                partial.recall += recall
                partial.f1 += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
                partial.ndcg += ideal > 0 ? dcg / ideal : 0
                partial.mrr += firstRank > 0 ? 1 / Double(firstRank) : 0
                partial.hits += hits > 0 ? 1 : 0
                partial.users += 1
                if trainingItems(of: user) <= 3 {
                    partial.coldUsers += 1
                    partial.coldNDCG += ideal > 0 ? dcg / ideal : 0
                    partial.coldRecall += recall
                    partial.coldHits += hits > 0 ? 1 : 0
                }
                let coldRelevant = relevant.filter { Int($0) >= itemTrainingCounts.count || itemTrainingCounts[Int($0)] == 0 }
                if !coldRelevant.isEmpty {
                    let coldSet = Set(coldRelevant)
                    var coldHits = 0, coldDCG = 0.0
                    for (rank, item) in top.enumerated() where coldSet.contains(item) {
                        coldHits += 1
                        coldDCG += 1 / log2(Double(rank) + 2)
                    }
                    let coldIdeal = (0..<min(k, coldRelevant.count)).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
                    partial.coldItemUsers += 1
                    partial.coldItemNDCG += coldDCG / coldIdeal
                    partial.coldItemRecall += Double(coldHits) / Double(coldRelevant.count)
                    partial.coldItemHits += coldHits > 0 ? 1 : 0
                }
                partial.recommended.formUnion(top)
                for item in top {
                    partial.novelty += -log2(popularityShare[Int(item)])
                    partial.noveltyItems += 1
                }
                if top.count > 1, let similarity = meanPairwiseSimilarity(top, model: model) {
                    partial.diversity += 1 - similarity
                    partial.diversityLists += 1
                }
            }
            partials[worker] = partial
        }
        var total = EvaluationPartial()
        total.recallAt = [Double](repeating: 0, count: curve.count)
        for p in partials {
            for index in total.recallAt.indices where index < p.recallAt.count { total.recallAt[index] += p.recallAt[index] }
            total.precision += p.precision
            total.recall += p.recall
            total.f1 += p.f1
            total.ndcg += p.ndcg
            total.mrr += p.mrr
            total.hits += p.hits
            total.users += p.users
            total.coldUsers += p.coldUsers
            total.coldNDCG += p.coldNDCG
            total.coldRecall += p.coldRecall
            total.coldHits += p.coldHits
            total.coldItemUsers += p.coldItemUsers
            total.coldItemNDCG += p.coldItemNDCG
            total.coldItemRecall += p.coldItemRecall
            total.coldItemHits += p.coldItemHits
            total.diversity += p.diversity
            total.diversityLists += p.diversityLists
            total.novelty += p.novelty
            total.noveltyItems += p.noveltyItems
            total.recommended.formUnion(p.recommended)
        }
        let n = Double(max(total.users, 1))
        var result = EvaluationResult(model: model.name, split: split.kind.rawValue, k: k)
        result.users = total.users
        result.precision = total.precision / n
        result.recall = total.recall / n
        result.f1 = total.f1 / n
        result.ndcg = total.ndcg / n
        result.mrr = total.mrr / n
        result.hitRate = total.hits / n
        if !curve.isEmpty {
            result.recallAt = Dictionary(uniqueKeysWithValues: zip(curve, total.recallAt.map { $0 / n }))
        }
        result.coverage = Double(total.recommended.count) / Double(max(catalogItems, 1))
        result.diversity = total.diversityLists > 0 ? total.diversity / Double(total.diversityLists) : nil
        result.novelty = total.noveltyItems > 0 ? total.novelty / Double(total.noveltyItems) : 0
        if total.coldUsers > 0 {
            let c = Double(total.coldUsers)
            result.coldStart = .init(
                users: total.coldUsers, ndcg: total.coldNDCG / c, recall: total.coldRecall / c, hitRate: total.coldHits / c)
        }
        if total.coldItemUsers > 0 {
            let c = Double(total.coldItemUsers)
            result.coldItems = .init(
                users: total.coldItemUsers, ndcg: total.coldItemNDCG / c, recall: total.coldItemRecall / c,
                hitRate: total.coldItemHits / c)
        }
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// What the models are given of `user` when the validation part is scored: the summed training row and the
    /// newest ``UserHistory/window`` training events, newest first (as the history index of a database holding the
    /// training part returns them).
    public func history(of user: UInt32) -> UserHistory { history(of: user, from: training) }

    /// Distinct items `user` has in the training part (summed weight > 0): ≤ 3 makes a cold user.
    func trainingItems(of user: UInt32) -> Int { Int(user) < train.rows ? train.row(Int(user)).indices.count : 0 }

    /// `user`'s history read from `source`.
    func history(of user: UInt32, from source: HistorySource) -> UserHistory {
        let rows = source.rows
        let row: (indices: ArraySlice<UInt32>, values: ArraySlice<Float>) =
            Int(user) < rows.rows ? rows.row(Int(user)) : ([], [])
        let range = Int(user) < source.ranges.count ? source.ranges[Int(user)] : 0..<0
        let log = source.log
        var recent: [HistoryEntry] = []
        recent.reserveCapacity(min(range.count, UserHistory.window))
        for index in range.reversed().prefix(UserHistory.window) {
            recent.append(
                HistoryEntry(
                    timestamp: Timestamp(milliseconds: log.times[index]), sequence: UInt64(index),
                    itemID: log.items[index], sessionID: index < log.sessions.count ? log.sessions[index] : 0))
        }
        let met = Int(user) < source.met.rows ? source.met.row(Int(user)).indices : []
        var history = UserHistory(items: row.indices, weights: row.values, recent: recent, met: met, sessionGap: sessionGap)
        let trainingRange = Int(user) < training.ranges.count ? training.ranges[Int(user)] : 0..<0
        history.newSinceTraining = range.count > trainingRange.count
        return history
    }

    /// `model`'s top K for `user` (best first), leaving out every item the user met in training; `scores` is
    /// scratch space of ``InteractionMatrix/columns`` floats.
    func ranking(
        for user: UInt32, history: UserHistory, model: some Recommender, scores: UnsafeMutableBufferPointer<Float>,
        depth: Int? = nil
    ) -> [UInt32] {
        scores.update(repeating: 0)
        model.score(user: user, history: history, into: scores)
        for item in history.met where Int(item) < scores.count { scores[Int(item)] = -.infinity }
        return Self.topK(scores, k: depth ?? k)
    }

    /// `model`'s top K for `user`, best first: the list the metrics score on the validation part, or with `atTest`
    /// on the test part (the history ``testHistory`` says).
    public func ranking(for user: UInt32, model: some Recommender, atTest: Bool = false) -> [UInt32] {
        let scores = UnsafeMutableBufferPointer<Float>.allocate(capacity: train.columns)
        defer { scores.deallocate() }
        return ranking(for: user, history: history(of: user, from: atTest ? self.atTest : training), model: model, scores: scores)
    }

    /// The indices of the `k` largest finite scores, best first (ties by lower id): ``TopScores/indices(_:k:)``.
    static func topK(_ scores: UnsafeMutableBufferPointer<Float>, k: Int) -> [UInt32] {
        TopScores.indices(scores, k: k)
    }

    func meanPairwiseSimilarity(_ items: [UInt32], model: some Recommender) -> Double? {
        var total = 0.0, pairs = 0
        let vectors = items.map { diversityByFeatures ? nil : model.itemVector($0) }
        for i in 0..<items.count {
            for j in (i + 1)..<items.count {
                if let a = vectors[i], let b = vectors[j] {
                    var dot: Float = 0, na: Float = 0, nb: Float = 0
                    for d in 0..<a.count {
                        dot += a[d] * b[d]
                        na += a[d] * a[d]
                        nb += b[d] * b[d]
                    }
                    // Factor vectors can point apart (cosine < 0); count that as no similarity, so diversity stays
                    // in [0, 1] like the Jaccard fallback of models without vectors.
                    total += na > 0 && nb > 0 ? min(1, max(0, Double(dot / (na.squareRoot() * nb.squareRoot())))) : 0
                    pairs += 1
                } else {
                    let a = itemFeatures[items[i]] ?? [], b = itemFeatures[items[j]] ?? []
                    let union = a.union(b).count
                    guard union > 0 else { continue }
                    total += Double(a.intersection(b).count) / Double(union)
                    pairs += 1
                }
            }
        }
        return pairs > 0 ? total / Double(pairs) : nil
    }
}
