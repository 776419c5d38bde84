import Synchronization

/// The grammar `EXPLAIN GENERATED` writes under (`RECDB_EXPLAIN_GRAMMAR` or ``ExplanationGenerator/grammarKind``).
public enum ExplanationGrammarKind: String, Sendable, Hashable, CaseIterable {
    /// Whole clauses built from the facts (``ExplanationPhrases``): grammatical by construction.
    case phrases
    /// Single words that make no claim or a supported one, in any order (``ExplanationGrammar``).
    case words
}

/// The phrase grammar of `EXPLAIN GENERATED` (the default; ``ExplanationGenerator/grammar``): every sentence the
/// model may write for a result is one path through well-formed clauses built from its facts — a lead naming the
/// evidence ("Since you recently bought [SOURCE],"), a main clause about the item ("[ITEM] may suit you too") and up
/// to two clauses citing further facts (", as [COUNT] shoppers chose both", ", and it is trending"). The model
/// chooses the path token by token from its logits (``PhraseSentence``); it cannot leave the grammar, so a sentence
/// is grammatical, cites only facts the result has and never spells a name or a number. The word grammar
/// (``ExplanationGrammar``) lets the model put any allowed word anywhere, which a 135M model does awkwardly.
enum ExplanationPhrases {
    /// The sentences for `facts` in `tone`, each a list of pieces: words with their leading space, punctuation, and
    /// placeholders (`" [SOURCE]"`). Empty when the facts give nothing to cite (a popularity result with no
    /// category or trend).
    static func sentences(for facts: ExplanationFacts, tone: ExplanationTone) -> [[String]] {
        var sentences: [[String]] = []
        let extras = extraClauses(facts)
        for core in cores(facts, tone: tone) {
            sentences.append(core.words + ["."])
            // After a clause ending on the source, a claim about the item would read as the source's.
            guard core.takesExtras else { continue }
            // One or two extra clauses, in the order of ``extraClauses(_:)``.
            for first in extras.indices {
                for joint in joints(extras[first]) {
                    sentences.append(core.words + joint + extras[first].words + ["."])
                    for second in extras.indices where second > first {
                        sentences.append(core.words + joint + extras[first].words + [",", " and"] + extras[second].words + ["."])
                    }
                }
            }
        }
        return sentences.filter { sentence in sentence.contains { $0.contains("[") && !$0.contains("[ITEM]") } }
    }

    /// A clause citing one more fact, and whether it is the co-choice count (which reads best after "as").
    private struct Extra {
        var words: [String]
        var isCount = false
    }

    private static func joints(_ extra: Extra) -> [[String]] {
        extra.isCount ? [[",", " as"], [",", " and"]] : [[",", " and"]]
    }

    /// The extra clauses the facts allow, the co-choice count first.
    private static func extraClauses(_ facts: ExplanationFacts) -> [Extra] {
        var extras: [Extra] = []
        // "chose" is read as a choice the facts must support (see ``ClaimLexicon/supports(_:_:)``).
        if facts.coChosenBy != nil, ClaimLexicon.supports(facts, .chose) {
            extras.append(Extra(words: [" [COUNT]", " shoppers", " chose", " both"], isCount: true))
        }
        if facts.trend == .rising { extras.append(Extra(words: [" it", " is", " trending"])) }
        switch facts.price {
        case .cheaper?: extras.append(Extra(words: [" it", " is", " a", " budget", " pick"]))
        case .pricier?: extras.append(Extra(words: [" it", " is", " a", " premium", " pick"]))
        default: break
        }
        if facts.kind != .popularity, facts.category != nil { extras.append(Extra(words: [" it", " is", " also", " in", " [CATEGORY]"])) }
        if facts.brand != nil { extras.append(Extra(words: [" it", " is", " also", " by", " [BRAND]"])) }
        return extras
    }

    /// Main clauses about the item, after a lead that ends with a comma, in `tone`.
    private static func mains(_ tone: ExplanationTone) -> [[String]] {
        var mains: [[String]] = [
            [" you", " may", " like", " [ITEM]", " too"], [" [ITEM]", " may", " suit", " you", " too"],
            [" [ITEM]", " could", " be", " a", " good", " next", " pick"], [" [ITEM]", " is", " worth", " a", " look"],
        ]
        switch tone {
        case .friendly:
            mains += [[" we", " think", " you", " will", " like", " [ITEM]"], [" [ITEM]", " could", " be", " a", " nice", " addition"]]
        case .formal:
            mains += [[" you", " may", " also", " consider", " [ITEM]"], [" [ITEM]", " may", " be", " a", " good", " choice"]]
        case .playful:
            mains += [[" you", " might", " love", " [ITEM]", " too"], [" [ITEM]", " could", " be", " a", " perfect", " next", " pick"]]
        }
        return mains
    }

    /// A sentence without its full stop and extra clauses, and whether extra clauses may follow it.
    private struct Core {
        var words: [String]
        var takesExtras = true
    }

    /// The core of each sentence shape the facts allow.
    private static func cores(_ facts: ExplanationFacts, tone: ExplanationTone) -> [Core] {
        let mains = mains(tone)
        func withMains(_ leads: [[String]]) -> [Core] { leads.flatMap { lead in mains.map { Core(words: lead + $0) } } }
        switch facts.kind {
        case .collaborative, .content, .session:
            guard let source = facts.source else { return [] }
            var leads: [[String]] = []
            var shapes: [Core] = []
            // Only the verbs the faithfulness check reads as the user's event ("liked" is not among them).
            if let verb = facts.sourceVerb, ClaimLexicon.eventVerbs.contains(verb) || verb == "chose" {
                // "you bought [SOURCE]", "you recently viewed [SOURCE]", "you added [SOURCE] to your cart yesterday"
                let cart = verb == "added" ? [" to", " your", " cart"] : []
                let event = [" you", " \(verb)", " [SOURCE]"] + cart
                var events = [event]
                if let days = source.daysAgo, days <= 30 {
                    if days <= 1 {
                        events.append(event + [" yesterday"])
                        leads.append(["Yesterday"] + event + [",", " so"])
                    }
                    events.append([" you", " recently", " \(verb)", " [SOURCE]"] + cart)
                    leads.append(["Recently"] + event + [",", " so"])
                }
                for event in events {
                    leads.append(["Since"] + event + [","])
                    leads.append(["Because"] + event + [","])
                    leads.append(["As"] + event + [","])
                    leads.append(["You"] + event.dropFirst() + [",", " so"])
                    leads.append(["Now", " that"] + event + [","])
                    // The item first, the evidence after it: "[ITEM] may suit you, since you bought [SOURCE]."
                    for main in [[" may", " suit", " you"], [" could", " be", " a", " good", " next", " pick"], [" is", " worth", " a", " look"]] {
                        shapes.append(Core(words: ["[ITEM]"] + main + [",", " since"] + event, takesExtras: false))
                    }
                }
            } else {
                leads += [["If", " you", " like", " [SOURCE]", ","], ["Like", " [SOURCE]", ","]]
            }
            shapes += withMains(leads)
            if facts.kind == .session {
                shapes += [
                    Core(words: ["Shoppers", " who", " pick", " [SOURCE]", " often", " choose", " [ITEM]", " next"]),
                    Core(words: ["After", " [SOURCE]", ",", " many", " shoppers", " go", " for", " [ITEM]"]),
                    Core(words: ["[ITEM]", " is", " often", " chosen", " next", " after", " [SOURCE]"], takesExtras: false),
                ]
            }
            if facts.kind == .content, leads.count == 2 {
                shapes.append(Core(words: ["[ITEM]", " is", " much", " like", " [SOURCE]"], takesExtras: false))
            }
            return shapes
        case .popularity:
            guard facts.category != nil else { return [] }
            return [
                Core(words: ["Right", " now", " [ITEM]", " is", " a", " popular", " pick", " in", " [CATEGORY]"]),
                Core(words: ["[ITEM]", " is", " one", " of", " the", " most", " popular", " items", " in", " [CATEGORY]", " right", " now"]),
                Core(words: ["In", " [CATEGORY]", ",", " [ITEM]", " is", " a", " popular", " choice"]),
                Core(words: ["Many", " shoppers", " in", " [CATEGORY]", " go", " for", " [ITEM]"]),
            ]
        case .textMatch:
            guard facts.phrase != nil else { return [] }
            return [
                Core(words: ["For", " your", " search", " [PHRASE]", ",", " [ITEM]", " is", " a", " close", " match"]),
                Core(words: ["[ITEM]", " matches", " your", " search", " [PHRASE]"]),
                Core(words: ["[ITEM]", " fits", " your", " search", " [PHRASE]", " well"]),
                Core(words: ["Looking", " for", " [PHRASE]", "?", " [ITEM]", " is", " a", " good", " match"]),
            ]
        }
    }
}

/// One sentence decoded under ``ExplanationPhrases``: the token sequences of its candidate sentences, narrowed to
/// those that agree with every token taken so far. At each choice the model's highest logit among the tokens that
/// continue some candidate wins (less a small penalty for a choice other sentences of the page already made, so a
/// page does not repeat one shape); stretches where all candidates agree follow as one forced continuation.
struct PhraseSentence {
    private let candidates: [[Int32]]
    private var active: [Int]
    private(set) var tokens: [Int32] = []
    /// Choices made by the page's sentences so far, shared by them (see ``PageChoices``).
    private let page: PageChoices

    /// A first token that opens with a placeholder (`[ITEM]`): after filling, such openings differ from result to
    /// result, so taking it does not use it up for the page.
    private let placeholderStart: Int32?

    init(candidates: [[Int32]], page: PageChoices, placeholderStart: Int32?) {
        self.candidates = candidates
        active = Array(candidates.indices)
        self.page = page
        self.placeholderStart = placeholderStart
    }

    /// The next token (with the forced run after it); `usedOpeners` are the first tokens other sentences of the page
    /// took, which the first token avoids while others are left.
    mutating func next(_ logits: UnsafeMutablePointer<Float>, usedOpeners: inout Set<Int32>) -> GuidedToken {
        let position = tokens.count
        var choices = Set(active.compactMap { candidates[$0].count > position ? candidates[$0][position] : nil })
        guard !choices.isEmpty else { return GuidedToken(token: 0, isLast: true) }
        if position == 0 {
            let fresh = choices.subtracting(usedOpeners.subtracting([placeholderStart].compactMap { $0 }))
            if !fresh.isEmpty { choices = fresh }
        }
        var chosen = choices.first!
        var bestScore = -Float.infinity
        for token in choices.sorted() {
            let score = logits[Int(token)] - 1.0 * Float(page.count(token))
            if score > bestScore { (chosen, bestScore) = (token, score) }
        }
        if position == 0 && chosen != placeholderStart { usedOpeners.insert(chosen) }
        if choices.count > 1 { page.record(chosen) }
        take(chosen)
        var continuation: [Int32] = []
        while !isFinished {
            let next = Set(active.map { candidates[$0][tokens.count] })
            guard next.count == 1, let forced = next.first else { break }
            take(forced)
            continuation.append(forced)
        }
        return GuidedToken(token: chosen, isLast: isFinished, continuation: continuation)
    }

    /// Whether the path taken is a whole candidate.
    private var isFinished: Bool { active.contains { candidates[$0].count == tokens.count } }

    private mutating func take(_ token: Int32) {
        let position = tokens.count
        tokens.append(token)
        active = active.filter { candidates[$0].count > position && candidates[$0][position] == token }
    }
}

/// The tokens the sentences of one page chose where they had a choice: a sentence pays a small penalty for choosing
/// one again, so the page's sentences take different shapes ("worth a look" once, not on every line). Used on one
/// thread (the page's decoding loop).
final class PageChoices {
    private var counts: [Int32: Int] = [:]

    func count(_ token: Int32) -> Int { counts[token] ?? 0 }

    func record(_ token: Int32) { counts[token, default: 0] += 1 }
}

/// Token sequences of phrase pieces, memoised per process (a page's candidates share most of their pieces).
final class PhraseTokens: Sendable {
    private let memo = Mutex<[String: [Int32]]>([:])

    /// The tokens of `sentence`'s pieces, concatenated.
    func tokens(of sentence: [String], encode: (String) -> [Int32]) -> [Int32] {
        var result: [Int32] = []
        for piece in sentence {
            if let known = memo.withLock({ $0[piece] }) {
                result += known
            } else {
                let encoded = encode(piece)
                memo.withLock { $0[piece] = encoded }
                result += encoded
            }
        }
        return result
    }
}
