import Foundation
import RecML

/// `EXPLAIN GENERATED`: each result's explanation phrased by the small language model (SmolLM2 in RecML) from its
/// provenance — and only from it. A guard rejects any sentence that names a word with a digit, a capitalised name,
/// or a quotation that the provenance does not contain; the template sentence is used instead, so no invented item,
/// brand or number reaches a shopper. Sentences are cached per (target, item, provenance); the shared prompt prefix
/// is evaluated once and the sentences of one page are decoded together as a batch.
public final class ExplanationGenerator: @unchecked Sendable {
    /// What one call did.
    public struct Report: Sendable {
        public var generated = 0
        public var rejected = 0
        public var cached = 0
        /// Results whose provenance gives the model nothing to say (users, no sources): template kept.
        public var skipped = 0
        public var seconds = 0.0
    }

    /// The generator of this process, loading the model on first use.
    public static let shared = ExplanationGenerator()

    private let lock = NSLock()
    private var model: SmolLM?
    private var cache: [String: String] = [:]
    private let cacheCapacity = 20_000
    /// Tokens per sentence at most (the time budget: about 0.1 s per step for a page of 10 on 2 threads).
    public var maxTokens = 40

    static let systemPrompt = """
        You write one short sentence for a shopper saying why an item is recommended. Use only the item and the \
        reason given. Do not mention any other product, brand, price or number.
        """

    /// Replaces the explanations of `results` with generated ones where the guard accepts them. `context` names
    /// the target (a user or session id) for the cache key. Throws `notFound` when the model is not installed.
    public func explain(_ results: inout [Recommendation], titles: [String?], context: String) throws -> Report {
        let started = Date()
        var report = Report()
        var pending: [(index: Int, key: String, suffix: String, allowed: String)] = []
        for (index, result) in results.enumerated() {
            guard let fact = Self.fact(result.provenance), let title = titles[index] else {
                report.skipped += 1
                continue
            }
            let key = [context, result.id, result.provenance.reason.rawValue, result.provenance.items.map(\.id).joined(separator: ","),
                       result.provenance.phrase ?? "", result.provenance.category ?? ""].joined(separator: "|")
            lock.lock()
            let cached = cache[key]
            lock.unlock()
            if let cached {
                results[index].explanation = cached
                report.cached += 1
                continue
            }
            let allowed = ([title, fact] + result.provenance.items.compactMap(\.title)).joined(separator: " ")
            pending.append((index, key, "Item: \(title)\nReason: \(fact)", allowed))
        }
        guard !pending.isEmpty else {
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
        let model = try loadedModel()
        let prefix = model.tokenizer.encode(
            "<|im_start|>system\n\(Self.systemPrompt)<|im_end|>\n<|im_start|>user\n", parseSpecial: true)
        let suffixes = pending.map {
            model.tokenizer.encode($0.suffix + "<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true)
        }
        lock.lock()
        defer { lock.unlock() }  // one page at a time: the model has one workspace
        let outputs = try model.generateBatch(prefix: prefix, suffixes: suffixes, options: .greedy(maxTokens: maxTokens))
        for (entry, tokens) in zip(pending, outputs) {
            let sentence = Self.clean(model.tokenizer.decode(tokens, skipSpecial: true))
            if let sentence, Self.guardAccepts(sentence, allowed: entry.allowed) {
                results[entry.index].explanation = sentence
                if cache.count >= cacheCapacity { cache.removeAll() }
                cache[entry.key] = sentence
                report.generated += 1
            } else {
                report.rejected += 1
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    private func loadedModel() throws -> SmolLM {
        lock.lock()
        defer { lock.unlock() }
        if let model { return model }
        do {
            let loaded = try SmolLM.installed(threads: 2)
            model = loaded
            return loaded
        } catch let error as RecMLError {
            throw RecDBError(.notFound, error.description, cause: error)
        }
    }

    /// The reason in plain words, from provenance only; nil when there is nothing grounded to say.
    static func fact(_ provenance: Provenance) -> String? {
        let source = provenance.items.first.map { $0.title ?? $0.id }
        switch provenance.reason {
        case .history:
            return source.map { "the shopper \(Explanation.verb(for: provenance.items.first?.eventType)) \($0)" }
        case .content: return source.map { "it is like \($0), which the shopper chose before" }
        case .session: return source.map { "shoppers often choose it next after \($0)" }
        case .basket: return source.map { "it goes well with \($0)" }
        case .similarItem: return source.map { "it is similar to \($0)" }
        case .popularity: return provenance.category.map { "it is popular in \($0) right now" } ?? "it is popular right now"
        case .matching: return provenance.phrase.map { "it matches the search \"\($0)\"" }
        case .audience: return nil
        }
    }

    /// The first sentence of the model's text, trimmed; nil when empty or too short or too long.
    static func clean(_ text: String) -> String? {
        var sentence = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let end = sentence.firstIndex(where: { $0 == "\n" }) { sentence = String(sentence[..<end]) }
        if let stop = sentence.range(of: #"[.!?](\s|$)"#, options: .regularExpression) {
            sentence = String(sentence[..<stop.upperBound]).trimmingCharacters(in: .whitespaces)
        }
        let words = sentence.split(separator: " ").count
        guard (3...40).contains(words) else { return nil }
        return sentence
    }

    /// Words that may be capitalised without being names.
    static let commonWords: Set<String> = [
        "you", "your", "we", "our", "i", "this", "it", "its", "the", "a", "an", "if", "since", "because", "as", "with",
        "for", "and", "or", "to", "of", "in", "on", "try", "check", "perfect", "great", "recommended", "shoppers",
        "shopper", "customers", "item", "items", "based", "enjoy", "love", "like", "looking", "popular", "similar",
        "here", "why", "not", "some", "consider", "add", "pair", "goes", "well", "next", "after", "matches", "search",
        "right", "now", "bought", "viewed", "chose", "rated", "liked", "cart", "basket", "recently", "also", "many",
        "people", "who", "that", "these", "those", "what", "how", "when", "just", "so", "then", "maybe", "ideal",
    ]

    /// Whether `sentence` names only what `allowed` contains: every word with a digit, every capitalised word
    /// (other than common words) and every quotation must occur in the allowed text (case-insensitive).
    static func guardAccepts(_ sentence: String, allowed: String) -> Bool {
        let allowedWords = Set(words(allowed.lowercased()))
        let lowerAllowed = allowed.lowercased()
        for quote in sentence.split(separator: "\"", omittingEmptySubsequences: false).enumerated() where quote.offset % 2 == 1 {
            if !lowerAllowed.contains(quote.element.lowercased().trimmingCharacters(in: .whitespaces)) { return false }
        }
        for word in words(sentence) {
            let lower = word.lowercased()
            if word.contains(where: \.isNumber) && !allowedWords.contains(lower) { return false }
            if word.first?.isUppercase == true && !commonWords.contains(lower) && !allowedWords.contains(lower) { return false }
        }
        return true
    }

    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }).map(String.init)
    }
}
