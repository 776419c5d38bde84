#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SmolLM2-135M-Instruct (or any llama-architecture GGUF with a GPT-2 BPE vocabulary) ready to generate text.
///
/// ```swift
/// let model = try SmolLM.installed()                       // $RECDB_MODELS/smollm2/…Q4_1.gguf
/// let prompt = model.chatPrompt(messages: [.user("Why buy socks?")], addGenerationPrompt: true)
/// let ids = model.tokenizer.encode(prompt)
/// let out = model.generate(prompt: ids, options: .greedy(maxTokens: 48)) { token in true }
/// print(model.tokenizer.decode(out, skipSpecial: true))
/// ```
/// A `SmolLM` is not safe to use from several threads at once (it owns one set of scratch buffers), so it is not
/// `Sendable`: keep one per thread, or one owner that serialises calls (RecDB keeps it behind a `Mutex`).
public final class SmolLM {
    /// The GGUF file name `installed()` loads.
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The transformer.
    public let model: LlamaModel
    /// The tokenizer built from the same file.
    public let tokenizer: BPETokenizer
    /// The chat template as stored in the file (`tokenizer.chat_template`), if any.
    public let chatTemplate: String?
    /// The ids that end generation by default: EOS and `<|im_end|>`.
    public let defaultStopTokens: Set<Int32>
    /// The prompt prefix of the last guided batch, evaluated (``generateGuidedBatch(prefix:suffixes:maxTokens:vocabulary:shouldStop:choose:)``).
    var keptPrefix: EvaluatedPrefix?
    /// The per-request suffixes evaluated behind ``keptPrefix`` lately (see ``generateGuidedBatch``).
    var keptSuffixes = KeptSuffixes(vocabulary: nil)
    /// The per-sequence KV caches of the last guided batch, reused by the next.
    var keptSequenceCaches: [KVCache] = []

    /// Loads the GGUF at `path`; matmuls use `threads` threads (default 2).
    public init(path: String, threads: Int = 2) throws {
        let gguf = try GGUFFile(path: path)
        tokenizer = try BPETokenizer(gguf: gguf)
        model = try LlamaModel(gguf: gguf, threads: threads)
        guard tokenizer.vocabularySize == model.config.vocab else {
            throw RecMLError(
                .corruptModel, "vocabulary has \(tokenizer.vocabularySize) tokens, embedding \(model.config.vocab)",
                location: path)
        }
        chatTemplate = try? gguf.string("tokenizer.chat_template")
        var stops: Set<Int32> = [tokenizer.eosID]
        if let end = tokenizer.endOfTurnID { stops.insert(end) }
        defaultStopTokens = stops
    }

    /// Loads the installed SmolLM2 model; throws `missingModel` naming `recctl models install smollm2` if absent.
    public static func installed(threads: Int = 2) throws -> SmolLM {
        try SmolLM(path: ModelFiles.smollm2.path(of: fileName), threads: threads)
    }

    /// The default system prompt SmolLM2's template inserts when the first message is not a system message.
    public static let defaultSystemPrompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// Renders `messages` with SmolLM2's ChatML template: `<|im_start|>ROLE\nCONTENT<|im_end|>\n` per message, the
    /// default system message first when the conversation does not start with one, and `<|im_start|>assistant\n`
    /// when `addGenerationPrompt` is true.
    public func chatPrompt(messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = ""
        if let first = messages.first, first.role != "system" {
            out += "<|im_start|>system\n\(Self.defaultSystemPrompt)<|im_end|>\n"
        }
        for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }

    /// Tokens of a chat prompt (template applied, special tokens parsed, no BOS added).
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> [Int32] {
        tokenizer.encode(chatPrompt(messages: messages, addGenerationPrompt: addGenerationPrompt))
    }

    /// A fresh KV cache large enough for `tokens` positions.
    public func makeCache(capacity: Int = 2048) -> KVCache { model.makeCache(capacity: capacity) }

    /// Logits after evaluating `tokens` appended to `cache` (one batched pass for the whole list).
    public func logits(after tokens: [Int32], cache: KVCache) throws -> [Float] {
        var logits = [Float](repeating: 0, count: model.config.vocab)
        try logits.withUnsafeMutableBufferPointer { try model.evaluate(tokens, cache: cache, logits: $0.baseAddress!) }
        return logits
    }

    // MARK: - Generation

    /// Generates up to `options.maxTokens` tokens after `prompt` and returns them (a stop token, when reached, is
    /// the last element). `onToken` sees each token as it is chosen; returning false stops generation.
    /// With `options.beamWidth > 1` this runs beam search and `onToken` sees the winning beam's tokens at the end.
    @discardableResult
    public func generate(prompt: [Int32], options: GenerationOptions, onToken: (Int32) -> Bool = { _ in true })
        -> [Int32]
    {
        (try? generateThrowing(prompt: prompt, options: options, onToken: onToken)) ?? []
    }

    /// `generate`, reporting errors (an empty prompt, a token id out of range, a prompt longer than the context).
    /// `shouldStop` is asked before every layer of every forward pass, prompt included: when it returns true,
    /// generation throws `interrupted` within one layer's time.
    public func generateThrowing(
        prompt: [Int32], options: GenerationOptions, shouldStop: () -> Bool = { false }, onToken: (Int32) -> Bool
    ) throws -> [Int32] {
        guard !prompt.isEmpty else { throw RecMLError(.invalidArgument, "empty prompt") }
        if options.beamWidth > 1 {
            return try beamSearch(prompt: prompt, options: options, shouldStop: shouldStop, onToken: onToken)
        }
        let vocab = model.config.vocab
        let cache = model.makeCache(capacity: prompt.count + options.maxTokens)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { logits.deallocate() }
        try model.evaluate(prompt, cache: cache, logits: logits, shouldStop: shouldStop)
        var sampler = Sampler(options: options)
        let stops = options.stopTokens ?? defaultStopTokens
        var history = prompt
        history.reserveCapacity(prompt.count + options.maxTokens)
        var out: [Int32] = []
        out.reserveCapacity(options.maxTokens)
        while out.count < options.maxTokens {
            Sampler.penalize(logits, history: history[...], options: options)
            let token = sampler.sample(logits, vocab)
            out.append(token)
            history.append(token)
            if !onToken(token) || stops.contains(token) || out.count == options.maxTokens { break }
            guard cache.length < cache.capacity else { break }
            try model.evaluate(token: token, cache: cache, logits: logits, shouldStop: shouldStop)
        }
        return out
    }

    /// Decodes `count` continuations of `prefix` together: the prefix is evaluated once, its KV cache copied into
    /// each sequence, each sequence's own `suffixes[i]` (may be empty) evaluated in one batched pass, then one batched
    /// forward pass per step for all unfinished sequences. Sequence i samples with seed `options.seed + i`.
    /// `onToken(i, token)` returning false stops sequence i. Returns the generated tokens of each sequence.
    /// `shouldStop`, asked before every layer of every pass, stops the whole batch with `interrupted`.
    public func generateBatch(
        prefix: [Int32], suffixes: [[Int32]], options: GenerationOptions, shouldStop: () -> Bool = { false },
        onToken: (Int, Int32) -> Bool = { _, _ in true }
    ) throws -> [[Int32]] {
        guard !prefix.isEmpty, !suffixes.isEmpty else { throw RecMLError(.invalidArgument, "empty prefix or batch") }
        let n = suffixes.count
        let vocab = model.config.vocab
        let longest = suffixes.map(\.count).max() ?? 0
        let capacity = prefix.count + longest + options.maxTokens
        let shared = model.makeCache(capacity: prefix.count)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * vocab)
        defer { logits.deallocate() }
        try model.evaluate(prefix, cache: shared, logits: logits, shouldStop: shouldStop)
        let caches = (0..<n).map { _ in
            let c = model.makeCache(capacity: capacity)
            c.copy(from: shared)
            return c
        }
        // Evaluate the non-empty suffixes together; sequences with none reuse the prefix's logits.
        let withSuffix = suffixes.indices.filter { !suffixes[$0].isEmpty }
        if !withSuffix.isEmpty {
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: withSuffix.count * vocab)
            defer { tmp.deallocate() }
            try model.evaluateBatch(
                withSuffix.map { suffixes[$0] }, caches: withSuffix.map { caches[$0] }, logits: tmp, shouldStop: shouldStop)
            for i in (0..<n).reversed() where suffixes[i].isEmpty { (logits + i * vocab).update(from: logits, count: vocab) }
            for (j, i) in withSuffix.enumerated() { (logits + i * vocab).update(from: tmp + j * vocab, count: vocab) }
        } else {
            for i in 1..<n { (logits + i * vocab).update(from: logits, count: vocab) }
        }
        var samplers = (0..<n).map { Sampler(options: options, seed: options.seed &+ UInt64($0)) }
        let stops = options.stopTokens ?? defaultStopTokens
        var histories = suffixes.map { prefix + $0 }
        var outs = [[Int32]](repeating: [], count: n)
        var active = Array(0..<n)
        var rowOfSeq = Array(0..<n)  // row of logits holding sequence i's latest logits
        var stepTokens: [Int32] = []
        var stepCaches: [KVCache] = []
        while !active.isEmpty {
            var still: [Int] = []
            stepTokens.removeAll(keepingCapacity: true)
            stepCaches.removeAll(keepingCapacity: true)
            for i in active {
                let row = logits + rowOfSeq[i] * vocab
                Sampler.penalize(row, history: histories[i][...], options: options)
                let token = samplers[i].sample(row, vocab)
                outs[i].append(token)
                histories[i].append(token)
                let keep = onToken(i, token)
                if keep && !stops.contains(token) && outs[i].count < options.maxTokens
                    && caches[i].length < caches[i].capacity
                {
                    still.append(i)
                    stepTokens.append(token)
                    stepCaches.append(caches[i])
                }
            }
            active = still
            if active.isEmpty { break }
            try model.evaluateBatch(stepTokens, caches: stepCaches, logits: logits, shouldStop: shouldStop)
            for (row, i) in active.enumerated() { rowOfSeq[i] = row }
        }
        return outs
    }

    // MARK: - Beam search

    private func beamSearch(
        prompt: [Int32], options: GenerationOptions, shouldStop: () -> Bool, onToken: (Int32) -> Bool
    ) throws -> [Int32] {
        let width = options.beamWidth
        let vocab = model.config.vocab
        let capacity = prompt.count + options.maxTokens
        let stops = options.stopTokens ?? defaultStopTokens
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: width * vocab)
        defer { logits.deallocate() }
        let root = model.makeCache(capacity: capacity)
        try model.evaluate(prompt, cache: root, logits: logits, shouldStop: shouldStop)
        struct Beam { var tokens: [Int32]; var logProb: Float; var cache: KVCache; var row: Int }
        var beams = [Beam(tokens: [], logProb: 0, cache: root, row: 0)]
        var spare: [KVCache] = (1..<width).map { _ in model.makeCache(capacity: capacity) }
        var finished: [(tokens: [Int32], score: Float)] = []
        func score(_ logProb: Float, _ length: Int) -> Float {
            logProb / powf(Float(max(length, 1)), options.lengthPenalty)
        }
        var candidateScores: [Float] = []
        var candidates: [(beam: Int, token: Int32, logProb: Float)] = []
        for _ in 0..<options.maxTokens {
            candidates.removeAll(keepingCapacity: true)
            for (b, beam) in beams.enumerated() {
                let row = logits + beam.row * vocab
                Sampler.penalize(row, history: (prompt + beam.tokens)[...], options: options)
                var maxLogit = -Float.infinity
                for i in 0..<vocab { maxLogit = max(maxLogit, row[i]) }
                var total: Float = 0
                for i in 0..<vocab { total += expf(row[i] - maxLogit) }
                let logZ = maxLogit + logf(total)
                // top `width` tokens of this beam
                candidateScores.removeAll(keepingCapacity: true)
                var top: [(Int32, Float)] = []
                for i in 0..<vocab {
                    let l = row[i]
                    if top.count < width {
                        top.append((Int32(i), l))
                        top.sort { $0.1 > $1.1 }
                    } else if l > top[width - 1].1 {
                        top[width - 1] = (Int32(i), l)
                        top.sort { $0.1 > $1.1 }
                    }
                }
                for (t, l) in top { candidates.append((b, t, beam.logProb + l - logZ)) }
            }
            candidates.sort { $0.logProb > $1.logProb }
            var next: [Beam] = []
            var usedCaches = Set<ObjectIdentifier>()
            for cand in candidates {
                let parent = beams[cand.beam]
                let tokens = parent.tokens + [cand.token]
                if stops.contains(cand.token) {
                    finished.append((tokens, score(cand.logProb, tokens.count)))
                    continue
                }
                if next.count == width { continue }
                // reuse the parent's cache for its first child, copy it for the others
                let cache: KVCache
                if usedCaches.insert(ObjectIdentifier(parent.cache)).inserted {
                    cache = parent.cache
                } else {
                    cache = spare.popLast() ?? model.makeCache(capacity: capacity)
                    cache.copy(from: parent.cache)
                }
                next.append(Beam(tokens: tokens, logProb: cand.logProb, cache: cache, row: 0))
            }
            // caches of beams that were dropped go back to the pool
            let kept = Set(next.map { ObjectIdentifier($0.cache) })
            for beam in beams where !kept.contains(ObjectIdentifier(beam.cache)) { spare.append(beam.cache) }
            beams = next
            let bestFinished = finished.map(\.score).max() ?? -Float.infinity
            let bestOpen = beams.map { score($0.logProb, $0.tokens.count) }.max() ?? -Float.infinity
            if beams.isEmpty || (finished.count >= width && bestFinished >= bestOpen) { break }
            guard beams.allSatisfy({ $0.cache.length < $0.cache.capacity }) else { break }
            // a parent cache reused by its first child must hold exactly its prefix: positions match tokens
            for b in beams.indices { beams[b].row = b }
            try model.evaluateBatch(
                beams.map { $0.tokens.last! }, caches: beams.map(\.cache), logits: logits, shouldStop: shouldStop)
        }
        for beam in beams { finished.append((beam.tokens, score(beam.logProb, beam.tokens.count))) }
        let best = finished.max { $0.score < $1.score }?.tokens ?? []
        for t in best where !onToken(t) { break }
        return best
    }
}
