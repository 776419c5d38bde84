import Foundation
import Testing
@testable import RecNeural

/// Optimizers against hand-computed steps; schedules, batching, early stopping, the arena.
@Suite struct TrainingToolsTests {
    /// One scalar parameter at 1, given gradient 0.5 then −1.
    func twoSteps(_ variant: AdamOptimizer.Variant, weightDecay: Float) -> (Float, Float) {
        let p = Parameter("w", shape: Shape(1))
        p.fill(1)
        let adam = AdamOptimizer(parameters: [p], variant: variant, weightDecay: weightDecay)
        p.gradient[0] = 0.5
        adam.step(learningRate: 0.1)
        let first = p.value[0]
        p.gradient[0] = -1
        adam.step(learningRate: 0.1)
        return (first, p.value[0])
    }

    @Test func adamMatchesHandComputedSteps() {
        let (first, second) = twoSteps(.adam, weightDecay: 0)
        // Step 1: m̂ = 0.5, v̂ = 0.25, so θ = 1 − 0.1 · 0.5 / 0.5 = 0.9.
        #expect(abs(first - 0.9) < 1e-6)
        // Step 2: m = 0.9·0.05 − 0.1 = −0.055, v = 0.999·0.00025 + 0.001 = 0.00124975;
        // m̂ = −0.055 / 0.19, v̂ = 0.00124975 / 0.001999; θ = 0.9 − 0.1 · m̂ / √v̂ = 0.936611.
        #expect(abs(second - 0.936611) < 1e-5)
    }

    @Test func adamWeightDecayIsAnL2Term() {
        let (first, second) = twoSteps(.adam, weightDecay: 0.1)
        #expect(abs(first - 0.9) < 1e-6)  // the gradient 0.5 + 0.1 · 1 still takes a full first step
        // Step 2: g = −1 + 0.1 · 0.9 = −0.91; m = 0.9·0.06 − 0.091 = −0.037, v = 0.999·0.00036 + 0.001·0.8281.
        let m = -0.037 / 0.19, v = (0.999 * 0.00036 + 0.001 * 0.8281) / 0.001999
        #expect(abs(Double(second) - (0.9 - 0.1 * m / v.squareRoot())) < 1e-5)
    }

    @Test func adamWDecouplesWeightDecay() {
        let (first, _) = twoSteps(.adamW, weightDecay: 0.1)
        // θ = 1 · (1 − 0.1 · 0.1) − 0.1 · 1 = 0.89.
        #expect(abs(first - 0.89) < 1e-6)
        let bias = Parameter("b", shape: Shape(1), decays: false)
        bias.fill(1)
        let adam = AdamOptimizer(parameters: [bias], variant: .adamW, weightDecay: 0.1)
        bias.gradient[0] = 0.5
        adam.step(learningRate: 0.1)
        #expect(abs(bias.value[0] - 0.9) < 1e-6, "no decay where `decays` is false")
    }

    @Test func clippingScalesToTheGlobalNorm() {
        let a = Parameter("a", shape: Shape(2)), b = Parameter("b", shape: Shape(1))
        a.gradient[0] = 3
        a.gradient[1] = 0
        b.gradient[0] = 4
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(norm == 5)
        #expect(abs(a.gradient[0] - 0.6) < 1e-6 && abs(b.gradient[0] - 0.8) < 1e-6)
        #expect(clipGradientNorm([a, b], maxNorm: 10) < 1.0001, "below the limit nothing changes")
    }

    @Test func clippingASparseTableMatchesTheDenseNorm() {
        let table = randomParameter("table", Shape(40, 20), seed: 3)
        let tape = Tape(seed: 1)
        let rows: [Int32] = [7, 3, 7, 31]
        let gathered = rows.withUnsafeBufferPointer { tape.gather(table, rows: $0) }
        tape.backward(tape.sum(tape.multiply(gathered, gathered)))
        let dense = table.gradient.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        let before = Array(table.gradient)
        let norm = clipGradientNorm([table], maxNorm: dense / 2)
        #expect(abs(norm - dense) <= 1e-4 * dense)
        let factor = (dense / 2) / (norm + 1e-6)
        #expect(zip(table.gradient, before).allSatisfy { abs($0 - $1 * factor) <= 1e-5 * max(1, abs($1)) })
    }

    @Test func adamStepIsTheSameInEveryLane() {
        // 37 values: two sixteen-lane chunks and a scalar tail must follow the same rule as one scalar parameter.
        let p = Parameter("w", shape: Shape(37))
        for i in 0..<37 { p.value[i] = Float(i) / 10 - 1 }
        let adam = AdamOptimizer(parameters: [p], variant: .adamW, beta2: 0.98, weightDecay: 0.1)
        var expected: [Float] = []
        for i in 0..<37 {
            let q = Parameter("q", shape: Shape(1))
            q.value[0] = p.value[i]
            let single = AdamOptimizer(parameters: [q], variant: .adamW, beta2: 0.98, weightDecay: 0.1)
            for step in 0..<3 {
                q.gradient[0] = Float(i % 7) - 3 + Float(step)
                single.step(learningRate: 0.01)
            }
            expected.append(q.value[0])
        }
        for step in 0..<3 {
            for i in 0..<37 { p.gradient[i] = Float(i % 7) - 3 + Float(step) }
            adam.step(learningRate: 0.01)
        }
        #expect(Array(p.value) == expected)
    }

    @Test func schedules() {
        let linear = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 14, decay: .linear, final: 0.1)
        #expect(linear.rate(atStep: 0) == 0.25)
        #expect(linear.rate(atStep: 3) == 1)
        #expect(linear.rate(atStep: 4) == 1)
        #expect(abs(linear.rate(atStep: 9) - 0.55) < 1e-6)
        #expect(abs(linear.rate(atStep: 14) - 0.1) < 1e-6 && abs(linear.rate(atStep: 100) - 0.1) < 1e-6)
        let cosine = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 10, decay: .cosine)
        #expect(cosine.rate(atStep: 0) == 2)
        #expect(abs(cosine.rate(atStep: 5) - 1) < 1e-6)
        #expect(abs(cosine.rate(atStep: 10)) < 1e-6)
        #expect(LearningRateSchedule(peak: 3, totalSteps: 10).rate(atStep: 7) == 3)
    }

    @Test func miniBatchesCoverEveryIndexAndRepeatUnderASeed() {
        var a = MiniBatches(count: 10, batchSize: 4, seed: 3)
        var b = MiniBatches(count: 10, batchSize: 4, seed: 3)
        a.shuffle()
        b.shuffle()
        #expect(a.order == b.order)
        #expect(a.batchCount == 3 && a.batch(2).count == 2)
        #expect((0..<a.batchCount).flatMap { a.batch($0) }.sorted() == Array(0..<10))
        #expect(MiniBatches(count: 10, batchSize: 4, seed: 3, dropsLast: true).batchCount == 2)
    }

    @Test func earlyStoppingRestoresTheBestParameters() {
        let p = Parameter("w", shape: Shape(2))
        let stopping = EarlyStopping(parameters: [p], patience: 2)
        let metrics: [Float] = [0.1, 0.3, 0.2, 0.25, 0.9]
        var stoppedAt: Int?
        for (epoch, metric) in metrics.enumerated() {
            p.fill(Float(epoch))
            if stopping.record(metric, epoch: epoch) {
                stoppedAt = epoch
                break
            }
        }
        #expect(stoppedAt == 3)
        #expect(stopping.bestEpoch == 1 && stopping.bestMetric == 0.3)
        stopping.restoreBest()
        #expect(Array(p.value) == [1, 1])
    }

    @Test func earlyStoppingRunEvaluatesEveryKthEpochAndKeepsTheBest() {
        let p = Parameter("w", shape: Shape(1))
        let metrics: [Int: Double] = [2: 0.1, 4: 0.4, 6: 0.3, 8: 0.2]
        var epoch = 0, seen: [EpochOutcome] = []
        let run = EarlyStopping.run(
            parameters: [p], maxEpochs: 20, patience: 2, evaluateEvery: 2,
            trainEpoch: {
                epoch += 1
                p.fill(Float(epoch))
                return Float(epoch)
            },
            validate: { metrics[epoch] ?? 0 },
            onEpoch: {
                seen.append($0)
                return false
            })
        #expect(run == EarlyStoppedRun(epochs: 8, bestEpoch: 4, bestMetric: 0.4))
        #expect(seen.map(\.validationMetric) == [nil, 0.1, nil, 0.4, nil, 0.3, nil, 0.2])
        #expect(seen.last?.bestEpoch == 4 && p.value[0] == 4)
        // The observer can end a run; without validation the last weights stay.
        let capped = EarlyStopping.run(
            parameters: [p], maxEpochs: 20, patience: 2, trainEpoch: { 0 }, validate: nil,
            onEpoch: { $0.epoch == 3 })
        #expect(capped == EarlyStoppedRun(epochs: 3, bestEpoch: nil, bestMetric: nil))
    }

    @Test func tapeReusesItsArenaAcrossSteps() {
        let w = randomParameter("w", Shape(64, 64), seed: 1)
        let tape = Tape(seed: 1)
        var allocations: [Int] = []
        for _ in 0..<6 {
            tape.reset()
            let x = tape.constant(shape: Shape(256, 64)) { $0.update(repeating: 0.5) }
            var h = x
            for _ in 0..<8 { h = tape.dropout(tape.gelu(tape.matmul(h, tape.parameter(w))), rate: 0.1) }
            tape.backward(tape.sum(h))
            allocations.append(tape.systemAllocations)
        }
        #expect(allocations[2...].allSatisfy { $0 == allocations[2] }, "allocations per step: \(allocations)")
    }
}
