extension Tape {
    /// The probabilities `[batch, heads, length, length]` of the last attention recorded on the tape (row i holds
    /// what position i attends to), valid until `reset()`; nil when the tape recorded no attention.
    public func lastAttentionProbabilities() -> UnsafeBufferPointer<Float>? {
        for node in nodes.reversed() {
            guard case .attention(let record) = node.operation else { continue }
            let s = node.shape
            let count = s[0] * record.heads * s[1] * s[1]
            return UnsafeBufferPointer(start: record.probabilities, count: count)
        }
        return nil
    }
}

extension SASRecEncoder {
    /// After an `encode`, how much the final position attended to each input position in the last block, averaged
    /// over heads: `maxLength` weights, oldest position first (left padding gets 0), summing to 1 when the history
    /// was not empty. These name the history items that drove the query.
    public func finalAttention() -> [Float] {
        let configuration = weights.configuration
        let length = configuration.maxLength, heads = configuration.heads
        var weights = [Float](repeating: 0, count: length)
        // The pass ran over the history's `n` rows, the newest `n` positions (all `length` for an empty history).
        let n = encodedLength == 0 ? length : encodedLength
        if newestAttention.count == heads * n {
            let newest = newestAttention
            for h in 0..<heads {
                for j in 0..<n { weights[length - n + j] += newest[h * n + j] / Float(heads) }
            }
            return weights
        }
        guard let probabilities = tape.lastAttentionProbabilities(), probabilities.count >= heads * n * n
        else { return weights }
        for h in 0..<heads {
            let row = h * n * n + (n - 1) * n
            for j in 0..<n { weights[length - n + j] += probabilities[row + j] / Float(heads) }
        }
        return weights
    }
}
