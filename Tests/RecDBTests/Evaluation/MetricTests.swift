import Foundation
import Testing

@testable import RecDB

/// The evaluator's metrics on a hand-built split and a model with fixed scores, against values worked out by hand.
@Suite("Evaluation metrics")
struct MetricTests {
    /// Ranks every user's items by one fixed score per item id; item vectors when given.
    struct FixedScores: Recommender {
        let name = "fixed"
        let scores: [Float]
        var vectors: [[Float]]? = nil

        func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
            for i in 0..<min(scores.count, self.scores.count) { scores[i] = self.scores[i] }
        }

        func itemVector(_ item: UInt32) -> [Float]? { vectors?[Int(item)] }
    }

    /// Items 0…6 scored 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1 (item 0 best), so with training items left out and K = 2:
    ///
    /// | user | training    | list   | test   |
    /// |------|-------------|--------|--------|
    /// | 0    | 0 1         | 2 3    | 3      |
    /// | 1    | 0           | 1 2    | 2 5    |
    /// | 2    | 0 1 2 3     | 4 5    | 4      |
    /// | 3    | 4           | 0 1    | 5      |
    static let model = FixedScores(scores: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1])

    static func split() -> EvaluationSplit {
        var split = EvaluationSplit(InteractionLog(), kind: .leaveLastOut)
        split.train = .pairs([(0, 0), (0, 1), (1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (3, 4)], users: 4, items: 7)
        split.test = [0: [3], 1: [2, 5], 2: [4], 3: [5]]
        split.validation = [1: [1]]
        return split
    }

    static func expectClose(
        _ actual: Double?, _ expected: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let shown = actual.map { "\($0)" } ?? "nil"
        #expect(
            actual.map { abs($0 - expected) < 1e-9 } == true, "\(what): \(shown), expected \(expected)",
            sourceLocation: sourceLocation)
    }

    @Test(arguments: [1, 3])
    func rankingMetricsMatchHandComputedValues(threads: Int) throws {
        let evaluator = Evaluator(split: Self.split(), k: 2, catalogItems: 7)
        let result = evaluator.evaluate(Self.model, threads: threads)
        let l = log2(3.0)
        // Per user (precision, recall, F1, NDCG, reciprocal rank, hit):
        //   user 0: 3 at rank 2 → 1/2, 1/1, 2·½·1/(½+1) = 2/3, (1/log2 3)/1, 1/2, 1
        //   user 1: 2 at rank 2 of relevant {2, 5} → 1/2, 1/2, 1/2, (1/log2 3)/(1 + 1/log2 3) = 1/(log2 3 + 1), 1/2, 1
        //   user 2: 4 at rank 1 → 1/2, 1, 2/3, 1, 1, 1
        //   user 3: nothing → 0 everywhere
        #expect(result.users == 4)
        #expect(result.k == 2 && result.model == "fixed" && result.split == "leave-last-out")
        Self.expectClose(result.precision, (0.5 + 0.5 + 0.5 + 0) / 4, "precision")  // 0.375
        Self.expectClose(result.recall, (1 + 0.5 + 1 + 0) / 4, "recall")  // 0.625
        Self.expectClose(result.f1, (2.0 / 3 + 0.5 + 2.0 / 3 + 0) / 4, "F1")  // 11/24
        Self.expectClose(result.ndcg, (1 / l + 1 / (l + 1) + 1 + 0) / 4, "NDCG")
        Self.expectClose(result.mrr, (0.5 + 0.5 + 1 + 0) / 4, "MRR")
        Self.expectClose(result.hitRate, 3.0 / 4, "hit rate")
        // Lists {2, 3} ∪ {1, 2} ∪ {4, 5} ∪ {0, 1} = 6 distinct items of 7 (item 6 never makes a list).
        Self.expectClose(result.coverage, 6.0 / 7, "coverage")
        // Novelty: training users per item 0…5 = 3, 2, 1, 1, 1, 0 of 4 active users; share = (users + 0.5) / 4 =
        // 0.875, 0.625, 0.375, 0.375, 0.375, 0.125. The 8 listed items are 2 3 | 1 2 | 4 5 | 0 1:
        // four at 0.375 (2, 3, 2, 4), two at 0.625 (1, 1), one at 0.125 (5), one at 0.875 (0).
        let novelty = (4 * -log2(0.375) + 2 * -log2(0.625) + -log2(0.125) + -log2(0.875)) / 8
        Self.expectClose(result.novelty, novelty, "novelty")
        // No vectors and no item features: diversity is not measured.
        #expect(result.diversity == nil)
        // Cold start: users with at most 3 training items are 0 (2), 1 (1) and 3 (1); user 2 has 4.
        let cold = try #require(result.coldStart)
        #expect(cold.users == 3)
        Self.expectClose(cold.ndcg, (1 / l + 1 / (l + 1) + 0) / 3, "cold NDCG")
        Self.expectClose(cold.recall, (1 + 0.5 + 0) / 3, "cold recall")
        Self.expectClose(cold.hitRate, 2.0 / 3, "cold hit rate")
    }

    @Test func validationUsesTheValidationItems() {
        let evaluator = Evaluator(split: Self.split(), k: 2, catalogItems: 7)
        let result = evaluator.evaluate(Self.model, onValidation: true, threads: 2)
        // Only user 1 has a validation item (1), first in its list 1 2.
        #expect(result.users == 1)
        Self.expectClose(result.ndcg, 1, "NDCG")
        Self.expectClose(result.mrr, 1, "MRR")
        Self.expectClose(result.precision, 0.5, "precision")
        Self.expectClose(result.coverage, 2.0 / 7, "coverage")
    }

    @Test func noColdStartSliceWithoutColdUsers() {
        var split = Self.split()
        split.test = [2: [4]]
        let result = Evaluator(split: split, k: 2, catalogItems: 7).evaluate(Self.model)
        #expect(result.users == 1)
        #expect(result.coldStart == nil)
    }

    @Test func diversityUsesCosineOfItemVectors() {
        var model = Self.model
        model.vectors = [[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [1, -1], [1, 0]]
        // Lists 2 3 | 1 2 | 4 5 | 0 1 → cosines 1, 0, 0 ((1,1)·(1,−1) = 0), 1 → 1 − cos = 0, 1, 1, 0.
        let result = Evaluator(split: Self.split(), k: 2, catalogItems: 7).evaluate(model)
        Self.expectClose(result.diversity, (0 + 1 + 1 + 0) / 4, "diversity")
    }

    @Test func itemVectorsPointingApartCountAsUnrelated() {
        var model = Self.model
        model.vectors = [[1, 0], [1, 0], [-1, 0], [-1, 0], [1, 1], [-1, -1], [1, 0]]
        // Lists 2 3 | 1 2 | 4 5 | 0 1 → cosines 1, −1, −1, 1, clamped to 1, 0, 0, 1 → 1 − cos = 0, 1, 1, 0
        // (unclamped, 1 − (−1) = 2 would take diversity to 1).
        let result = Evaluator(split: Self.split(), k: 2, catalogItems: 7).evaluate(model)
        Self.expectClose(result.diversity, (0 + 1 + 1 + 0) / 4, "diversity")
    }

    @Test func diversityFallsBackToJaccardOfFeatures() {
        let features: [UInt32: Set<String>] = [
            0: ["a", "b"], 1: ["b", "c"], 2: ["x"], 3: ["x"], 4: ["p", "q", "r"], 5: ["q"],
        ]
        // Lists 2 3 | 1 2 | 4 5 | 0 1 → Jaccard {x}/{x} = 1, {}/{b,c,x} = 0, {q}/{p,q,r} = 1/3, {b}/{a,b,c} = 1/3
        // → 1 − J = 0, 1, 2/3, 2/3; mean 7/12.
        let result = Evaluator(split: Self.split(), k: 2, catalogItems: 7, itemFeatures: features).evaluate(Self.model)
        Self.expectClose(result.diversity, (0 + 1 + 2.0 / 3 + 2.0 / 3) / 4, "diversity")
        // Lists whose items have no features at all are left out: without features for 4 and 5, the mean is over
        // lists 2 3, 1 2 and 0 1 → (0 + 1 + 2/3) / 3 = 5/9.
        var partial = features
        partial[4] = nil
        partial[5] = nil
        let fewer = Evaluator(split: Self.split(), k: 2, catalogItems: 7, itemFeatures: partial).evaluate(Self.model)
        Self.expectClose(fewer.diversity, (0 + 1 + 2.0 / 3) / 3, "diversity with items 4, 5 unfeatured")
    }

    /// Items met in training never make a list, not even the model's favourites, nor an item bought and returned
    /// (whose weights sum to zero, so it is not in the training matrix).
    @Test func trainingItemsAreNeverRanked() {
        var split = EvaluationSplit(InteractionLog(), kind: .leaveLastOut)
        split.train = .of(
            [(0, 0, 1, 0), (0, 1, 1, 1), (0, 2, 5, 2), (0, 2, -5, 3), (1, 5, 1, 4)], users: 2, items: 7)
        // A hand-made test item that is also a training item (a real split skips such users).
        split.test = [0: [0]]
        let model = FixedScores(scores: [0.9, 0.8, 0.95, 0.6, 0.5, 0.4, 0.1])
        let result = Evaluator(split: split, k: 10, catalogItems: 7).evaluate(model)
        #expect(result.users == 1)
        #expect(result.hitRate == 0 && result.ndcg == 0 && result.precision == 0)
        // K = 10 but only items 3, 4, 5, 6 are candidates for user 0: 4 of 7 items.
        Self.expectClose(result.coverage, 4.0 / 7, "coverage")
    }

    @Test func topKKeepsTheBestFiniteScoresTiesByLowerID() {
        var scores: [Float] = [0.5, -Float.infinity, 0.9, 0.5, 0.7, .nan]
        let top = scores.withUnsafeMutableBufferPointer { Evaluator.topK($0, k: 4) }
        #expect(top == [2, 4, 0, 3])
        let all = scores.withUnsafeMutableBufferPointer { Evaluator.topK($0, k: 10) }
        #expect(all == [2, 4, 0, 3])
    }

    /// Recommends the item after the user's newest one (id + 1), then the ones after that: a sequence model in
    /// miniature, so the list shows which events the history held.
    struct NextAfterNewest: Recommender {
        let name = "next"

        func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
            guard let newest = history.recent.first?.itemID else { return }
            for i in 0..<scores.count where i > Int(newest) { scores[i] = 1 / Float(i - Int(newest)) }
        }
    }

    /// Under the standard protocol the validation events join the histories the test part is scored with, and the
    /// models stay trained on the training part; `training-only` withholds them (a gap before the test). A test item
    /// the user already met in validation is not scored; cold users are counted on training events either way.
    @Test func testHistoriesHoldTheValidationEventsUnlessWithheld() {
        // user 0: 1 2 3 | 4 | 5 — user 1: 1 2 | 6 | 6 again (the test item was met in validation).
        let log = InteractionLog.of(
            [
                (0, 1, 1, 10), (0, 2, 1, 11), (0, 3, 1, 12), (0, 4, 1, 13), (0, 5, 1, 14),
                (1, 1, 1, 20), (1, 2, 1, 21), (1, 6, 1, 22), (1, 6, 1, 23),
            ], users: 2, items: 8)
        let split = EvaluationSplit(log, kind: .leaveLastOut)
        #expect(split.test == [0: [5], 1: [6]])
        let standard = Evaluator(split: split, k: 1, catalogItems: 8)
        #expect(standard.testHistory == .withValidation)
        let withValidation = standard.evaluate(NextAfterNewest())
        #expect(withValidation.users == 1, "user 1's test item is in their history: not scored")
        Self.expectClose(withValidation.hitRate, 1, "after 4 (validation) comes 5 (test)")
        #expect(withValidation.coldStart?.users == 1, "user 0 has 3 training items: cold on training events")
        let withheld = Evaluator(split: split, k: 1, catalogItems: 8, testHistory: .trainingOnly)
            .evaluate(NextAfterNewest())
        #expect(withheld.users == 2)
        Self.expectClose(withheld.hitRate, 0, "after 3 comes 4, the withheld validation item; after 2 comes 3")
        // The validation part is scored with training histories whatever the setting: user 0 (after 3 comes 4)
        // hits, user 1 (after 2 comes 3, not 6) does not.
        Self.expectClose(standard.evaluate(NextAfterNewest(), onValidation: true).hitRate, 0.5, "validation")
        #expect(standard.history(of: 0).recent.map(\.itemID) == [3, 2, 1])
    }
}

