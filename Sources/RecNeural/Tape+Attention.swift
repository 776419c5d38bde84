/// What the attention backward pass needs: inputs, layout, masks and the saved attention probabilities.
struct AttentionRecord {
    var query: Int
    var key: Int
    var value: Int
    var heads: Int
    var causal: Bool
    /// `[batch · length]`: 0 for padding; otherwise 1 (from a key mask) or the position's sequence within its row
    /// (from segments). Nil when nothing is masked.
    var segments: UnsafeMutablePointer<Int32>?
    /// `[batch, heads, length, length]`, softmax of the masked, scaled scores (before dropout).
    var probabilities: UnsafeMutablePointer<Float>
    /// Inverted-dropout factors on `probabilities` (same layout), nil without attention dropout.
    var dropMask: UnsafeMutablePointer<Float>?
}

extension Tape {
    /// Multi-head scaled dot-product attention, fused: `query`, `key`, `value` are `[batch, length, heads · headWidth]`
    /// (the projections' outputs; head h is columns h·headWidth ..< (h+1)·headWidth, read in place through sgemm's
    /// leading dimension, no transposes copied). Position i attends to positions j ≤ i when `causal`, and never to a
    /// padded position (`keyMask[b · length + j] == 0`). With `segments` (`[batch · length]`, instead of a key mask)
    /// a row holds several packed sequences: position i attends only to positions of its own segment
    /// (`segments[j] == segments[i]`), and segment 0 is padding. A query with no position to attend to (a left pad
    /// under a causal mask) gets zeros. In training, `dropout` zeroes each attention probability with that rate and
    /// scales the rest by 1 / (1 − rate) before the values are mixed (as PyTorch's `MultiheadAttention`); the saved
    /// probabilities stay undropped. The result has the query's shape, heads concatenated.
    public func attention(
        query: Variable, key: Variable, value v: Variable, heads: Int, causal: Bool,
        keyMask: UnsafeBufferPointer<Float>? = nil, segments: UnsafeBufferPointer<Int32>? = nil, dropout: Float = 0
    ) -> Variable {
        let s = shape(query.index)
        precondition(s.rank == 3 && shape(key.index) == s && shape(v.index) == s, "attention: shapes must match")
        let batch = s[0], length = s[1], width = s[2]
        precondition(width % heads == 0, "attention: width \(width) not divisible by \(heads) heads")
        let headWidth = width / heads
        precondition(keyMask == nil || segments == nil, "attention: a key mask or segments, not both")
        var mask: UnsafeMutablePointer<Int32>? = nil
        if let keyMask {
            precondition(keyMask.count == batch * length, "attention: key mask must be [batch · length]")
            let m = integers.allocate(keyMask.count)
            for j in 0..<keyMask.count { m[j] = keyMask[j] == 0 ? 0 : 1 }
            mask = m
        } else if let segments {
            precondition(segments.count == batch * length, "attention: segments must be [batch · length]")
            let m = integers.allocate(segments.count)
            m.update(from: segments.baseAddress!, count: segments.count)
            mask = m
        }
        let bySegment = segments != nil
        let probabilities = floats.allocate(batch * heads * length * length)
        precondition(dropout >= 0 && dropout < 1, "attention: dropout \(dropout) must be in [0, 1)")
        // Drawn serially before the parallel loop, so the draws do not depend on the thread count.
        let dropMask = isTraining && dropout > 0 ? dropoutMask(count: batch * heads * length * length, rate: dropout)
            : nil
        let dropped = dropMask.map { _ in floats.allocate(batch * heads * length * length) }
        let record = AttentionRecord(query: query.index, key: key.index, value: v.index, heads: heads, causal: causal,
            segments: mask, probabilities: probabilities, dropMask: dropMask)
        let (result, out) = output(s, query, key, v, operation: .attention(record))
        let q = value(query.index), k = value(key.index), values = value(v.index)
        let scale = 1 / Float(headWidth).squareRoot()
        let work = batch * heads * length * length * headWidth * 2
        Parallel.forEachRange(batch * heads, work: work) { range in
            for bh in range {
                let b = bh / heads, h = bh % heads
                let offset = b * length * width + h * headWidth
                let p = probabilities + bh * length * length
                gemm(false, true, length, length, headWidth, alpha: scale, q + offset, width, k + offset, width,
                    beta: 0, p, length)
                for i in 0..<length {
                    let row = p + i * length
                    if causal { for j in (i + 1)..<Swift.max(i + 1, length) { row[j] = -.infinity } }
                    if let mask {
                        // Padded keys are hidden; with segments, so are other sequences' keys (all of them for a
                        // padded query, whose row comes out as zeros).
                        let own = mask[b * length + i], keys = mask + b * length
                        for j in 0..<length where keys[j] == 0 || (bySegment && keys[j] != own) { row[j] = -.infinity }
                    }
                }
                softmaxRows(p, into: p, rows: length, width: length, logarithm: false)
                var mixing = UnsafePointer(p)
                if let dropMask, let dropped {
                    let m = dropMask + bh * length * length, pd = dropped + bh * length * length
                    for j in 0..<(length * length) { pd[j] = p[j] * m[j] }
                    mixing = UnsafePointer(pd)
                }
                gemm(false, false, length, headWidth, length, mixing, length, values + offset, width, beta: 0,
                    out + offset, width)
            }
        }
        return result
    }

    func attentionBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ record: AttentionRecord) {
        let s = shape(record.query)
        let batch = s[0], length = s[1], width = s[2], heads = record.heads
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        let q = value(record.query), k = value(record.key), values = value(record.value)
        let gq = gradientBuffer(record.query), gk = gradientBuffer(record.key), gv = gradientBuffer(record.value)
        let scores = floats.allocate(batch * heads * length * length)
        let dropped = record.dropMask.map { _ in floats.allocate(batch * heads * length * length) }
        let work = batch * heads * length * length * headWidth * 4
        // Heads of one sequence write disjoint columns and sequences disjoint rows; when query, key and value are
        // one node, one work item still writes its block serially.
        Parallel.forEachRange(batch * heads, work: work) { range in
            for bh in range {
                let b = bh / heads, h = bh % heads
                let offset = b * length * width + h * headWidth
                let p = record.probabilities + bh * length * length
                let d = scores + bh * length * length
                let dOut = g + offset
                // With attention dropout the values were mixed by P ⊙ M (M the mask).
                let m = record.dropMask.map { $0 + bh * length * length }
                var mixing = UnsafePointer(p)
                if let m, let dropped {
                    let pd = dropped + bh * length * length
                    for j in 0..<(length * length) { pd[j] = p[j] * m[j] }
                    mixing = UnsafePointer(pd)
                }
                if let gv {  // dV = (P ⊙ M)ᵀ · dO
                    gemm(true, false, length, headWidth, length, mixing, length, dOut, width, beta: 1, gv + offset,
                        width)
                }
                guard gq != nil || gk != nil else { continue }
                // dP = (dO · Vᵀ) ⊙ M, then dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale.
                gemm(false, true, length, length, headWidth, dOut, width, values + offset, width, beta: 0, d, length)
                if let m { for j in 0..<(length * length) { d[j] *= m[j] } }
                for r in 0..<length {
                    let pr = p + r * length, dr = d + r * length
                    var dot: Float = 0
                    for j in 0..<length { dot += pr[j] * dr[j] }
                    for j in 0..<length { dr[j] = pr[j] * (dr[j] - dot) * scale }
                }
                if let gq {  // dQ = dS · K
                    gemm(false, false, length, headWidth, length, d, length, k + offset, width, beta: 1, gq + offset,
                        width)
                }
                if let gk {  // dK = dSᵀ · Q
                    gemm(true, false, length, headWidth, length, d, length, q + offset, width, beta: 1, gk + offset,
                        width)
                }
            }
        }
    }
}
