import Testing
@testable import RecNeural

/// Every op's gradient against central finite differences (see `GradientCheck` for the tolerance).
@Suite struct OpGradientTests {
    let check = GradientCheck()

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmul(transposeA: Bool, transposeB: Bool) {
        let a = randomParameter("a", transposeA ? Shape(4, 3) : Shape(3, 4), seed: 1)
        let b = randomParameter("b", transposeB ? Shape(5, 4) : Shape(4, 5), seed: 2)
        check.check([a, b]) { t in
            t.matmul(t.parameter(a), t.parameter(b), transposeA: transposeA, transposeB: transposeB)
        }
    }

    @Test func matmulKeepsLeadingDimensions() {
        let a = randomParameter("a", Shape(2, 3, 4), seed: 3)
        let w = randomParameter("w", Shape(5, 4), seed: 4)
        check.check([a, w]) { t in
            let y = t.matmul(t.parameter(a), t.parameter(w), transposeB: true)
            #expect(t.shape(of: y) == Shape(2, 3, 5))
            return y
        }
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func batchedMatmul(transposeA: Bool, transposeB: Bool) {
        let a = randomParameter("a", transposeA ? Shape(2, 4, 3) : Shape(2, 3, 4), seed: 5)
        let b = randomParameter("b", transposeB ? Shape(2, 5, 4) : Shape(2, 4, 5), seed: 6)
        check.check([a, b]) { t in
            t.batchedMatmul(t.parameter(a), t.parameter(b), transposeA: transposeA, transposeB: transposeB)
        }
    }

    @Test(arguments: [
        ([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [3, 4]), ([2, 1, 4], [3, 1]), ([4], [2, 3, 4]),
    ])
    func addAndMultiplyBroadcast(left: [Int], right: [Int]) {
        let a = randomParameter("a", Shape(left), seed: 7)
        let b = randomParameter("b", Shape(right), seed: 8)
        check.check([a, b]) { t in t.add(t.parameter(a), t.parameter(b)) }
        check.check([a, b]) { t in t.multiply(t.parameter(a), t.parameter(b)) }
    }

    @Test func scaleSumAndReshape() {
        let a = randomParameter("a", Shape(3, 4), seed: 9)
        check.check([a]) { t in t.scale(t.reshape(t.parameter(a), Shape(2, 6)), -1.5) }
        check.check([a]) { t in t.sum(t.multiply(t.parameter(a), t.parameter(a))) }
    }

    @Test func reluAndGelu() {
        let a = randomParameter("a", Shape(4, 5), seed: 10)
        for i in a.value.indices where abs(a.value[i]) < 0.05 { a.value[i] = 0.3 }  // away from the kink
        check.check([a]) { t in t.relu(t.parameter(a)) }
        check.check([a]) { t in t.gelu(t.parameter(a)) }
    }

    @Test func dropoutWithFixedMask() {
        let a = randomParameter("a", Shape(6, 5), seed: 11)
        check.check([a]) { t in t.dropout(t.parameter(a), rate: 0.3) }
        let tape = Tape(seed: 1, isTraining: false)
        let x = tape.parameter(a)
        #expect(tape.dropout(x, rate: 0.3) == x, "identity in evaluation")
    }

    @Test func gatherWithRepeatedRows() {
        let table = randomParameter("table", Shape(6, 3), seed: 12)
        check.check([table]) { t in
            let rows = t.scratchIntegers(5)
            for (i, r) in [4, 1, 4, 0, 2].enumerated() { rows[i] = Int32(r) }
            return t.gelu(t.gather(table, rows: UnsafeBufferPointer(rows)))
        }
    }

    @Test func gatherGradientIsSparse() {
        let table = randomParameter("table", Shape(8, 2), seed: 13)
        let tape = Tape()
        let rows = tape.scratchIntegers(2)
        rows[0] = 5
        rows[1] = 2
        tape.backward(tape.sum(tape.gather(table, rows: UnsafeBufferPointer(rows))))
        for r in 0..<8 {
            #expect(table.gradient[r * 2] == (r == 5 || r == 2 ? 1 : 0))
        }
        #expect(!table.gradientIsDense)
        table.zeroGradient()
        #expect(table.gradient.allSatisfy { $0 == 0 })
    }

    @Test func rowwiseDot() {
        let a = randomParameter("a", Shape(4, 3), seed: 14)
        let b = randomParameter("b", Shape(4, 3), seed: 15)
        check.check([a, b]) { t in t.rowwiseDot(t.parameter(a), t.parameter(b)) }
    }

    @Test func layerNorm() {
        let x = randomParameter("x", Shape(2, 3, 5), seed: 16)
        let gamma = randomParameter("gamma", Shape(5), seed: 17)
        let beta = randomParameter("beta", Shape(5), seed: 18)
        check.check([x, gamma, beta]) { t in
            t.layerNorm(t.parameter(x), gamma: t.parameter(gamma), beta: t.parameter(beta))
        }
    }

    @Test func softmaxAndLogSoftmax() {
        let x = randomParameter("x", Shape(3, 6), seed: 19, std: 2)
        check.check([x]) { t in t.softmax(t.parameter(x)) }
        check.check([x]) { t in t.logSoftmax(t.parameter(x)) }
    }

    /// Query, key and value `[2, 4, 6]` drawn from `seed`, `seed + 1` and `seed + 2`.
    func attentionInputs(seed: UInt64) -> (q: Parameter, k: Parameter, v: Parameter) {
        let shape = Shape(2, 4, 6)
        return (randomParameter("q", shape, seed: seed), randomParameter("k", shape, seed: seed + 1),
            randomParameter("v", shape, seed: seed + 2))
    }

    /// The last case drops attention probabilities: the seeded tape draws the same mask on every evaluation, so
    /// finite differences see one function.
    @Test(arguments: [(true, true, 2, 0), (false, false, 1, 0), (true, false, 3, 0), (true, true, 2, 0.4)])
    func attention(causal: Bool, padded: Bool, heads: Int, dropout: Float) {
        let (q, k, v) = attentionInputs(seed: 20)
        // Sequence 0 is left-padded by two positions, sequence 1 by one.
        let mask: [Float] = [0, 0, 1, 1, 0, 1, 1, 1]
        check.check([q, k, v]) { t in
            mask.withUnsafeBufferPointer { m in
                t.attention(query: t.parameter(q), key: t.parameter(k), value: t.parameter(v), heads: heads,
                    causal: causal, keyMask: padded ? m : nil, dropout: dropout)
            }
        }
    }

    @Test func attentionDropoutIsTheIdentityInEvaluation() {
        let (q, k, v) = attentionInputs(seed: 26)
        func output(training: Bool, dropout: Float) -> [Float] {
            let t = Tape(seed: 3, isTraining: training)
            let y = t.attention(query: t.parameter(q), key: t.parameter(k), value: t.parameter(v), heads: 2,
                causal: true, dropout: dropout)
            return Array(t.values(of: y))
        }
        #expect(output(training: false, dropout: 0.4) == output(training: true, dropout: 0))
        #expect(output(training: true, dropout: 0.4) != output(training: true, dropout: 0))
    }

    @Test func attentionNeverReadsPaddedOrFuturePositions() {
        let (length, width) = (4, 4)
        let q = randomParameter("q", Shape(1, length, width), seed: 23)
        let k = randomParameter("k", Shape(1, length, width), seed: 24)
        let v = randomParameter("v", Shape(1, length, width), seed: 25)
        let mask: [Float] = [0, 1, 1, 1]
        func run() -> [Float] {
            let t = Tape()
            let y = mask.withUnsafeBufferPointer { m in
                t.attention(query: t.parameter(q), key: t.parameter(k), value: t.parameter(v), heads: 2,
                    causal: true, keyMask: m)
            }
            return Array(t.values(of: y))
        }
        let before = run()
        #expect(before[0..<width].allSatisfy { $0 == 0 }, "a query with nothing to attend to gives zeros")
        for j in 0..<width {
            v.value[j] += 10  // the padded position
            v.value[3 * width + j] += 10  // the last position: in the future of positions 1 and 2
        }
        let after = run()
        #expect(Array(before[0..<(3 * width)]) == Array(after[0..<(3 * width)]))
    }
}
