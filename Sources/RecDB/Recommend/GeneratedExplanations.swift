import Foundation
import RecML
import Synchronization

/// `EXPLAIN GENERATED`: each result's explanation phrased by the small language model (SmolLM2 in RecML) from its
/// provenance — and only from it. A guard rejects any sentence that names a word with a digit, a capitalised name,
/// or a quotation that the provenance does not contain; the template sentence is used instead, so no invented item,
/// brand or number reaches a shopper. Sentences are cached per (target, item, provenance); the shared prompt prefix
/// is evaluated once and the sentences of one page are decoded together as a batch.
public final class ExplanationGenerator: Sendable {
    /// What one call did.
    public struct Report: Sendable {
        /// Sentences the model wrote that the guard accepted and that replaced the template.
        public var generated = 0
        /// Sentences the guard refused (an unknown name, number or quotation); the template stays.
        public var rejected = 0
        /// Results answered from the cache, with the cached sentence or, for a cached rejection, the template.
        public var cached = 0
        /// Results whose provenance gives the model nothing to say (users, no sources): template kept.
        public var skipped = 0
        /// Wall-clock seconds the call took, model loading and decoding included.
        public var seconds = 0.0
    }

    /// The generator of this process, loading the model on first use.
    public static let shared = ExplanationGenerator()

    /// Sentence per (target, item, provenance); nil records that the guard rejected the sentence (template kept).
    private let cache = Mutex<[String: String?]>([:])
    private let cacheCapacity = 20_000
    /// Tokens per sentence at most (the time budget: about 0.1 s per step for a page of 10 on 2 threads).
    public var maxTokens: Int {
        get { maxTokenLimit.load(ordering: .relaxed) }
        set { maxTokenLimit.store(newValue, ordering: .relaxed) }
    }
    private let maxTokenLimit = Atomic<Int>(40)

    static let systemPrompt = """
        You write one short, friendly sentence for a shopper saying why an item is recommended. Use only the item \
        name and the reason given, with the names written exactly as given. Never mention any other product, \
        brand, price or number.
        Example: Item: RED ENAMEL MUG. Reason: the shopper bought BLUE ENAMEL MUG.
        Since you bought the BLUE ENAMEL MUG, you may like the RED ENAMEL MUG too.
        """

    /// Replaces the explanations of `results` with generated ones where the guard accepts them. `context` names
    /// the target (a user or session id) for the cache key. Throws `notFound` when the model is not installed.
    public func explain(_ results: inout [Recommendation], context: String) throws -> Report {
        let started = Date()
        var report = Report()
        var pending: [(index: Int, key: String, suffix: String, allowed: String)] = []
        /// Per pending result: the source item's name, which the sentence must quote exactly.
        var required: [String?] = []
        for (index, result) in results.enumerated() {
            guard let fact = Self.fact(result.provenance), let title = result.title else {
                report.skipped += 1
                continue
            }
            let key = [context, result.id, result.provenance.reason.rawValue, result.provenance.items.map(\.id).joined(separator: ","),
                       result.provenance.phrase ?? "", result.provenance.category ?? ""].joined(separator: "|")
            if let cached = cache.withLock({ $0[key] }) {
                if let sentence = cached { results[index].explanation = sentence }
                report.cached += 1
                continue
            }
            let allowed = ([title, fact] + result.provenance.items.compactMap(\.title)).joined(separator: " ")
            pending.append((index, key, "Item: \(title)\nReason: \(fact)", allowed))
            required.append(result.provenance.items.first.map { $0.title ?? $0.id })
        }
        guard !pending.isEmpty else {
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
        let suffixTexts = pending.map(\.suffix), maxTokens = maxTokens
        let texts = try SharedLanguageModel.with { model in
            let prefix = model.tokenizer.encode(
                "<|im_start|>system\n\(Self.systemPrompt)<|im_end|>\n<|im_start|>user\n", parseSpecial: true)
            let suffixes = suffixTexts.map {
                model.tokenizer.encode($0 + "<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true)
            }
            // A request past its deadline (or cancelled) stops decoding at the next token; nothing partial is cached.
            let outputs = try RequestControl.stoppingCurrent {
                try model.generateBatch(
                    prefix: prefix, suffixes: suffixes, options: .greedy(maxTokens: maxTokens),
                    shouldStop: { RequestControl.currentShouldStop })
            }
            return outputs.map { model.tokenizer.decode($0, skipSpecial: true) }
        }
        for ((entry, text), source) in zip(zip(pending, texts), required) {
            let decoded = Self.clean(text)
            let sentence = decoded.flatMap {
                Self.guardAccepts($0, allowed: entry.allowed, mustName: source) ? $0 : nil
            }
            if let sentence {
                results[entry.index].explanation = sentence
                report.generated += 1
            } else {
                report.rejected += 1
            }
            cache.withLock { cache in
                if cache.count >= cacheCapacity { cache.removeAll() }
                cache[entry.key] = .some(sentence)
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
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
        case .audience, .profile: return nil
        }
    }

    /// The first sentence of the model's text, trimmed; nil when empty or too short or too long.
    static func clean(_ text: String) -> String? {
        var sentence = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let end = sentence.firstIndex(where: { $0 == "\n" }) { sentence = String(sentence[..<end]) }
        if let stop = sentence.range(of: #"[.!?](\s|$)"#, options: .regularExpression) {
            sentence = String(sentence[..<stop.upperBound]).trimmingCharacters(in: .whitespaces)
        }
        let words = sentence.split(separator: " ").map { $0.lowercased() }
        guard (3...40).contains(words.count), !sentence.hasPrefix("Item:"), !sentence.hasPrefix("Reason:") else { return nil }
        // A degenerate loop ("set of 3 set of 3 …") repeats a three-word run.
        var runs = Set<String>()
        for i in 0..<max(0, words.count - 2) where !runs.insert(words[i...i + 2].joined(separator: " ")).inserted { return nil }
        // Speak to the shopper.
        if sentence.hasPrefix("The shopper ") { sentence = "You " + sentence.dropFirst("The shopper ".count) }
        return sentence
    }

    /// Words a sentence may use besides those of its provenance: function words and the vocabulary of saying why.
    static let commonWords: Set<String> = Set(
        """
        a an the this that these those it its it's you your you're you'll we our i me my he she they them their \
        is are was were be been being am has have had do does did will would can could may might should must \
        and or but so because since as if when while then than too also just only even still very really quite \
        of in on at to for from with by about into onto over under after before next again more most much many \
        some any all both each other another one ones same such not no nor here there why how what which who \
        like likes liked love loves loved enjoy enjoys enjoyed want wants need needs choose chose chosen choice \
        bought buy buying viewed view viewing looked look looking rated liked picked pick added add adding \
        returned goes go going well pair pairs paired match matches matching fits fit complement complements \
        complete completes try check out consider perfect great nice ideal lovely good best favourite favorite \
        similar alike same style styled design designed item items product products piece pieces one ones \
        shopper shoppers customer customers people others often usually frequently popular right now today \
        recommended recommend recommends suggest suggested search searched searching matched cart basket \
        collection set sets range too please may might
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))

    /// Whether `sentence` says only what `allowed` (the item's title, the reason, the source titles) contains:
    /// every word must be in it or among `commonWords`, every quotation must occur in it, and the source item
    /// (`mustName`) must appear exactly (case-insensitive). A sentence of other words could name an invented item,
    /// brand or number, so it is not shown.
    static func guardAccepts(_ sentence: String, allowed: String, mustName source: String? = nil) -> Bool {
        let allowedWords = Set(words(allowed.lowercased()))
        let lowerAllowed = allowed.lowercased()
        // The item the reason rests on must be named exactly (not mangled, not swapped for the recommended one).
        if let source, !sentence.lowercased().contains(source.lowercased()) { return false }
        for quote in sentence.split(separator: "\"", omittingEmptySubsequences: false).enumerated() where quote.offset % 2 == 1 {
            if !lowerAllowed.contains(quote.element.lowercased().trimmingCharacters(in: .whitespaces)) { return false }
        }
        for word in words(sentence) {
            let lower = word.lowercased()
            guard allowedWords.contains(lower) || commonWords.contains(lower) else { return false }
        }
        return true
    }

    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }).map(String.init)
    }
}

/// The SmolLM2 runtime of this process, loaded on first use and used by one request at a time (it has one
/// workspace, so `SmolLM` is not `Sendable`); a request waits for the one before it. This enum is the model's only
/// owner: the mutex is held for as long as `body` uses it.
enum SharedLanguageModel {
    private static let model = Mutex<SmolLM?>(nil)

    /// Runs `body` with the model; throws `notFound` naming `recctl models install smollm2` when it is absent.
    /// `body` is `@Sendable`, so the model cannot leave it: what it returns is `Sendable` and it captures nothing
    /// that another thread could reach the model through.
    static func with<R: Sendable>(_ body: @Sendable (SmolLM) throws -> R) throws -> R {
        try model.withLock { model in
            if model == nil {
                do {
                    model = try SmolLM.installed(threads: 2)
                } catch let error as RecMLError {
                    throw RecDBError(.notFound, error.description, cause: error)
                }
            }
            InferenceProbe.willRun(.languageModel)
            return try body(model!)
        }
    }

    /// Greedy completion of one chat turn after worked examples (user, assistant pairs): the assistant's text.
    static func complete(system: String, examples: [(String, String)] = [], user: String, maxTokens: Int) throws -> String {
        try with { model in
            var text = "<|im_start|>system\n\(system)<|im_end|>\n"
            for (question, answer) in examples {
                text += "<|im_start|>user\n\(question)<|im_end|>\n<|im_start|>assistant\n\(answer)<|im_end|>\n"
            }
            text += "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
            let prompt = model.tokenizer.encode(text, parseSpecial: true)
            let tokens = try RequestControl.stoppingCurrent {
                try model.generateThrowing(
                    prompt: prompt, options: .greedy(maxTokens: maxTokens), shouldStop: { RequestControl.currentShouldStop }
                ) { _ in true }
            }
            return model.tokenizer.decode(tokens, skipSpecial: true)
        }
    }
}
