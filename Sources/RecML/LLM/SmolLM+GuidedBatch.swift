import RecKernels

/// Guided batch decoding: the caller picks every token (a grammar, a token mask, forced spans) from the logits, and
/// what was evaluated is kept between calls: the prompt prefix shared by many requests, and each per-request suffix
/// seen lately (its KV positions and logits), so that a later call whose suffixes repeat them starts decoding at once.
extension SmolLM {
    /// Suffixes kept evaluated (their KV positions behind the kept prefix, and their last logits); past this many the
    /// store starts afresh.
    static let keptSuffixLimit = 128

    /// Decodes one continuation of `prefix` per entry of `suffixes`, letting `choose(sequence, logits)` pick each
    /// token from the `vocab` logits of that sequence (it may read or overwrite them). The prefix is evaluated once
    /// and its KV cache kept in this model, so the next call with the same prefix starts from it; each distinct
    /// suffix is evaluated once per call and kept too (up to ``keptSuffixLimit``), so a suffix an earlier call with
    /// the same prefix evaluated costs a copy. Each sequence stops when `choose` says so or after `maxTokens`. Within
    /// one step the sequences are asked in order, so `choose` may make later ones depend on earlier ones (distinct
    /// first words, for example). A step's `continuation` (``GuidedToken``) is appended after its token and evaluated
    /// in the same pass. With a `vocabulary`, only its logits are computed and passed (the others are `-infinity`):
    /// give it when `choose` reads no other token's. `shouldStop`, asked before every layer of every pass, stops the
    /// batch with `interrupted`.
    public func generateGuidedBatch(
        prefix: [Int32], suffixes: [[Int32]], maxTokens: Int, vocabulary: LogitSubset? = nil,
        shouldStop: () -> Bool = { false },
        choose: (_ sequence: Int, _ logits: UnsafeMutablePointer<Float>) -> GuidedToken
    ) throws -> [[Int32]] {
        guard !prefix.isEmpty, !suffixes.isEmpty, maxTokens > 0 else {
            throw RecMLError(.invalidArgument, "empty prefix, empty batch or no token budget")
        }
        let vocab = model.config.vocab
        let shared = try evaluatedPrefix(prefix, shouldStop: shouldStop)
        if keptSuffixes.vocabulary != vocabulary { keptSuffixes = KeptSuffixes(vocabulary: vocabulary) }
        let n = suffixes.count
        let capacity = prefix.count + (suffixes.map(\.count).max() ?? 0) + maxTokens + 1
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * vocab)
        defer { logits.deallocate() }
        let caches = sequenceCaches(n, capacity: capacity)
        for cache in caches { cache.copy(from: shared.cache) }
        // One evaluation per distinct non-empty suffix not kept from an earlier call; copies for the others.
        var firstWith: [[Int32]: Int] = [:]
        for (i, suffix) in suffixes.enumerated() where !suffix.isEmpty && firstWith[suffix] == nil { firstWith[suffix] = i }
        let missing = firstWith.filter { keptSuffixes.entries[$0.key] == nil }.values.sorted()
        if !missing.isEmpty {
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: missing.count * vocab)
            defer { rows.deallocate() }
            try model.evaluateBatch(
                missing.map { suffixes[$0] }, caches: missing.map { caches[$0] }, logits: rows, vocabulary: vocabulary,
                shouldStop: shouldStop)
            if keptSuffixes.entries.count + missing.count > Self.keptSuffixLimit { keptSuffixes.entries.removeAll() }
            for (row, i) in missing.enumerated() {
                let segment = model.makeCache(capacity: suffixes[i].count)
                segment.append(from: caches[i], positions: prefix.count..<caches[i].length)
                keptSuffixes.entries[suffixes[i]] = KeptSuffix(
                    segment: segment, logits: KeptSuffix.compact(rows + row * vocab, vocab: vocab, vocabulary))
            }
        }
        for i in 0..<n {
            let row = logits + i * vocab
            guard !suffixes[i].isEmpty, let kept = keptSuffixes.entries[suffixes[i]] else {
                shared.logits.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: vocab) }
                continue
            }
            if caches[i].length == prefix.count { caches[i].append(from: kept.segment, positions: 0..<kept.segment.length) }
            kept.expand(into: row, vocab: vocab, vocabulary)
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
                    lists.map { $0[0] }, caches: active.map { caches[$0] }, logits: logits, vocabulary: vocabulary,
                    shouldStop: shouldStop)
            } else {
                try model.evaluateBatch(
                    lists, caches: active.map { caches[$0] }, logits: logits, vocabulary: vocabulary,
                    shouldStop: shouldStop)
            }
            for (row, i) in active.enumerated() { rowOfSequence[i] = row }
        }
        return outs
    }

    /// The KV cache and last logits of `prefix`: the kept ones when the last guided call used the same prefix.
    private func evaluatedPrefix(_ prefix: [Int32], shouldStop: () -> Bool) throws -> EvaluatedPrefix {
        if let kept = keptPrefix, kept.tokens == prefix { return kept }
        keptPrefix = nil
        keptSuffixes = KeptSuffixes(vocabulary: nil)
        let cache = model.makeCache(capacity: prefix.count)
        var logits = [Float](repeating: 0, count: model.config.vocab)
        try logits.withUnsafeMutableBufferPointer {
            try model.evaluate(prefix, cache: cache, logits: $0.baseAddress!, shouldStop: shouldStop)
        }
        let evaluated = EvaluatedPrefix(tokens: prefix, cache: cache, logits: logits)
        keptPrefix = evaluated
        return evaluated
    }

    /// `count` KV caches of at least `capacity` positions, emptied: the ones of the last call when they are large
    /// enough (no allocation and no page faults per page), else new ones.
    private func sequenceCaches(_ count: Int, capacity: Int) -> [KVCache] {
        if let kept = keptSequenceCaches.first, kept.capacity < capacity { keptSequenceCaches = [] }
        while keptSequenceCaches.count < count { keptSequenceCaches.append(model.makeCache(capacity: capacity)) }
        let caches = Array(keptSequenceCaches.prefix(count))
        for cache in caches { cache.truncate(to: 0) }
        return caches
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

/// The suffixes kept evaluated behind the kept prefix, for one head vocabulary (their logits are those of it).
struct KeptSuffixes {
    let vocabulary: LogitSubset?
    var entries: [[Int32]: KeptSuffix] = [:]
}

/// One suffix evaluated behind the kept prefix: its KV positions (from position 0 of `segment`) and its last
/// logits (only the vocabulary's, in its order, when the head was restricted).
struct KeptSuffix {
    let segment: KVCache
    let logits: [Float]

    /// The logits worth keeping of one row: all, or the vocabulary's.
    static func compact(_ row: UnsafePointer<Float>, vocab: Int, _ vocabulary: LogitSubset?) -> [Float] {
        guard let vocabulary else { return Array(UnsafeBufferPointer(start: row, count: vocab)) }
        return vocabulary.tokens.map { row[Int($0)] }
    }

    /// Writes the kept logits as a full row (`-infinity` outside the vocabulary).
    func expand(into row: UnsafeMutablePointer<Float>, vocab: Int, _ vocabulary: LogitSubset?) {
        guard let vocabulary else {
            logits.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: vocab) }
            return
        }
        row.update(repeating: -.infinity, count: vocab)
        for (token, value) in zip(vocabulary.tokens, logits) { row[Int(token)] = value }
    }
}
