import Foundation
import Testing
@testable import RecNeural

/// Every loss's value against a direct computation and its gradient against finite differences.
@Suite struct LossGradientTests {
    let check = GradientCheck()

    @Test func binaryCrossEntropy() {
        let x = randomParameter("x", Shape(6), seed: 30, std: 2)
        let targets: [Float] = [1, 0, 1, 0, 1, 0]
        let weights: [Float] = [1, 1, 0, 2, 1, 1]
        check.check([x]) { t in
            t.binaryCrossEntropy(logits: t.parameter(x), targets: targets.withUnsafeBufferPointer { $0 },
                weights: weights.withUnsafeBufferPointer { $0 })
        }
        let t = Tape()
        let loss = targets.withUnsafeBufferPointer { tb in
            weights.withUnsafeBufferPointer { wb in t.binaryCrossEntropy(logits: t.parameter(x), targets: tb, weights: wb) }
        }
        var expected: Double = 0
        for i in 0..<6 {
            let s = 1 / (1 + exp(-Double(x.value[i])))
            expected -= Double(weights[i]) * (Double(targets[i]) * log(s) + (1 - Double(targets[i])) * log(1 - s))
        }
        expected /= 6
        #expect(abs(Double(t.scalar(loss)) - expected) < 1e-5)
    }

    @Test func bpr() {
        let p = randomParameter("positive", Shape(5), seed: 31)
        let n = randomParameter("negative", Shape(5), seed: 32)
        let weights: [Float] = [1, 0, 1, 1, 1]
        check.check([p, n]) { t in
            weights.withUnsafeBufferPointer { t.bpr(positive: t.parameter(p), negative: t.parameter(n), weights: $0) }
        }
    }

    @Test func softmaxCrossEntropy() {
        let x = randomParameter("x", Shape(4, 5), seed: 33, std: 2)
        let targets: [Int32] = [3, 0, 4, 1]
        let weights: [Float] = [1, 1, 0, 1]
        check.check([x]) { t in
            targets.withUnsafeBufferPointer { tb in
                weights.withUnsafeBufferPointer { t.softmaxCrossEntropy(logits: t.parameter(x), targets: tb, weights: $0) }
            }
        }
        let t = Tape()
        let loss = targets.withUnsafeBufferPointer { t.softmaxCrossEntropy(logits: t.parameter(x), targets: $0) }
        var expected: Double = 0
        for r in 0..<4 {
            let row = (0..<5).map { Double(x.value[r * 5 + $0]) }
            expected += log(row.map { exp($0) }.reduce(0, +)) - row[Int(targets[r])]
        }
        #expect(abs(Double(t.scalar(loss)) - expected / 4) < 1e-5)
    }

    @Test func sampledSoftmaxWithLogQAndAccidentalHit() {
        let p = randomParameter("positive", Shape(3), seed: 34)
        let n = randomParameter("negatives", Shape(3, 4), seed: 35)
        let positiveIDs: [Int32] = [7, 2, 9]
        let negativeIDs: [Int32] = [1, 2, 3, 4]  // row 1's positive is sampled: left out
        let positiveLogQ: [Float] = [-2, -1.5, -3]
        let negativeLogQ: [Float] = [-1, -1.5, -2, -2.5]
        func loss(_ t: Tape) -> Variable {
            t.sampledSoftmax(positive: t.parameter(p), negatives: t.parameter(n),
                positiveIDs: positiveIDs.withUnsafeBufferPointer { $0 },
                negativeIDs: negativeIDs.withUnsafeBufferPointer { $0 },
                positiveLogQ: positiveLogQ.withUnsafeBufferPointer { $0 },
                negativeLogQ: negativeLogQ.withUnsafeBufferPointer { $0 })
        }
        check.check([p, n], loss)
        let t = Tape()
        let value = t.scalar(loss(t))
        var expected: Double = 0
        for r in 0..<3 {
            let z0 = Double(p.value[r] - positiveLogQ[r])
            var logits = [z0]
            for s in 0..<4 where negativeIDs[s] != positiveIDs[r] {
                logits.append(Double(n.value[r * 4 + s] - negativeLogQ[s]))
            }
            expected += log(logits.map { exp($0) }.reduce(0, +)) - z0
        }
        #expect(abs(Double(value) - expected / 3) < 1e-5)
    }
}
