import Testing

@testable import RecDB

/// The phrase grammar without a model: every sentence it can write passes the faithfulness check for its facts, cites
/// a fact, and the decoder only ever follows a candidate.
@Suite("Explanation phrases")
struct ExplanationPhrasesTests {
    /// Facts of every kind, with and without each optional fact.
    static var factsGrid: [ExplanationFacts] {
        var grid: [ExplanationFacts] = []
        for kind in ExplanationFacts.Kind.allCases {
            for event in [nil, "purchase", "cart", "wishlist"] as [String?] {
                for daysAgo in [nil, 1] as [Int?] {
                    for extras in [0, 1, 2, 4, 7] {
                        var facts = ExplanationFacts(kind: kind, item: "PINK POLKADOT BOWL")
                        if kind != .popularity && kind != .textMatch {
                            facts.source = .init(id: "9", name: "RED RETROSPOT CUP", event: event, daysAgo: daysAgo,
                                                 isLatest: false)
                        }
                        if kind == .textMatch { facts.phrase = "polka dot bowl" }
                        if extras & 1 != 0 { facts.coChosenBy = 42 }
                        if extras & 2 != 0 { (facts.category, facts.brand) = ("Kitchen", "Retrospot") }
                        if extras & 4 != 0 { (facts.trend, facts.price) = (.rising, daysAgo == 1 ? .pricier : .cheaper) }
                        grid.append(facts)
                    }
                }
            }
        }
        return grid
    }

    @Test func everySentenceIsSupportedAndCitesAFact() {
        var sentences = 0
        let grid = Self.factsGrid
        for (index, facts) in grid.enumerated() {
            // Every tone on a third of the grid, friendly on the rest: the tones differ only in their main clauses.
            for tone in index % 3 == 0 ? ExplanationTone.allCases : [.friendly] {
                for pieces in ExplanationPhrases.sentences(for: facts, tone: tone) {
                    let sentence = ExplanationGenerator.fill(pieces.joined(), facts: facts)
                    let verdict = FaithfulnessCheck.check(sentence, facts: facts)
                    #expect(verdict.accepted, "\(sentence): \(verdict.problem ?? "cites no fact")")
                    #expect(!sentence.contains("["), "\(sentence)")
                    sentences += 1
                }
            }
        }
        #expect(sentences > 10_000, "\(sentences) sentences")
    }

    @Test func collaborativeResultsHaveManyOpenings() {
        var facts = ExplanationFacts(kind: .collaborative, item: "PINK POLKADOT BOWL")
        facts.source = .init(id: "9", name: "RED RETROSPOT CUP", event: "purchase", daysAgo: 1, isLatest: true)
        let openings = Set(ExplanationPhrases.sentences(for: facts, tone: .friendly).map { $0.prefix(2).joined() })
        #expect(openings.count >= 8, "\(openings)")
    }

    @Test func aTitleEndingInAFullStopIsNotDoubled() {
        var facts = ExplanationFacts(kind: .collaborative, item: "GREY HEART HOT WATER BOTTLE")
        facts.source = .init(id: "1", name: "RED WOOLLY HOTTIE WHITE HEART.", event: "purchase", daysAgo: nil,
                             isLatest: false)
        let end = ExplanationGenerator.fill("[ITEM] could be a good next pick, since you bought [SOURCE].", facts: facts)
        #expect(end == "GREY HEART HOT WATER BOTTLE could be a good next pick, since you bought RED WOOLLY HOTTIE WHITE HEART.")
        let middle = ExplanationGenerator.fill("Since you bought [SOURCE], you may like [ITEM] too.", facts: facts)
        #expect(middle == "Since you bought RED WOOLLY HOTTIE WHITE HEART, you may like GREY HEART HOT WATER BOTTLE too.")
        #expect(FaithfulnessCheck.check(end, facts: facts).accepted && FaithfulnessCheck.check(middle, facts: facts).accepted)
    }

    @Test func popularityWithNothingToCiteHasNoSentence() {
        #expect(ExplanationPhrases.sentences(for: ExplanationFacts(kind: .popularity, item: "BOWL"), tone: .friendly).isEmpty)
    }

    /// Drives a sentence with logits that favour one candidate's next token at each step: the decoder writes exactly
    /// that candidate, in fewer steps than tokens (agreed stretches are forced).
    @Test func theDecoderFollowsTheFavouredCandidateAndForcesAgreedStretches() {
        let vocabulary = ExplanationGrammarTests.ToyVocabulary()
        let tokens = PhraseTokens()
        let facts = ExplanationGrammarTests.facts
        let candidates = ExplanationPhrases.sentences(for: facts, tone: .friendly).map {
            tokens.tokens(of: $0, encode: vocabulary.encode)
        }
        for target in stride(from: 0, to: candidates.count, by: max(1, candidates.count / 12)).map({ candidates[$0] }) {
            var sentence = PhraseSentence(candidates: candidates, page: PageChoices(), placeholderStart: nil)
            var used = Set<Int32>(), out: [Int32] = [], steps = 0
            while true {
                var logits = [Float](repeating: 0, count: vocabulary.ids.count + 8)
                if out.count < target.count { logits[Int(target[out.count])] = 10 }
                let step = logits.withUnsafeMutableBufferPointer { sentence.next($0.baseAddress!, usedOpeners: &used) }
                out += [step.token] + step.continuation
                steps += 1
                if step.isLast { break }
            }
            #expect(out == target, "\(vocabulary.text(out)) instead of \(vocabulary.text(target))")
            #expect(steps < out.count, "agreed stretches are forced, not stepped")
        }
    }
}
