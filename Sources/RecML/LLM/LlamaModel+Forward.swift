#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRecML

/// Scratch buffers of the forward pass, grown on demand and reused (no allocation per token).
struct Workspace {
    var rows = 0
    var scoreCapacity = 0
    var x: UnsafeMutablePointer<Float>? = nil
    var xn: UnsafeMutablePointer<Float>? = nil
    var q: UnsafeMutablePointer<Float>? = nil
    var k: UnsafeMutablePointer<Float>? = nil
    var v: UnsafeMutablePointer<Float>? = nil
    var att: UnsafeMutablePointer<Float>? = nil
    var tmp: UnsafeMutablePointer<Float>? = nil
    var hidden: UnsafeMutablePointer<Float>? = nil
    var up: UnsafeMutablePointer<Float>? = nil
    var aq: UnsafeMutablePointer<Int8>? = nil
    var ad: UnsafeMutablePointer<Float>? = nil
    var asum: UnsafeMutablePointer<Float>? = nil
    var cosSin: UnsafeMutablePointer<Float>? = nil
    var scores: UnsafeMutablePointer<Float>? = nil
    var logitRows: UnsafeMutablePointer<Float>? = nil

    mutating func free() {
        for p in [x, xn, q, k, v, att, tmp, hidden, up, ad, asum, cosSin, scores, logitRows] { p?.deallocate() }
        aq?.deallocate()
        self = Workspace()
    }

    mutating func ensure(rows: Int, context: Int, config c: LlamaConfig, threads: Int) {
        if rows > self.rows {
            let n = max(rows, self.rows * 2, 8)
            let keepScores = scores, keepCap = scoreCapacity
            scores = nil
            var fresh = Workspace()
            fresh.rows = n
            let wide = max(c.dim, c.ffnDim)
            fresh.x = .allocate(capacity: n * c.dim)
            fresh.xn = .allocate(capacity: n * c.dim)
            fresh.q = .allocate(capacity: n * c.dim)
            fresh.k = .allocate(capacity: n * c.kvDim)
            fresh.v = .allocate(capacity: n * c.kvDim)
            fresh.att = .allocate(capacity: n * c.dim)
            fresh.tmp = .allocate(capacity: n * c.dim)
            fresh.hidden = .allocate(capacity: n * c.ffnDim)
            fresh.up = .allocate(capacity: n * c.ffnDim)
            fresh.aq = .allocate(capacity: n * wide)
            fresh.ad = .allocate(capacity: n * wide / 32)
            fresh.asum = .allocate(capacity: n * wide / 32)
            fresh.cosSin = .allocate(capacity: n * c.headDim)
            fresh.logitRows = .allocate(capacity: n * c.dim)
            free()
            self = fresh
            scores = keepScores
            scoreCapacity = keepCap
        }
        if context > scoreCapacity {
            scores?.deallocate()
            scoreCapacity = max(context, scoreCapacity * 2, 256)
            scores = .allocate(capacity: scoreCapacity * threads)
        }
    }
}

extension LlamaModel {
    /// Largest number of token rows evaluated in one forward pass; longer prompts are processed in chunks.
    static let maxRows = 256

    /// Evaluates `tokens` appended to `cache` (one sequence, processed as a matrix) and writes the logits of the last
    /// token to `logits` (`config.vocab` floats). Throws `invalidArgument` when the cache is full.
    public func evaluate(_ tokens: [Int32], cache: KVCache, logits: UnsafeMutablePointer<Float>) throws {
        guard !tokens.isEmpty else { return }
        guard cache.length + tokens.count <= cache.capacity else {
            throw RecMLError(.invalidArgument, "KV cache full: \(cache.length) + \(tokens.count) > \(cache.capacity)")
        }
        try validate(tokens)
        var start = 0
        while start < tokens.count {
            let n = min(Self.maxRows, tokens.count - start)
            let last = start + n == tokens.count
            forward(count: n, caches: [cache], logitsOut: last ? logits : nil) { i in
                (tokens[start + i], 0, last && i == n - 1)
            }
            start += n
        }
    }

    /// Evaluates one token for each of `caches` in a single batched forward pass (the token of row i goes to
    /// `caches[i]`) and writes `caches.count` rows of logits to `logits`.
    public func evaluateBatch(_ tokens: [Int32], caches: [KVCache], logits: UnsafeMutablePointer<Float>) throws {
        precondition(tokens.count == caches.count, "one token per cache")
        try validate(tokens)
        for cache in caches where cache.length + 1 > cache.capacity {
            throw RecMLError(.invalidArgument, "KV cache full: \(cache.capacity) positions")
        }
        forward(count: tokens.count, caches: caches, logitsOut: logits) { i in (tokens[i], i, true) }
    }

    /// Evaluates several token lists, each appended to its own cache, in one batched pass (rows of different
    /// sequences share every matmul); writes each list's last logits, in order, to `logits`.
    public func evaluateBatch(_ lists: [[Int32]], caches: [KVCache], logits: UnsafeMutablePointer<Float>) throws {
        precondition(lists.count == caches.count, "one token list per cache")
        for (list, cache) in zip(lists, caches) {
            try validate(list)
            guard !list.isEmpty, cache.length + list.count <= cache.capacity else {
                throw RecMLError(.invalidArgument, "empty token list or KV cache full")
            }
        }
        var rows: [(Int32, Int, Bool)] = []
        for (s, list) in lists.enumerated() {
            for (i, t) in list.enumerated() { rows.append((t, s, i == list.count - 1)) }
        }
        var start = 0
        var written = 0
        while start < rows.count {
            let n = min(Self.maxRows, rows.count - start)
            let chunk = rows[start..<start + n]
            let wanted = chunk.filter { $0.2 }.count
            forward(count: n, caches: caches, logitsOut: logits + written * config.vocab) { chunk[start + $0] }
            written += wanted
            start += n
        }
    }

    private func validate(_ tokens: [Int32]) throws {
        for t in tokens where t < 0 || Int(t) >= config.vocab {
            throw RecMLError(.invalidArgument, "token id \(t) outside 0..<\(config.vocab)")
        }
    }

    /// The forward pass over `count` rows; `row(i)` gives the token, the index of its cache in `caches`, and whether
    /// its logits are wanted (written in row order to `logitsOut`). Rows of one cache must be in position order.
    func forward(
        count: Int, caches: [KVCache], logitsOut: UnsafeMutablePointer<Float>?, row: (Int) -> (Int32, Int, Bool)
    ) {
        let c = config
        var maxContext = 0
        for cache in caches { maxContext = max(maxContext, cache.length + count) }
        work.ensure(rows: count, context: maxContext, config: c, threads: pool.threads)
        let w = work
        let x = w.x!, xn = w.xn!, q = w.q!, k = w.k!, v = w.v!, att = w.att!, tmp = w.tmp!, hidden = w.hidden!, up = w.up!
        let aq = w.aq!, ad = w.ad!, asum = w.asum!, cosSin = w.cosSin!
        // Row bookkeeping on the stack-free path: positions and cache indices in small reused arrays.
        let meta = UnsafeMutablePointer<Int>.allocate(capacity: 2 * count)  // freed below; one per forward, not per op
        defer { meta.deallocate() }
        let seqOf = meta, posOf = meta + count
        var nextPos = caches.map { $0.length }
        var logitRowList: [Int] = []
        let half = c.headDim / 2
        for i in 0..<count {
            let (token, s, wanted) = row(i)
            seqOf[i] = s
            posOf[i] = nextPos[s]
            nextPos[s] += 1
            if wanted { logitRowList.append(i) }
            // embedding (Q8_0 or other row format) dequantised into x
            gguf.dequantizeRow(tokenEmbedding, row: Int(token), into: x + i * c.dim)
            let pos = Float(posOf[i])
            for j in 0..<half {
                let angle = Double(pos) * Double(invFreq[j])
                cosSin[i * c.headDim + 2 * j] = Float(cos(angle))
                cosSin[i * c.headDim + 2 * j + 1] = Float(sin(angle))
            }
        }
        let pool = self.pool
        let group = c.heads / c.kvHeads
        let scale = 1 / Float(c.headDim).squareRoot()
        let scoreCap = w.scoreCapacity
        let scoresBase = w.scores!

        for (li, layer) in layers.enumerated() {
            // attention block
            rmsNorm(x, layer.attnNorm, xn, count, c.dim, eps: c.normEps)
            recml_quantize_q8(xn, Int32(count * c.dim), aq, ad, asum)
            pool.run { t in
                matmul(layer.wq, aq, ad, asum, count, q, c.dim, pool.share(c.dim, t, align: 16))
                matmul(layer.wk, aq, ad, asum, count, k, c.kvDim, pool.share(c.kvDim, t, align: 16))
                matmul(layer.wv, aq, ad, asum, count, v, c.kvDim, pool.share(c.kvDim, t, align: 16))
            }
            for i in 0..<count {
                rope(q + i * c.dim, c.heads, c.headDim, cosSin + i * c.headDim)
                rope(k + i * c.kvDim, c.kvHeads, c.headDim, cosSin + i * c.headDim)
                let cache = caches[seqOf[i]]
                cache.key(li, posOf[i]).update(from: k + i * c.kvDim, count: c.kvDim)
                cache.value(li, posOf[i]).update(from: v + i * c.kvDim, count: c.kvDim)
            }
            pool.run { t in
                let scores = scoresBase + t * scoreCap
                for item in pool.share(count * c.heads, t) {
                    let i = item / c.heads, h = item % c.heads
                    let cache = caches[seqOf[i]]
                    attend(
                        q + i * c.dim + h * c.headDim, cache, li, (h / group) * c.headDim, posOf[i] + 1, c.headDim,
                        scale, scores, att + i * c.dim + h * c.headDim)
                }
            }
            recml_quantize_q8(att, Int32(count * c.dim), aq, ad, asum)
            pool.run { t in
                let rows = pool.share(c.dim, t, align: 16)
                matmul(layer.wo, aq, ad, asum, count, tmp, c.dim, rows)
                for i in 0..<count {
                    for r in rows { x[i * c.dim + r] += tmp[i * c.dim + r] }
                }
            }
            // feed-forward block
            rmsNorm(x, layer.ffnNorm, xn, count, c.dim, eps: c.normEps)
            recml_quantize_q8(xn, Int32(count * c.dim), aq, ad, asum)
            pool.run { t in
                let rows = pool.share(c.ffnDim, t, align: 16)
                matmul(layer.gate, aq, ad, asum, count, hidden, c.ffnDim, rows)
                matmul(layer.up, aq, ad, asum, count, up, c.ffnDim, rows)
                for i in 0..<count {
                    for r in rows {
                        let g = hidden[i * c.ffnDim + r]
                        hidden[i * c.ffnDim + r] = g / (1 + expf(-g)) * up[i * c.ffnDim + r]
                    }
                }
            }
            recml_quantize_q8(hidden, Int32(count * c.ffnDim), aq, ad, asum)
            pool.run { t in
                let rows = pool.share(c.dim, t, align: 16)
                matmul(layer.down, aq, ad, asum, count, tmp, c.dim, rows)
                for i in 0..<count {
                    for r in rows { x[i * c.dim + r] += tmp[i * c.dim + r] }
                }
            }
        }
        for (s, cache) in caches.enumerated() { cache.length = nextPos[s] }
        guard let logitsOut, !logitRowList.isEmpty else { return }
        let lr = w.logitRows!
        for (j, i) in logitRowList.enumerated() {
            (lr + j * c.dim).update(from: x + i * c.dim, count: c.dim)
        }
        let n = logitRowList.count
        rmsNorm(lr, outputNorm, xn, n, c.dim, eps: c.normEps)
        recml_quantize_q8(xn, Int32(n * c.dim), aq, ad, nil)
        let out = output
        pool.run { t in
            matmul(out, aq, ad, asum, n, logitsOut, c.vocab, pool.share(c.vocab, t, align: 16))
        }
    }

}

// MARK: - Kernels

@inline(__always)
func matmul(
    _ m: QMatrix, _ aq: UnsafePointer<Int8>, _ ad: UnsafePointer<Float>, _ asum: UnsafePointer<Float>, _ nTok: Int,
    _ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ rows: Range<Int>
) {
    guard !rows.isEmpty else { return }
    switch m.kind {
    case .q4_1:
        recml_matmul_q4_1(m.data, Int32(m.blocks), Int32(rows.lowerBound), Int32(rows.upperBound), aq, ad, asum,
                          Int32(nTok), out, Int32(outStride))
    case .q8_0:
        recml_matmul_q8_0(m.data, Int32(m.blocks), Int32(rows.lowerBound), Int32(rows.upperBound), aq, ad,
                          Int32(nTok), out, Int32(outStride))
    }
}

/// y = x / rms(x) * weight, row by row.
func rmsNorm(_ x: UnsafePointer<Float>, _ weight: [Float], _ y: UnsafeMutablePointer<Float>, _ rows: Int, _ n: Int,
             eps: Float)
{
    weight.withUnsafeBufferPointer { wp in
        for r in 0..<rows {
            let xr = x + r * n, yr = y + r * n
            var acc = SIMD16<Float>()
            var j = 0
            while j + 16 <= n {
                let a = UnsafeRawPointer(xr + j).loadUnaligned(as: SIMD16<Float>.self)
                acc += a * a
                j += 16
            }
            var sum = treeSum(acc)
            while j < n { sum += xr[j] * xr[j]; j += 1 }
            let inv = 1 / (sum / Float(n) + eps).squareRoot()
            for j in 0..<n { yr[j] = xr[j] * inv * wp[j] }
        }
    }
}

@inline(__always) func treeSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Rotates adjacent pairs (x[2i], x[2i+1]) of each head by the row's angles (llama.cpp's "normal" RoPE, matching
/// the row order GGUF's converter writes for Q and K).
@inline(__always)
func rope(_ x: UnsafeMutablePointer<Float>, _ heads: Int, _ headDim: Int, _ cosSin: UnsafePointer<Float>) {
    for h in 0..<heads {
        let p = x + h * headDim
        for j in 0..<headDim / 2 {
            let c = cosSin[2 * j], s = cosSin[2 * j + 1]
            let a = p[2 * j], b = p[2 * j + 1]
            p[2 * j] = a * c - b * s
            p[2 * j + 1] = a * s + b * c
        }
    }
}

/// One head of attention for one query over positions 0..<length of a cache.
@inline(__always)
func attend(
    _ q: UnsafePointer<Float>, _ cache: KVCache, _ layer: Int, _ offset: Int, _ length: Int, _ headDim: Int,
    _ scale: Float, _ scores: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>
) {
    var maxScore = -Float.infinity
    for p in 0..<length {
        let kp = UnsafePointer(cache.key(layer, p) + offset)
        var acc = SIMD16<Float>()
        var j = 0
        while j < headDim {
            acc += UnsafeRawPointer(q + j).loadUnaligned(as: SIMD16<Float>.self)
                * UnsafeRawPointer(kp + j).loadUnaligned(as: SIMD16<Float>.self)
            j += 16
        }
        let s = treeSum(acc) * scale
        scores[p] = s
        maxScore = max(maxScore, s)
    }
    var total: Float = 0
    for p in 0..<length {
        let e = expf(scores[p] - maxScore)
        scores[p] = e
        total += e
    }
    let inv = 1 / total
    for j in stride(from: 0, to: headDim, by: 16) {
        var acc = SIMD16<Float>()
        for p in 0..<length {
            let vp = UnsafePointer(cache.value(layer, p) + offset + j)
            acc += UnsafeRawPointer(vp).loadUnaligned(as: SIMD16<Float>.self) * scores[p]
        }
        UnsafeMutableRawPointer(out + j).storeBytes(of: acc * inv, as: SIMD16<Float>.self)
    }
}
