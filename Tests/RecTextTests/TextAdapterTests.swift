import Foundation
import Testing

@testable import RecDB
@testable import RecText

/// The fine-tuned text adapter: trained contrastively on co-interaction pairs, it pulls items met one after the
/// other together, starts as the identity, and its generation serves like the text model's.
@Suite("Text adapter")
struct TextAdapterTests {
    /// 12 items in 3 groups whose vectors do not show the grouping (random unit vectors); users meet a group's items
    /// one after the other.
    static func fixture() -> (vectors: [Float], log: InteractionLog, d: Int) {
        let d = 8, items = 12
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        var vectors = [Float](repeating: 0, count: items * d)
        for row in 0..<items {
            var v = (0..<d).map { _ in next() }
            let norm = sqrt(v.reduce(0) { $0 + $1 * $1 })
            v = v.map { $0 / norm }
            vectors.replaceSubrange(row * d..<(row + 1) * d, with: v)
        }
        var log = InteractionLog()
        for user in 0..<60 {
            let group = user % 3
            for k in 0..<4 { log.append(user: UInt32(user), item: UInt32(group * 4 + (user + k) % 4), weight: 1, time: Int64(k)) }
        }
        return (vectors, log, d)
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func trainingPullsCoInteractedItemsTogether() {
        let (vectors, log, d) = Self.fixture()
        let hasVector = [Bool](repeating: true, count: 12)
        let pairs = TextAdapter.pairs(log, hasVector: hasVector, limit: .max)
        #expect(pairs.count == 60 * 3 && pairs.allSatisfy { $0.0 / 4 == $0.1 / 4 && $0.0 != $0.1 })

        let identity = TextAdapter(dimension: d, weights: [Float](repeating: 0, count: d * d))
        #expect(zip(identity.adaptAll(vectors), vectors).allSatisfy { abs($0 - $1) < 1e-5 })

        var settings = TextAdapter.Settings()
        settings.epochs = 30
        settings.batchSize = 32
        settings.learningRate = 0.01
        settings.temperature = 0.1
        let (adapter, losses) = TextAdapter.train(
            itemVectors: vectors, hasVector: hasVector, dimension: d, log: log, settings: settings)
        #expect(losses.count == 30 && losses.last! < losses.first! * 0.8, "\(losses)")
        func gap(_ table: [Float]) -> Float {
            var inside: Float = 0, across: Float = 0
            for a in 0..<12 {
                for b in 0..<12 where a != b {
                    let c = Self.cosine(Array(table[a * d..<(a + 1) * d]), Array(table[b * d..<(b + 1) * d]))
                    if a / 4 == b / 4 { inside += c / 36 } else { across += c / 96 }
                }
            }
            return inside - across
        }
        let adapted = adapter.adaptAll(vectors)
        #expect(gap(adapted) > gap(vectors) + 0.2, "\(gap(vectors)) → \(gap(adapted))")
        // Unit length, as the cosine space stores them.
        #expect(abs(Self.cosine(Array(adapted[0..<d]), Array(adapted[0..<d])) - 1) < 1e-4)
    }

    /// A wider window joins items further apart; hard negatives are near by the frozen vectors and never met.
    @Test func windowPairsAndHardNegativesTrainToo() {
        let (vectors, log, d) = Self.fixture()
        let hasVector = [Bool](repeating: true, count: 12)
        let consecutive = TextAdapter.pairs(log, hasVector: hasVector, limit: .max, window: 1)
        let wide = TextAdapter.pairs(log, hasVector: hasVector, limit: .max, window: 3)
        #expect(wide.count == 60 * 6 && Set(consecutive.map { "\($0)" }).isSubset(of: Set(wide.map { "\($0)" })))
        let hard = TextAdapter.hardCandidates(itemVectors: vectors, hasVector: hasVector, dimension: d, pairs: wide)
        // Every item met the three others of its group, so its hard negatives are the 8 items of other groups.
        #expect(hard.enumerated().allSatisfy { item, near in near.count == 8 && near.allSatisfy { Int($0) / 4 != item / 4 } })
        var settings = TextAdapter.Settings()
        (settings.epochs, settings.batchSize, settings.learningRate, settings.temperature) = (30, 32, 0.01, 0.1)
        (settings.window, settings.hardNegatives) = (3, 1)
        let (adapter, losses) = TextAdapter.train(
            itemVectors: vectors, hasVector: hasVector, dimension: d, log: log, settings: settings)
        #expect(losses.last! < losses.first! * 0.8, "\(losses)")
        let adapted = adapter.adaptAll(vectors)
        let row = { (i: Int, t: [Float]) in Array(t[i * d..<(i + 1) * d]) }
        #expect(Self.cosine(row(0, adapted), row(1, adapted)) > Self.cosine(row(0, vectors), row(1, vectors)))
    }
}
