import Foundation
import Testing

@testable import RecDB

/// Each model on data small enough to know the answer.
@Suite("Models")
struct ModelTests {
    /// Two groups of users, each interacting with every item of its own group of 4 items and none of the other's,
    /// with one pair per group held out: users 0…5 × items 0…3 without (0, 3); users 6…11 × items 4…7 without (6, 7).
    static let blocks: InteractionLog = {
        var pairs: [(UInt32, UInt32)] = []
        for user in UInt32(0)..<12 {
            let first: UInt32 = user < 6 ? 0 : 4
            for item in first..<first + 4 where !(user == 0 && item == 3) && !(user == 6 && item == 7) {
                pairs.append((user, item))
            }
        }
        return .pairs(pairs, users: 12, items: 8)
    }()

    static func group(_ user: UInt32) -> Range<UInt32> { user < 6 ? 0..<4 : 4..<8 }

    // MARK: - ALS

    static var smallALS: ALSModel.Parameters {
        var p = ALSModel.Parameters()
        p.factors = 2
        p.iterations = 15
        p.alpha = 5
        return p
    }

    @Test func alsRecoversPlantedBlocks() {
        let model = ALSModel(log: Self.blocks, parameters: Self.smallALS, threads: 1)
        #expect(model.userFactors.count == 12 * 2 && model.itemFactors.count == 8 * 2)
        // The held-out pair inside each block scores above every item of the other block.
        let user0 = model.scores(for: 0, in: Self.blocks, items: 8)
        #expect(user0[3] > user0[4..<8].max()!, "\(user0)")
        let user6 = model.scores(for: 6, in: Self.blocks, items: 8)
        #expect(user6[7] > user6[0..<4].max()!, "\(user6)")
        // And every user ranks all of its own block above all of the other.
        for user in UInt32(0)..<12 {
            let scores = model.scores(for: user, in: Self.blocks, items: 8)
            let own = Self.group(user).map { scores[Int($0)] }
            let other = (0..<8).filter { !Self.group(user).contains(UInt32($0)) }.map { scores[$0] }
            #expect(own.min()! > other.max()!, "user \(user): \(scores)")
        }
        #expect(model.itemVector(3)?.count == 2)
        #expect(model.itemVector(8) == nil)
    }

    @Test func alsIsDeterministicForASeed() {
        let first = ALSModel(log: Self.blocks, parameters: Self.smallALS, threads: 1)
        let second = ALSModel(log: Self.blocks, parameters: Self.smallALS, threads: 1)
        #expect(first.userFactors == second.userFactors)
        #expect(first.itemFactors == second.itemFactors)
        // Rows are solved independently, so threads do not change the result either.
        let threaded = ALSModel(log: Self.blocks, parameters: Self.smallALS, threads: 3)
        #expect(threaded.userFactors == first.userFactors && threaded.itemFactors == first.itemFactors)
        var other = Self.smallALS
        other.seed = 7
        #expect(ALSModel(log: Self.blocks, parameters: other, threads: 1).itemFactors != first.itemFactors)
    }

    // MARK: - BPR

    static var smallBPR: BPRModel.Parameters {
        var p = BPRModel.Parameters()
        p.factors = 4
        p.learningRate = 0.05
        p.iterations = 300
        return p
    }

    @Test func bprRanksObservedAboveUnobservedForMostUsers() {
        // Ten users, two groups of five items; user u meets 3 items of its group: u, u+1, u+2 (mod 5).
        var pairs: [(UInt32, UInt32)] = []
        for user in UInt32(0)..<10 {
            let first: UInt32 = user < 5 ? 0 : 5
            for offset in UInt32(0)..<3 { pairs.append((user, first + (user % 5 + offset) % 5)) }
        }
        let log = InteractionLog.pairs(pairs, users: 10, items: 10)
        let model = BPRModel(log: log, parameters: Self.smallBPR, threads: 1)
        #expect(model.userFactors.count == 10 * 5 && model.itemFactors.count == 10 * 5)
        #expect(model.itemVector(0)?.count == 4)
        // Per user, the share of (observed, unobserved) pairs in the right order (AUC).
        var aucs: [Double] = []
        for user in UInt32(0)..<10 {
            let scores = model.scores(for: user, in: log, items: 10)
            let observed = Set(pairs.filter { $0.0 == user }.map { Int($0.1) })
            var right = 0, all = 0
            for i in observed {
                for j in 0..<10 where !observed.contains(j) {
                    all += 1
                    if scores[i] > scores[j] { right += 1 }
                }
            }
            aucs.append(Double(right) / Double(all))
        }
        #expect(aucs.filter { $0 >= 0.8 }.count >= 8, "\(aucs)")
        #expect(aucs.reduce(0, +) / 10 > 0.8, "\(aucs)")
    }

    @Test func bprIsDeterministicForASeedOnOneThread() {
        let first = BPRModel(log: Self.blocks, parameters: Self.smallBPR, threads: 1)
        let second = BPRModel(log: Self.blocks, parameters: Self.smallBPR, threads: 1)
        #expect(first.userFactors == second.userFactors)
        #expect(first.itemFactors == second.itemFactors)
    }

    // MARK: - Item-kNN

    /// Items 0 and 1 are bought together by users 0…4 (and 1 alone by user 8); item 2 by users 0, 5, 6; item 3 by
    /// users 1, 7. Binary cosine = common users / √(users of a · users of b):
    /// (0,1) = 5/√(5·6), (0,2) = 1/√(5·3), (0,3) = 1/√(5·2), (1,2) = 1/√(6·3), (1,3) = 1/√(6·2), (2,3) = 0.
    static let basket = InteractionLog.pairs(
        [
            (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 3), (2, 0), (2, 1), (3, 0), (3, 1), (4, 0), (4, 1),
            (5, 2), (6, 2), (7, 3), (8, 1),
        ], users: 9, items: 4)

    static func expectNeighbours(
        _ actual: [(item: UInt32, similarity: Float)], _ expected: [(UInt32, Double)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(actual.map(\.item) == expected.map(\.0), "\(actual)", sourceLocation: sourceLocation)
        for (a, e) in zip(actual, expected) {
            #expect(abs(Double(a.similarity) - e.1) < 1e-6, "\(a) vs \(e)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [1, 2])
    func itemKNNFindsTheCoPurchasedPair(threads: Int) {
        let model = ItemKNNModel(log: Self.basket, neighbours: 10, threads: threads)
        #expect(model.lists.count == 4)
        Self.expectNeighbours(model.lists[0], [(1, 5 / sqrt(30)), (3, 1 / sqrt(10)), (2, 1 / sqrt(15))])
        Self.expectNeighbours(model.lists[1], [(0, 5 / sqrt(30)), (3, 1 / sqrt(12)), (2, 1 / sqrt(18))])
        Self.expectNeighbours(model.lists[2], [(0, 1 / sqrt(15)), (1, 1 / sqrt(18))])
        Self.expectNeighbours(model.lists[3], [(0, 1 / sqrt(10)), (1, 1 / sqrt(12))])
        // A user's score for an item sums its similarities to the user's history: user 5 has item 2 only.
        let scores = model.scores(for: 5, in: Self.basket, items: 4)
        #expect(abs(Double(scores[0]) - 1 / sqrt(15)) < 1e-6 && abs(Double(scores[1]) - 1 / sqrt(18)) < 1e-6)
        #expect(scores[3] == -.infinity, "no list of the user's items names item 3: not a candidate, as in serving")
        // User 7 (item 3) and user 1 (items 0, 1, 3): item 2 gets 1/√15 + 1/√18.
        let user1 = model.scores(for: 1, in: Self.basket, items: 4)
        #expect(abs(Double(user1[2]) - (1 / sqrt(15) + 1 / sqrt(18))) < 1e-6)
    }

    @Test func itemKNNKeepsTheTopNeighbours() {
        let model = ItemKNNModel(log: Self.basket, neighbours: 1, threads: 1)
        Self.expectNeighbours(model.lists[0], [(1, 5 / sqrt(30))])
        Self.expectNeighbours(model.lists[1], [(0, 5 / sqrt(30))])
        Self.expectNeighbours(model.lists[3], [(0, 1 / sqrt(10))])
    }

    /// Conditional probability P(j | i) = common users / users of i, so asymmetric: (0→1) = 5/5, (1→0) = 5/6,
    /// (0→2) = (0→3) = 1/5, (1→2) = (1→3) = 1/6, (2→0) = (2→1) = 1/3, (3→0) = (3→1) = 1/2. Ties by lower id.
    @Test func itemKNNConditionalProbabilityIsAsymmetric() {
        let model = ItemKNNModel(log: Self.basket, neighbours: 10, similarity: .conditionalProbability, threads: 1)
        Self.expectNeighbours(model.lists[0], [(1, 1), (2, 1.0 / 5), (3, 1.0 / 5)])
        Self.expectNeighbours(model.lists[1], [(0, 5.0 / 6), (2, 1.0 / 6), (3, 1.0 / 6)])
        Self.expectNeighbours(model.lists[2], [(0, 1.0 / 3), (1, 1.0 / 3)])
        Self.expectNeighbours(model.lists[3], [(0, 1.0 / 2), (1, 1.0 / 2)])
    }

    // MARK: - Popularity

    @Test func popularityDecaysWithAge() {
        let day: Int64 = 86_400_000
        var events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)] = []
        // Item 0: ten views 60 days before the newest event. Item 1: two views at the newest time.
        for user in UInt32(0)..<10 { events.append((user, 0, 1, 0)) }
        events += [(0, 1, 1, 60 * day), (1, 1, 1, 60 * day)]
        // Item 2: a view and a return (weight −5) — returns add nothing, and take nothing away.
        events += [(2, 2, 1, 60 * day), (2, 2, -5, 60 * day)]
        let log = InteractionLog.of(events, users: 10, items: 4)

        // Half-life 1 day: item 0 = 10 · 2^−60, item 1 = 2 · 2^0 = 2, item 2 = 1.
        let recent = PopularityModel(log: log, halfLifeDays: 1)
        #expect(recent.scores[1] == 2)
        #expect(recent.scores[2] == 1)
        #expect(abs(Double(recent.scores[0]) - 10 * exp2(-60.0)) < 1e-20)
        #expect(recent.top(3, among: [0, 1, 2, 3]).map(\.item) == [1, 2, 0])
        // Half-life 1000 days: item 0 = 10 · 2^−0.06 ≈ 9.59, above item 1.
        let slow = PopularityModel(log: log, halfLifeDays: 1000)
        #expect(abs(Double(slow.scores[0]) - 10 * exp2(-0.06)) < 1e-4)
        #expect(slow.top(2, among: [0, 1, 2, 3]).map(\.item) == [0, 1])
        // Every user gets the same scores; an item nobody met is no candidate, as in serving.
        #expect(slow.scores(for: 3, in: log, items: 4) == slow.scores.map { $0 > 0 ? $0 : -.infinity })
        // Among candidates only, ties by lower id.
        #expect(slow.top(5, among: [3, 2]).map(\.item) == [2, 3])
    }
}
