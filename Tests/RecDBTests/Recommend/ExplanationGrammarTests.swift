import Testing

@testable import RecDB

/// The decoding grammar without a model: a toy vocabulary (one token per word, three per placeholder) and logits
/// that push a scripted sentence, to see what the grammar lets through.
@Suite("Explanation grammar")
struct ExplanationGrammarTests {
    /// Word tokens by text (with their leading space), assigned on first sight.
    final class ToyVocabulary {
        var ids: [String: Int32] = [:]
        var words: [Int32: String] = [:]

        func id(_ text: String) -> Int32 {
            if let id = ids[text] { return id }
            let id = Int32(ids.count)
            ids[text] = id
            words[id] = text
            return id
        }

        /// One token per word; a placeholder (" [SOURCE]") is three: " [", "SOURCE", "]".
        func encode(_ text: String) -> [Int32] {
            if text.hasPrefix(" ["), text.hasSuffix("]") {
                return [id(" ["), id(String(text.dropFirst(2).dropLast())), id("]")]
            }
            return [id(text)]
        }

        func text(_ tokens: [Int32]) -> String { tokens.map { words[$0] ?? "?" }.joined() }
    }

    static let facts: ExplanationFacts = {
        var facts = ExplanationFacts(kind: .collaborative, item: "SCOTTIE DOG HOT WATER BOTTLE")
        facts.source = .init(id: "22112", name: "KNITTED UNION FLAG HOT WATER BOTTLE", event: "purchase", daysAgo: 1,
                             isLatest: false)
        facts.coChosenBy = 42
        return facts
    }()

    /// Drives one sentence: each step, the scripted word (when the grammar offers it) scores 20, the placeholder
    /// opening and `favoured` 10; returns the steps taken (token and forced continuation).
    /// With `byPosition`, the script is read by the position of the next token instead of by step, so that a run
    /// with fewer steps (``GuidedSentence/forcedRuns``) meets the same logits at the same place.
    static func drive(
        _ script: [String], favoured: [String] = [], forcedSpans: Bool = true, forcedRuns: Bool = false,
        byPosition: Bool = false, maxTokens: Int = 32,
        facts: ExplanationFacts = ExplanationGrammarTests.facts
    ) -> (text: String, steps: [GuidedToken]) {
        let vocabulary = ToyVocabulary()
        let grammar = ExplanationGrammar(tokens: vocabulary.encode)
        var sentence = GuidedSentence(
            grammar: grammar, facts: facts, maxTokens: maxTokens, forcedSpans: forcedSpans, forcedRuns: forcedRuns)
        var used = Set<Int32>()
        var steps: [GuidedToken] = []
        var tokens: [Int32] = []
        var logits = [Float](repeating: 0, count: vocabulary.ids.count + 64)
        for step in 0..<maxTokens {
            // By position, no two tokens tie (a tie would be broken by set order, which differs between runs).
            for i in logits.indices { logits[i] = byPosition ? -0.001 * Float(i) : 0 }
            let at = byPosition ? tokens.count : step
            if at < script.count { logits[Int(vocabulary.id(script[at]))] = 20 }
            logits[Int(vocabulary.id(" ["))] += 10
            for word in favoured { logits[Int(vocabulary.id(word))] += 10 }
            let next = logits.withUnsafeMutableBufferPointer { sentence.next($0.baseAddress!, usedOpeners: &used) }
            steps.append(next)
            tokens.append(next.token)
            tokens.append(contentsOf: next.continuation)
            if next.isLast { break }
        }
        // The runtime computes only the grammar's vocabulary's logits: every token chosen must be in it.
        #expect(Set(tokens).isSubset(of: grammar.vocabulary), "\(vocabulary.text(tokens))")
        return (vocabulary.text(tokens), steps)
    }

    @Test func aDecidedPlaceholderIsOneForcedSpan() {
        let (text, steps) = Self.drive(["Since", " you", " bought"])
        #expect(text.hasPrefix("Since you bought [SOURCE]"), "\(text)")
        // After "bought" only the source may follow: its three tokens are one step.
        #expect(steps[3].continuation.count == 2, "\(steps)")
        let (plain, plainSteps) = Self.drive(["Since", " you", " bought"], forcedSpans: false)
        #expect(plain.hasPrefix("Since you bought [SOURCE]"), "\(plain)")
        #expect(plainSteps.allSatisfy { $0.continuation.isEmpty })
        #expect(plainSteps.count > steps.count)
    }

    @Test func theItemNeverFollowsAChoosingVerbThroughAnArticle() {
        let (text, _) = Self.drive(["You", " chose", " the"], favoured: ["ITEM"])
        #expect(!text.contains("chose the [ITEM]") && !text.contains("chose [ITEM]"), "\(text)")
    }

    @Test func asWellAsIsNotOffered() {
        let (text, _) = Self.drive(["Since", " you", " bought", " [", " as", " well", " as"])
        #expect(!text.contains(" as well"), "\(text)")
    }

    @Test(arguments: [10, 14, 16, 20])
    func aClaimAboutTheSourceEventGetsItsSourceWithinTheBudget(maxTokens: Int) {
        let (text, _) = Self.drive(["This", " is", " a", " recent", " great", " choice", " for", " you", " too"],
                                   maxTokens: maxTokens)
        #expect(!text.contains(" recent") || text.contains("[SOURCE]"), "\(text)")
    }

    /// The two ways the benchmark saw a source-event claim left without its source (refused by the check): a claim
    /// about the item before the item ("… yesterday could be a great addition to your favorite …", which bars the
    /// source from the clause) and "your" just before the source was due ("Your [SOURCE]" is not offered).
    @Test(arguments: [20, 24, 28, 32])
    func aClaimAboutTheSourceEventIsNotLeftWithoutItsSource(maxTokens: Int) {
        var facts = Self.facts
        facts.trend = .rising
        let script = ["Your", " [", "COUNT", "]", " shoppers", " chose", " both", " yesterday", " could", " be", " a",
                      " great", " addition", " to", " your", " favorite", " product", " category", " right", " now",
                      " at", " your"]
        let (text, _) = Self.drive(script, favoured: [" your", " favorite"], byPosition: true, maxTokens: maxTokens,
                                   facts: facts)
        #expect(!text.contains(" yesterday") || text.contains("[SOURCE]"), "\(text)")
    }

    /// Tokens with no choice left (the source after "bought", "shoppers" after a count, the full stop when nothing
    /// else may come) join the step before them: same sentence, fewer steps, and every step's first token is one
    /// the grammar chose among several.
    @Test(arguments: [
        ["Since", " you", " bought", " [", "SOURCE", "]", ",", " [", "COUNT", "]", " shoppers", " chose", " both"],
        ["This", " is", " a", " recent", " great", " choice", " for", " you", " too"],
        ["You", " chose", " the"],
    ])
    func forcedRunsWriteTheSameSentenceInFewerSteps(script: [String]) {
        let (plain, plainSteps) = Self.drive(script, byPosition: true)
        let (fast, fastSteps) = Self.drive(script, forcedRuns: true, byPosition: true)
        #expect(fast == plain)
        #expect(fastSteps.count <= plainSteps.count, "\(fastSteps.count) vs \(plainSteps.count)")
        let forced = Self.drive(["Since", " you", " bought"], forcedRuns: true, byPosition: true).steps
        // "bought" is chosen; the source's three tokens follow it in the same step.
        #expect(forced[2].continuation.count == 3, "\(forced)")
    }
}
