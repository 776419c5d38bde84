import RecKernels

/// Guided batch decoding: the caller picks every token (a grammar, a token mask, forced spans) from the logits, and
/// the evaluated prompt prefix is kept between calls so that a prefix shared by many requests is computed once.
extension SmolLM {
    /// Decodes one continuation of `prefix` per entry of `suffixes`, letting `choose(sequence, logits)` pick each
    /// token from the `vocab` logits of that sequence (it may read or overwrite them). The prefix is evaluated once
    /// and its KV cache kept in this model, so the next call with the same prefix starts from it; sequences whose
    /// suffixes are equal evaluate that suffix once and share it. Each sequence stops when `choose` says so or after
    /// `maxTokens`. Within one step the sequences are asked in order, so `choose` may make later ones depend on
    /// earlier ones (distinct first words, for example). A step's `continuation` (``GuidedToken``) is appended after its
    /// token and evaluated in the same pass. `shouldStop`, asked before every layer of every pass, stops the batch
    /// with `interrupted`.
    public func generateGuidedBatch(
        prefix: [Int32], suffixes: [[Int32]], maxTokens: Int, shouldStop: () -> Bool = { false },
        choose: (_ sequence: Int, _ logits: UnsafeMutablePointer<Float>) -> GuidedToken
    ) throws -> [[Int32]] {
        guard !prefix.isEmpty, !suffixes.isEmpty, maxTokens > 0 else {
            throw RecMLError(.invalidArgument, "empty prefix, empty batch or no token budget")
        }
        let vocab = model.config.vocab
        let shared = try evaluatedPrefix(prefix, shouldStop: shouldStop)
        let n = suffixes.count
        let capacity = prefix.count + (suffixes.map(\.count).max() ?? 0) + maxTokens + 1
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * vocab)
        defer { logits.deallocate() }
        let caches = (0..<n).map { _ in
            let cache = model.makeCache(capacity: capacity)
            cache.copy(from: shared.cache)
            return cache
        }
        // One evaluation per distinct non-empty suffix; copies for the sequences that repeat it.
        var firstWith: [[Int32]: Int] = [:]
        for (i, suffix) in suffixes.enumerated() where !suffix.isEmpty && firstWith[suffix] == nil { firstWith[suffix] = i }
        let distinct = firstWith.values.sorted()
        if !distinct.isEmpty {
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: distinct.count * vocab)
            defer { rows.deallocate() }
            try model.evaluateBatch(
                distinct.map { suffixes[$0] }, caches: distinct.map { caches[$0] }, logits: rows, shouldStop: shouldStop)
            let rowOf = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0) })
            for i in 0..<n {
                if suffixes[i].isEmpty {
                    shared.logits.withUnsafeBufferPointer { (logits + i * vocab).update(from: $0.baseAddress!, count: vocab) }
                } else {
                    let source = firstWith[suffixes[i]]!
                    if source != i { caches[i].copy(from: caches[source]) }
                    (logits + i * vocab).update(from: rows + rowOf[source]! * vocab, count: vocab)
                }
            }
        } else {
            for i in 0..<n {
                shared.logits.withUnsafeBufferPointer { (logits + i * vocab).update(from: $0.baseAddress!, count: vocab) }
            }
        }
        var outs = [[Int32]](repeating: [], count: n)
        var active = Array(0..<n)
        var rowOfSequence = Array(0..<n)
        while !active.isEmpty {
            var still: [Int] = []
            var lists: [[Int32]] = []
            for i in active {
                let step = choose(i, logits + rowOfSequence[i] * vocab)
                let appended = [step.token] + step.continuation.prefix(max(0, maxTokens - outs[i].count - 1))
                outs[i].append(contentsOf: appended)
                if !step.isLast && outs[i].count < maxTokens && caches[i].length + appended.count <= caches[i].capacity {
                    still.append(i)
                    lists.append(appended)
                }
            }
            active = still
            if active.isEmpty { break }
            if lists.allSatisfy({ $0.count == 1 }) {
                try model.evaluateBatch(
                    lists.map { $0[0] }, caches: active.map { caches[$0] }, logits: logits, shouldStop: shouldStop)
            } else {
                try model.evaluateBatch(lists, caches: active.map { caches[$0] }, logits: logits, shouldStop: shouldStop)
            }
            for (row, i) in active.enumerated() { rowOfSequence[i] = row }
        }
        return outs
    }

    /// The KV cache and last logits of `prefix`: the kept ones when the last guided call used the same prefix.
    private func evaluatedPrefix(_ prefix: [Int32], shouldStop: () -> Bool) throws -> EvaluatedPrefix {
        if let kept = keptPrefix, kept.tokens == prefix { return kept }
        keptPrefix = nil
        let cache = model.makeCache(capacity: prefix.count)
        var logits = [Float](repeating: 0, count: model.config.vocab)
        try logits.withUnsafeMutableBufferPointer {
            try model.evaluate(prefix, cache: cache, logits: $0.baseAddress!, shouldStop: shouldStop)
        }
        let evaluated = EvaluatedPrefix(tokens: prefix, cache: cache, logits: logits)
        keptPrefix = evaluated
        return evaluated
    }
}

/// A prompt prefix evaluated once: its tokens, KV cache and the logits after its last token.
final class EvaluatedPrefix {
    let tokens: [Int32]
    let cache: KVCache
    let logits: [Float]

    init(tokens: [Int32], cache: KVCache, logits: [Float]) {
        self.tokens = tokens
        self.cache = cache
        self.logits = logits
    }
}
