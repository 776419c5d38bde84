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
    var seqOf: UnsafeMutablePointer<Int>? = nil
    var posOf: UnsafeMutablePointer<Int>? = nil
    var logitRowList: UnsafeMutablePointer<Int>? = nil

    mutating func free() {
        for p in [x, xn, q, k, v, att, tmp, hidden, up, ad, asum, cosSin, scores, logitRows] { p?.deallocate() }
        aq?.deallocate()
        for p in [seqOf, posOf, logitRowList] { p?.deallocate() }
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
            fresh.seqOf = .allocate(capacity: n)
            fresh.posOf = .allocate(capacity: n)
            fresh.logitRowList = .allocate(capacity: n)
            free()
            self = fresh
            scores = keepScores
            scoreCapacity = keepCap
        }
        if context > scoreCapacity {
            scores?.deallocate()
            scoreCapacity = max(context, scoreCapacity * 2, 256)
            scores = .allocate(capacity: scoreCapacity * 8 * 4 * threads)  // 8 heads per KV group, 4 chunks per thread
        }
    }
}

extension LlamaModel {
    /// Largest number of token rows evaluated in one forward pass; longer prompts are processed in chunks.
    static let maxRows = 256

    /// Evaluates `tokens` appended to `cache` (one sequence, processed as a matrix) and writes the logits of the last
    /// token to `logits` (`config.vocab` floats). Throws `invalidArgument` when the cache is full, and `interrupted`
    /// (leaving the cache unusable) when `shouldStop`, asked before each layer, returns true.
    public func evaluate(
        _ tokens: [Int32], cache: KVCache, logits: UnsafeMutablePointer<Float>, shouldStop: () -> Bool = { false }
    ) throws {
        guard !tokens.isEmpty else { return }
        guard cache.length + tokens.count <= cache.capacity else {
            throw RecMLError(.invalidArgument, "KV cache full: \(cache.length) + \(tokens.count) > \(cache.capacity)")
        }
        try validate(tokens)
        var start = 0
        while start < tokens.count {
            let n = min(Self.maxRows, tokens.count - start)
            let last = start + n == tokens.count
            if single.isEmpty { single.append(cache) } else { single[0] = cache }
            defer { single[0] = placeholder }
            try forward(count: n, caches: single, logitsOut: last ? logits : nil, shouldStop: shouldStop) { i in
                (tokens[start + i], 0, last && i == n - 1)
            }
            start += n
        }
    }

    /// Evaluates one token appended to `cache` and writes its logits (the per-token decoding step; no allocation).
    public func evaluate(
        token: Int32, cache: KVCache, logits: UnsafeMutablePointer<Float>, shouldStop: () -> Bool = { false }
    ) throws {
        guard token >= 0, Int(token) < config.vocab else {
            throw RecMLError(.invalidArgument, "token id \(token) outside 0..<\(config.vocab)")
        }
        guard cache.length < cache.capacity else {
            throw RecMLError(.invalidArgument, "KV cache full: \(cache.capacity) positions")
        }
        if single.isEmpty { single.append(cache) } else { single[0] = cache }
        defer { single[0] = placeholder }
        try forward(count: 1, caches: single, logitsOut: logits, shouldStop: shouldStop) { _ in (token, 0, true) }
    }

    /// Evaluates one token for each of `caches` in a single batched forward pass (the token of row i goes to
    /// `caches[i]`) and writes `caches.count` rows of logits to `logits`: all of them, or only those of
    /// `vocabulary` (the others `-infinity`).
    public func evaluateBatch(
        _ tokens: [Int32], caches: [KVCache], logits: UnsafeMutablePointer<Float>, vocabulary: LogitSubset? = nil,
        shouldStop: () -> Bool = { false }
    ) throws {
        precondition(tokens.count == caches.count, "one token per cache")
        try validate(tokens)
        try validate(vocabulary)
        for cache in caches where cache.length + 1 > cache.capacity {
            throw RecMLError(.invalidArgument, "KV cache full: \(cache.capacity) positions")
        }
        try forward(count: tokens.count, caches: caches, logitsOut: logits, vocabulary: vocabulary, shouldStop: shouldStop) {
            i in (tokens[i], i, true)
        }
    }

    /// Evaluates several token lists, each appended to its own cache, in one batched pass (rows of different
    /// sequences share every matmul); writes each list's last logits, in order, to `logits` (only those of
    /// `vocabulary` when given, the others `-infinity`).
    public func evaluateBatch(
        _ lists: [[Int32]], caches: [KVCache], logits: UnsafeMutablePointer<Float>, vocabulary: LogitSubset? = nil,
        shouldStop: () -> Bool = { false }
    ) throws {
        precondition(lists.count == caches.count, "one token list per cache")
        try validate(vocabulary)
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
            try forward(
                count: n, caches: caches, logitsOut: logits + written * config.vocab, vocabulary: vocabulary,
                shouldStop: shouldStop
            ) {
                chunk[start + $0]
            }
            written += wanted
            start += n
        }
    }

    private func validate(_ vocabulary: LogitSubset?) throws {
        if let vocabulary { try validate(vocabulary.tokens) }
    }

    private func validate(_ tokens: [Int32]) throws {
        for t in tokens where t < 0 || Int(t) >= config.vocab {
            throw RecMLError(.invalidArgument, "token id \(t) outside 0..<\(config.vocab)")
        }
    }

    /// The forward pass over `count` rows; `row(i)` gives the token, the index of its cache in `caches`, and whether
    /// its logits are wanted (written in row order to `logitsOut`). Rows of one cache must be in position order.
    /// `shouldStop` is asked before each layer; when it returns true the pass throws `interrupted`. With a
    /// `vocabulary`, only its logits are computed (the others are `-infinity`).
    func forward(
        count: Int, caches: [KVCache], logitsOut: UnsafeMutablePointer<Float>?, vocabulary: LogitSubset? = nil,
        shouldStop: () -> Bool = { false }, row: (Int) -> (Int32, Int, Bool)
    ) throws {
        let c = config
        var maxContext = 0
        for cache in caches { maxContext = max(maxContext, cache.length + count) }
        work.ensure(rows: count, context: maxContext, config: c, threads: pool.threads)
        let w = work
        let x = w.x!, xn = w.xn!, q = w.q!, k = w.k!, v = w.v!, att = w.att!, tmp = w.tmp!, hidden = w.hidden!, up = w.up!
        let aq = w.aq!, ad = w.ad!, asum = w.asum!, cosSin = w.cosSin!
        // Row bookkeeping on the stack-free path: positions and cache indices in small reused arrays.
        let seqOf = w.seqOf!, posOf = w.posOf!, logitRowList = w.logitRowList!
        var logitRowCount = 0
        let half = c.headDim / 2
        let thetaScale = powf(c.ropeBase, -2 / Float(c.headDim))
        for i in 0..<count {
            let (token, s, wanted) = row(i)
            seqOf[i] = s
            posOf[i] = caches[s].length  // rows of one cache come in position order
            caches[s].length += 1
            if wanted {
                logitRowList[logitRowCount] = i
                logitRowCount += 1
            }
            // embedding (Q8_0 or other row format) dequantised into x
            gguf.dequantizeRow(tokenEmbedding, row: Int(token), into: x + i * c.dim)
            // angles as llama.cpp computes them: theta = pos, multiplied by base^(-2/d) per pair, in float
            var theta = Float(posOf[i])
            for j in 0..<half {
                cosSin[i * c.headDim + 2 * j] = cosf(theta)
                cosSin[i * c.headDim + 2 * j + 1] = sinf(theta)
                theta *= thetaScale
            }
        }
        let pool = self.pool
        let group = c.heads / c.kvHeads
        let scale = 1 / Float(c.headDim).squareRoot()
        let scoreCap = w.scoreCapacity
        let scoresBase = w.scores!
        let qkvChunks = pool.chunks(rows: c.kvDim, minRows: 16)
        let dimChunks = pool.chunks(rows: c.dim), ffnChunks = pool.chunks(rows: c.ffnDim)
        let attChunks = min(count * c.kvHeads, pool.threads == 1 ? 1 : 4 * pool.threads)

        for (li, layer) in layers.enumerated() {
            if shouldStop() { throw RecMLError(.interrupted, "stopped before layer \(li) of \(layers.count)") }
            // attention block
            rmsNorm(x, layer.attnNorm, xn, count, c.dim, eps: c.normEps)
            recml_quantize_q8(xn, Int32(count * c.dim), aq, ad, asum)
            pool.run(chunks: qkvChunks) { t in
                matmul(layer.wq, aq, ad, asum, count, q, c.dim, WorkerPool.rows(c.dim, chunk: t, of: qkvChunks))
                matmul(layer.wk, aq, ad, asum, count, k, c.kvDim, WorkerPool.rows(c.kvDim, chunk: t, of: qkvChunks))
                matmul(layer.wv, aq, ad, asum, count, v, c.kvDim, WorkerPool.rows(c.kvDim, chunk: t, of: qkvChunks))
            }
            for i in 0..<count {
                rope(q + i * c.dim, c.heads, c.headDim, cosSin + i * c.headDim)
                rope(k + i * c.kvDim, c.kvHeads, c.headDim, cosSin + i * c.headDim)
                let cache = caches[seqOf[i]]
                for g in 0..<c.kvHeads {
                    let at = posOf[i] * c.headDim
                    recml_f32_to_f16(k + i * c.kvDim + g * c.headDim, cache.key(li, g) + at, Int32(c.headDim))
                    recml_f32_to_f16(v + i * c.kvDim + g * c.headDim, cache.value(li, g) + at, Int32(c.headDim))
                }
            }
            pool.run(chunks: attChunks) { t in
                let scores = scoresBase + t * scoreCap * 8
                for item in WorkerPool.rows(count * c.kvHeads, chunk: t, of: attChunks, align: 1) {
                    let i = item / c.kvHeads, g = item % c.kvHeads
                    let cache = caches[seqOf[i]]
                    let head = g * group * c.headDim
                    recml_attend(
                        q + i * c.dim + head, Int32(group), cache.key(li, g), cache.value(li, g),
                        Int32(posOf[i] + 1), Int32(c.headDim), scale, scores, att + i * c.dim + head)
                }
            }
            recml_quantize_q8(att, Int32(count * c.dim), aq, ad, asum)
            pool.run(chunks: dimChunks) { t in
                let rows = WorkerPool.rows(c.dim, chunk: t, of: dimChunks)
                matmul(layer.wo, aq, ad, asum, count, tmp, c.dim, rows)
                for i in 0..<count {
                    for r in rows { x[i * c.dim + r] += tmp[i * c.dim + r] }
                }
            }
            // feed-forward block
            rmsNorm(x, layer.ffnNorm, xn, count, c.dim, eps: c.normEps)
            recml_quantize_q8(xn, Int32(count * c.dim), aq, ad, asum)
            pool.run(chunks: ffnChunks) { t in
                let rows = WorkerPool.rows(c.ffnDim, chunk: t, of: ffnChunks)
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
            pool.run(chunks: dimChunks) { t in
                let rows = WorkerPool.rows(c.dim, chunk: t, of: dimChunks)
                matmul(layer.down, aq, ad, asum, count, tmp, c.dim, rows)
                for i in 0..<count {
                    for r in rows { x[i * c.dim + r] += tmp[i * c.dim + r] }
                }
            }
        }
        guard let logitsOut, logitRowCount > 0 else { return }
        let lr = w.logitRows!
        for j in 0..<logitRowCount {
            (lr + j * c.dim).update(from: x + logitRowList[j] * c.dim, count: c.dim)
        }
        let n = logitRowCount
        rmsNorm(lr, outputNorm, xn, n, c.dim, eps: c.normEps)
        recml_quantize_q8(xn, Int32(n * c.dim), aq, ad, nil)
        let out = output
        if let vocabulary {
            // Only the rows of the head the caller reads: runs of consecutive ids, shared out across threads.
            for j in 0..<n { (logitsOut + j * c.vocab).update(repeating: -.infinity, count: c.vocab) }
            let runs = vocabulary.runs
            let runChunks = min(runs.count, pool.threads == 1 ? 1 : 4 * pool.threads)
            guard runChunks > 0 else { return }
            pool.run(chunks: runChunks) { t in
                for r in WorkerPool.rows(runs.count, chunk: t, of: runChunks, align: 1) {
                    matmul(out, aq, ad, asum, n, logitsOut, c.vocab, runs[r])
                }
            }
            return
        }
        let headChunks = pool.threads == 1 ? 1 : 8 * pool.threads
        pool.run(chunks: headChunks) { t in
            matmul(out, aq, ad, asum, n, logitsOut, c.vocab, WorkerPool.rows(c.vocab, chunk: t, of: headChunks))
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
        if nTok > 1, let packed = m.packed,
            recml_matmul_q4_1_packed(packed, Int32(m.blocks), Int32(rows.lowerBound), Int32(rows.upperBound), aq, ad,
                                     asum, Int32(nTok), out, Int32(outStride)) != 0
        {
            return
        }
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
            // sum of squares in double, as llama.cpp does
            var sum = 0.0
            for j in 0..<n { sum += Double(xr[j]) * Double(xr[j]) }
            let inv = 1 / (Float(sum / Double(n)) + eps).squareRoot()
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

