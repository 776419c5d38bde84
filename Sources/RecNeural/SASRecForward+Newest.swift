import Foundation

extension SASRecForward {
    /// The newest position's hidden state `[1, 1, dimension]` of one history of `n` items (1 ≤ n ≤ `maxLength`,
    /// oldest first, no padding): the last row of `hidden(recentItems:)`, up to rounding, at less work. Every block
    /// but the last runs over all rows (their outputs are the last block's keys and values); the last block computes
    /// its query, attention, feed-forward and the final norm for the newest row alone, which sees every key (causal
    /// attention hides nothing from the last position). Serving only: the last block's row is computed eagerly, so
    /// no gradient flows through it. `attention` receives that row's attention weights, `heads × n`, head by head.
    func newestHidden(
        recentItems items: UnsafeBufferPointer<Int32>, attention: UnsafeMutableBufferPointer<Float>
    ) -> Variable {
        let n = items.count, length = configuration.maxLength, d = configuration.dimension
        let heads = configuration.heads, headWidth = d / heads
        precondition(n >= 1 && n <= length, "newestHidden: \(n) items, not 1 to \(length)")
        precondition(attention.count == heads * n, "newestHidden: attention must hold \(heads) × \(n) weights")
        let positions = tape.scratchIntegers(n)
        for t in 0..<n { positions[t] = Int32(length - n + t) }
        let keyMask = tape.scratchFloats(n)
        keyMask.update(repeating: 1)
        let embedded = tape.scale(gather(0, rows: items), Float(d).squareRoot())
        var x = tape.reshape(tape.add(embedded, gather(1, rows: UnsafeBufferPointer(positions))), Shape(1, n, d))
        let slots = SASRecBlock.Slot.allCases.count
        for b in 0..<(configuration.blocks - 1) {
            x = block(Self.firstBlockWeight + b * slots, x, keyMask: UnsafeBufferPointer(keyMask), segments: nil)
        }
        let first = Self.firstBlockWeight + (configuration.blocks - 1) * slots
        func weight(_ slot: SASRecBlock.Slot) -> Variable { dense(first + slot.rawValue) }
        let normed = tape.layerNorm(x, gamma: weight(.attentionNormScale), beta: weight(.attentionNormShift))
        let keys = tape.values(of: linear(normed, first, .keyWeight, .keyBias))
        let values = tape.values(of: linear(normed, first, .valueWeight, .valueBias))
        let query = tape.values(of: linear(newestRow(of: normed, rows: n), first, .queryWeight, .queryBias))
        let scale = 1 / Float(headWidth).squareRoot()
        let attended = tape.constant(shape: Shape(1, 1, d)) { out in
            out.update(repeating: 0)
            for h in 0..<heads {
                let column = h * headWidth
                let p = UnsafeMutableBufferPointer(rebasing: attention[(h * n)..<(h * n + n)])
                var largest = -Float.infinity
                for j in 0..<n {
                    var s: Float = 0
                    for k in 0..<headWidth { s += query[column + k] * keys[j * d + column + k] }
                    p[j] = s * scale
                    largest = max(largest, p[j])
                }
                var total: Float = 0
                for j in 0..<n {
                    p[j] = expf(p[j] - largest)
                    total += p[j]
                }
                for j in 0..<n {
                    p[j] /= total
                    for k in 0..<headWidth { out[column + k] += p[j] * values[j * d + column + k] }
                }
            }
        }
        let afterAttention = tape.add(newestRow(of: x, rows: n), linear(attended, first, .outputWeight, .outputBias))
        let out = feedForward(first, afterAttention)
        let final = Self.firstBlockWeight + configuration.blocks * slots
        return tape.layerNorm(out, gamma: dense(final), beta: dense(final + 1))
    }

    /// A copy of the last of `rows` rows of `x` (`[1, rows, d]`) as a constant `[1, 1, d]`.
    private func newestRow(of x: Variable, rows: Int) -> Variable {
        let d = configuration.dimension, all = tape.values(of: x)
        return tape.constant(shape: Shape(1, 1, d)) { row in
            _ = row.update(fromContentsOf: all[((rows - 1) * d)..<(rows * d)])
        }
    }
}
