import Foundation
import Synchronization

/// `EXPLAIN GENERATED`: each result's explanation written by the small language model (SmolLM2, from the installed
/// ``TextRuntime``) from the result's typed facts (``ExplanationFacts``), grounded by construction: the model writes
/// around placeholders (`[SOURCE]`, `[COUNT]`, …) that RecDB fills, and a token grammar (``ExplanationGrammar``)
/// offers it only words that make no claim or whose claim the facts support. ``FaithfulnessCheck`` then splits the
/// finished sentence into statements and checks each; a sentence with any unsupported statement is not shown (the
/// template is, with the reason). The sentences of a page are decoded together, the shared prompt prefix is
/// evaluated once per process, each facts line once while the runtime keeps it (facts lines are written in
/// placeholders, so pages of different users share them), the LM head computes only the logits of the grammar's
/// vocabulary, and sentences are cached per (tone, target, item, facts). Generation runs after the
/// read transaction closes, at most ``queueLimit`` pages waiting for the model and within ``deadlineSeconds``; past
/// either, templates.
public final class ExplanationGenerator: Sendable {
    /// What one call did.
    public struct Report: Sendable {
        /// Sentences the model wrote that the check accepted and that replaced the template.
        public var generated = 0
        /// Sentences the faithfulness check refused (a statement it could not support); the template stays.
        public var rejected = 0
        /// Results answered from the cache, with the cached sentence or, for a cached rejection, the template.
        public var cached = 0
        /// Results with nothing to explain from (users, self-described profiles): template kept.
        public var skipped = 0
        /// Atomic statements in the generated sentences shown.
        public var statements = 0
        /// Of those, statements the facts support (all of them: a sentence with an unsupported one is not shown).
        public var supportedStatements = 0
        /// Statements in every generated sentence, shown or not, and how many the facts support.
        public var checkedStatements = 0
        /// See ``checkedStatements``.
        public var checkedSupported = 0
        /// Templates shown, by reason (`unsupported_statement`, `busy`, `deadline`, `no_facts`, …).
        public var fallbacks: [String: Int] = [:]
        /// Wall-clock seconds the call took, model loading and decoding included.
        public var seconds = 0.0
        /// The model's failure, when one made the page fall back to templates (`model_error`).
        public var error: String?
        /// Seconds spent before the first token was chosen: the per-result prompt suffixes evaluated in one batched
        /// pass (and the shared prefix, when this process had not evaluated it yet).
        public var prefillSeconds = 0.0
        /// Seconds spent choosing and evaluating generated tokens after the prefill.
        public var decodeSeconds = 0.0
        /// Prompt tokens of the page's own suffixes (the shared prefix is not counted: it is evaluated once).
        public var promptTokens = 0
        /// Tokens generated over all sentences of the page, and the batched decoding steps they took.
        public var generatedTokens = 0
        /// See ``generatedTokens``.
        public var decodeSteps = 0
        /// The sentences the check refused, with the result's id and the first unsupported statement's problem:
        /// what a maintainer reads to fix the grammar (never shown as an explanation).
        public var rejections: [(id: String, sentence: String, problem: String)] = []

        func finished(since start: Date) -> Report {
            var report = self
            report.seconds = Date().timeIntervalSince(start)
            return report
        }
    }

    /// The generator of this process, loading the model on first use.
    public static let shared = ExplanationGenerator()

    /// Explained pages, looked up before facts are read (see ``ExplanationPageCache``).
    let pages = ExplanationPageCache()

    /// Sentence (nil: rejected, with the reason) per (tone, target, item, facts).
    private let cache = Mutex<[String: (sentence: String?, reason: String?)]>([:])
    private let cacheCapacity = 20_000
    private let settings = Mutex(Settings())
    private let waiting = Atomic<Int>(0)

    private struct Settings {
        var tone = ExplanationTone(rawValue: ProcessInfo.processInfo.environment["RECDB_EXPLAIN_TONE"] ?? "") ?? .friendly
        var maxTokens = 32
        var forcedSpans = ProcessInfo.processInfo.environment["RECDB_EXPLAIN_FORCED_SPANS"] != "0"
        var forcedRuns = ProcessInfo.processInfo.environment["RECDB_EXPLAIN_FORCED_RUNS"] != "0"
        var queueLimit = 2
        var grammar = ExplanationGrammarKind(rawValue: ProcessInfo.processInfo.environment["RECDB_EXPLAIN_GRAMMAR"] ?? "")
            ?? .phrases
        var deadlineSeconds = Double(ProcessInfo.processInfo.environment["RECDB_EXPLAIN_DEADLINE"] ?? "") ?? 3.0
    }

    /// The register of the sentences (default `friendly`, or `RECDB_EXPLAIN_TONE`).
    public var tone: ExplanationTone {
        get { settings.withLock { $0.tone } }
        set { settings.withLock { $0.tone = newValue } }
    }
    /// Tokens per sentence at most (placeholders count their tokens).
    public var maxTokens: Int {
        get { settings.withLock { $0.maxTokens } }
        set { settings.withLock { $0.maxTokens = max(8, newValue) } }
    }
    /// Whether the rest of a placeholder, once decided, is evaluated as one forced span in one step (default on;
    /// `RECDB_EXPLAIN_FORCED_SPANS=0` turns it off, for measuring what it saves).
    public var forcedSpans: Bool {
        get { settings.withLock { $0.forcedSpans } }
        set { settings.withLock { $0.forcedSpans = newValue } }
    }
    /// Whether tokens the grammar leaves no choice for (the source after "bought", "shoppers" after a count, a forced
    /// full stop) join the step before them instead of taking a step of their own (default on;
    /// `RECDB_EXPLAIN_FORCED_RUNS=0` turns this off). The sentences are the same; the batched passes are fewer.
    public var forcedRuns: Bool {
        get { settings.withLock { $0.forcedRuns } }
        set { settings.withLock { $0.forcedRuns = newValue } }
    }
    /// Which grammar the model writes under: `phrases` (default; ``ExplanationPhrases``) or `words`
    /// (``ExplanationGrammar``), or `RECDB_EXPLAIN_GRAMMAR`.
    public var grammarKind: ExplanationGrammarKind {
        get { settings.withLock { $0.grammar } }
        set { settings.withLock { $0.grammar = newValue } }
    }
    /// Pages that may wait for the model while another is generated; further pages get templates (`busy`).
    public var queueLimit: Int {
        get { settings.withLock { $0.queueLimit } }
        set { settings.withLock { $0.queueLimit = max(0, newValue) } }
    }
    /// Seconds a page may spend running the model once it is loaded (default 3, or `RECDB_EXPLAIN_DEADLINE`), and
    /// never past a quarter second before the request's own deadline; past it, templates (`deadline`).
    public var deadlineSeconds: Double {
        get { settings.withLock { $0.deadlineSeconds } }
        set { settings.withLock { $0.deadlineSeconds = newValue } }
    }

    /// The grammar of the loaded model's vocabulary, built on first use.
    private let grammar = Mutex<ExplanationGrammar?>(nil)

    /// Replaces the explanations of `results` with generated ones where the check accepts them, marking each
    /// result's ``Recommendation/explanationSource`` and, for templates, its ``Recommendation/fallbackReason``.
    /// Results need their ``Recommendation/facts`` (read in the request's transaction). `context` names the
    /// target for the cache key. Throws `notFound` when the model is not installed.
    public func explain(_ results: inout [Recommendation], context: String) throws -> Report {
        let started = Date()
        let (tone, maxTokens, queueLimit, deadlineSeconds, forcedSpans, forcedRuns, grammarKind) = settings.withLock {
            ($0.tone, $0.maxTokens, $0.queueLimit, $0.deadlineSeconds, $0.forcedSpans, $0.forcedRuns, $0.grammar)
        }
        var report = Report()
        var pending: [(index: Int, key: String, facts: ExplanationFacts)] = []
        for (index, result) in results.enumerated() {
            guard let facts = result.facts else {
                fallBack(&results[index], "no_facts", &report)
                report.skipped += 1
                continue
            }
            let key = "\(grammarKind.rawValue)|\(tone.rawValue)|\(context)|\(result.id)|\(facts.hashValue)"
            if let cached = cache.withLock({ $0[key] }) {
                report.cached += 1
                if let sentence = cached.sentence {
                    show(sentence, facts: facts, in: &results[index], &report)
                } else {
                    fallBack(&results[index], cached.reason ?? "unsupported_statement", &report)
                }
                continue
            }
            pending.append((index, key, facts))
        }
        guard !pending.isEmpty else { return report.finished(since: started) }
        guard waiting.add(1, ordering: .relaxed).newValue <= queueLimit + 1 else {
            waiting.subtract(1, ordering: .relaxed)
            for entry in pending { fallBack(&results[entry.index], "busy", &report) }
            return report.finished(since: started)
        }
        defer { waiting.subtract(1, ordering: .relaxed) }
        // The model is loaded (once per process) before the page's deadline starts.
        try SharedLanguageModel.with { _ in }
        var stopAt = Date().addingTimeInterval(deadlineSeconds)
        if let requestDeadline = RequestControl.current?.deadline {
            // Templates in time rather than a request stopped: keep a quarter second of the request's own deadline.
            let left = (Double(requestDeadline) - Double(DispatchTime.now().uptimeNanoseconds)) / 1e9
            stopAt = min(stopAt, Date().addingTimeInterval(left - 0.25))
        }
        let deadline = stopAt
        let factsList = pending.map(\.facts)
        let written: (sentences: [String], timing: Timing)?
        do {
            written = try SharedLanguageModel.with { [self] model in
                guard Date() < deadline else { return nil }
                // The word grammar is built (once per process) only when it is the one in use.
                let rules: ExplanationGrammar? =
                    grammarKind == .words
                    ? self.grammar.withLock { rules in
                        if rules == nil { rules = ExplanationGrammar(tokens: { model.tokens(of: $0, special: false) }) }
                        return rules!
                    } : nil
                var timing = Timing()
                let sentences = try Self.write(
                    factsList, tone: tone, maxTokens: maxTokens, forced: (forcedSpans, forcedRuns),
                    grammar: rules, model: model, timing: &timing
                ) {
                    RequestControl.currentShouldStop || Date() >= deadline
                }
                return (sentences, timing)
            }
        } catch let error as RecDBError where error.code == .notFound {
            throw error
        } catch {
            // Stopped by the request (rethrown there) or by this page's deadline; any other failure is reported.
            try RequestControl.checkCurrent()
            if Date() < deadline { report.error = "\(error)" }
            written = nil
        }
        if let timing = written?.timing {
            (report.prefillSeconds, report.decodeSeconds) = (timing.prefillSeconds, timing.decodeSeconds)
            (report.promptTokens, report.generatedTokens, report.decodeSteps) =
                (timing.promptTokens, timing.generatedTokens, timing.decodeSteps)
        }
        guard let sentences = written?.sentences else {
            for entry in pending { fallBack(&results[entry.index], report.error == nil ? "deadline" : "model_error", &report) }
            return report.finished(since: started)
        }
        for (entry, sentence) in zip(pending, sentences) {
            let verdict = FaithfulnessCheck.check(sentence, facts: entry.facts)
            report.checkedStatements += verdict.statements
            report.checkedSupported += verdict.supported
            let outcome: (sentence: String?, reason: String?)
            if verdict.accepted {
                show(sentence, facts: entry.facts, in: &results[entry.index], &report, verdict: verdict)
                report.generated += 1
                outcome = (sentence, nil)
            } else {
                let reason = verdict.factsCited == 0 && verdict.problem == nil ? "no_fact_cited" : "unsupported_statement"
                fallBack(&results[entry.index], reason, &report)
                report.rejected += 1
                report.rejections.append((results[entry.index].id, sentence, verdict.problem ?? reason))
                outcome = (nil, reason)
            }
            cache.withLock { cache in
                if cache.count >= cacheCapacity { cache.removeAll() }
                cache[entry.key] = outcome
            }
        }
        return report.finished(since: started)
    }

    /// Where one page's model time went (see ``Report/prefillSeconds``).
    struct Timing {
        var prefillSeconds = 0.0, decodeSeconds = 0.0
        var promptTokens = 0, generatedTokens = 0, decodeSteps = 0
    }

    /// Tokens of the phrase grammar's pieces, kept for the process.
    private static let phraseTokens = PhraseTokens()

    /// One sentence being decoded, under either grammar.
    private enum Decoding {
        case words(GuidedSentence)
        case phrases(PhraseSentence)

        mutating func next(_ logits: UnsafeMutablePointer<Float>, usedOpeners: inout Set<Int32>) -> GuidedToken {
            switch self {
            case .words(var sentence):
                defer { self = .words(sentence) }
                return sentence.next(logits, usedOpeners: &usedOpeners)
            case .phrases(var sentence):
                defer { self = .phrases(sentence) }
                return sentence.next(logits, usedOpeners: &usedOpeners)
            }
        }
    }

    /// The sentences for `facts`, decoded together under the word grammar when given, else the phrase grammar;
    /// placeholders filled.
    private static func write(
        _ facts: [ExplanationFacts], tone: ExplanationTone, maxTokens: Int, forced: (spans: Bool, runs: Bool),
        grammar: ExplanationGrammar?,
        model: any GuidedLanguageModel, timing: inout Timing, shouldStop: () -> Bool
    ) throws -> [String] {
        let prefix = model.tokens(of: ExplanationPrompts.prefix(tone), special: true)
        let suffixes = facts.map { model.tokens(of: ExplanationPrompts.suffix($0), special: true) }
        var sentences: [Decoding]
        let vocabulary: [Int32]
        var tokenBudget = maxTokens
        if let grammar {
            sentences = facts.map {
                .words(GuidedSentence(
                    grammar: grammar, facts: $0, maxTokens: maxTokens, forcedSpans: forced.spans, forcedRuns: forced.runs))
            }
            vocabulary = grammar.vocabulary
        } else {
            let page = PageChoices()
            let period = phraseTokens.tokens(of: ["."]) { model.tokens(of: $0, special: false) }
            let candidates = facts.map { facts in
                let written = ExplanationPhrases.sentences(for: facts, tone: tone).map { sentence in
                    phraseTokens.tokens(of: sentence) { model.tokens(of: $0, special: false) }
                }
                // No shape cites a fact: a bare full stop, which the check refuses as citing none.
                return written.isEmpty ? [period] : written
            }
            tokenBudget = candidates.joined().map(\.count).max() ?? maxTokens
            vocabulary = Set(candidates.joined().joined()).sorted()
            let placeholderStart = model.tokens(of: "[ITEM]", special: false).first
            sentences = candidates.map {
                .phrases(PhraseSentence(candidates: $0, page: page, placeholderStart: placeholderStart))
            }
        }
        var usedOpeners = Set<Int32>()
        let started = DispatchTime.now().uptimeNanoseconds
        var firstChoice: UInt64?
        var lastSequence = Int.max
        timing.promptTokens = Set(suffixes).reduce(0) { $0 + $1.count }
        let outputs = try model.generateGuidedBatch(
            prefix: prefix, suffixes: suffixes, maxTokens: tokenBudget, vocabulary: vocabulary,
            shouldStop: shouldStop
        ) { sequence, logits in
            if firstChoice == nil { firstChoice = DispatchTime.now().uptimeNanoseconds }
            if sequence <= lastSequence { timing.decodeSteps += 1 }
            lastSequence = sequence
            return sentences[sequence].next(logits, usedOpeners: &usedOpeners)
        }
        let finished = DispatchTime.now().uptimeNanoseconds
        timing.prefillSeconds = Double((firstChoice ?? finished) - started) / 1e9
        timing.decodeSeconds = Double(finished - (firstChoice ?? finished)) / 1e9
        timing.generatedTokens = outputs.reduce(0) { $0 + $1.count }
        return zip(outputs, facts).map { tokens, facts in
            fill(model.text(of: tokens), facts: facts)
        }
    }

    /// `text` with each placeholder replaced by its fact's value (a value's own closing full stop is dropped before
    /// the sentence's comma or full stop: "… WHITE HEART., …" reads "… WHITE HEART, …").
    static func fill(_ text: String, facts: ExplanationFacts) -> String {
        var sentence = text.trimmingCharacters(in: .whitespacesAndNewlines)
        for (slot, value) in facts.slots {
            if let bare = ExplanationFacts.withoutClosingFullStop(value) {
                for mark in [".", ","] {
                    sentence = sentence.replacingOccurrences(of: slot.marker + mark, with: bare + mark)
                }
            }
            sentence = sentence.replacingOccurrences(of: slot.marker, with: value)
        }
        return sentence
    }

    private func show(
        _ sentence: String, facts: ExplanationFacts, in result: inout Recommendation, _ report: inout Report,
        verdict: FaithfulnessCheck.Verdict? = nil
    ) {
        let verdict = verdict ?? FaithfulnessCheck.check(sentence, facts: facts)
        result.explanation = sentence
        result.explanationSource = .generated
        result.fallbackReason = nil
        report.statements += verdict.statements
        report.supportedStatements += verdict.supported
    }

    private func fallBack(_ result: inout Recommendation, _ reason: String, _ report: inout Report) {
        result.explanationSource = .template
        result.fallbackReason = reason
        report.fallbacks[reason, default: 0] += 1
    }
}
