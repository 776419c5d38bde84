/// The token-level grammar of a generated explanation, built once from the model's vocabulary: the model may choose
/// only whole words that make no claim, claim words whose claim the result's facts support, punctuation, and
/// placeholders (``ExplanationSlot``) whose token sequences are forced once begun. A sentence opens with a
/// capitalised opener not yet used on the page and ends with a full stop after citing at least one fact. The model
/// therefore never spells a name or a number: RecDB fills the placeholders.
struct ExplanationGrammar: Sendable {
    /// Token of each neutral word (`" like"`), when the word is one token.
    let neutral: [Int32]
    /// Tokens of each claim's words.
    let claimTokens: [ClaimLexicon.Claim: [Int32]]
    /// Tokens of the sentence openers, by opener.
    let openers: [(word: String, token: Int32)]
    /// The token sequence of each placeholder written after a space (`" [SOURCE]"`).
    let slotTokens: [ExplanationSlot: [Int32]]
    let comma: Int32
    let period: Int32
    /// Tokens of ``ClaimLexicon/eventVerbs``, ``ClaimLexicon/countNouns`` and ``ClaimLexicon/choosingVerbs``.
    let eventVerbs: Set<Int32>, countNouns: Set<Int32>, choosingVerbs: Set<Int32>
    /// Words after which a count reads wrongly ("chose 42", "for both 42") or the item would be claimed as the
    /// user's ("your [ITEM]").
    let noCountAfter: Set<Int32>, noItemAfter: Set<Int32>
    /// Articles the check skips when it reads the word after a verb ("chose the [ITEM]" is "chose [ITEM]"), and the
    /// tokens of "as" and "well" (the check cuts statements at "as well as", which the grammar does not offer).
    let articles: Set<Int32>, asToken: Int32?, wellToken: Int32?
    /// Tokens that end a clause (the comma, the full stop, the joints ``FaithfulnessCheck`` cuts statements at), and
    /// the claim words bound to a clause's items: ``ClaimLexicon/itemClaims`` and ``ClaimLexicon/sourceEventClaims``.
    let clauseBreaks: Set<Int32>, itemClaimWords: Set<Int32>, sourceEventWords: Set<Int32>
    /// Readability: the words a placeholder may follow when it has such a rule (`in [CATEGORY]`, `by [BRAND]`,
    /// `search [PHRASE]`: a category or a brand is never the subject), the words a sentence may not end on ("… in."),
    /// and the words the source may not follow ("Your [SOURCE]" would claim the shopper owns it).
    let slotPredecessors: [ExplanationSlot: Set<Int32>], noEndAfter: Set<Int32>, noSourceAfter: Set<Int32>
    /// Every token a sentence may ever contain (words, openers, placeholders, punctuation), sorted: the only logits
    /// the decoder needs, so the runtime computes no others.
    let vocabulary: [Int32]

    /// The grammar for the vocabulary of a model whose tokenizer is `tokens` (text in, ids out).
    init(tokens encode: (String) -> [Int32]) {
        func single(_ text: String) -> Int32? {
            let ids = encode(text)
            return ids.count == 1 ? ids[0] : nil
        }
        neutral = ClaimLexicon.neutralWords.compactMap { single(" " + $0) }
        var claims: [ClaimLexicon.Claim: [Int32]] = [:]
        for (claim, words) in ClaimLexicon.words { claims[claim] = words.compactMap { single(" " + $0) } }
        claimTokens = claims
        openers = ClaimLexicon.openers.compactMap { word in single(word).map { (word, $0) } }
        var slots: [ExplanationSlot: [Int32]] = [:]
        for slot in ExplanationSlot.allCases { slots[slot] = encode(" " + slot.marker) }
        slotTokens = slots
        eventVerbs = Set(ClaimLexicon.eventVerbs.compactMap { single(" " + $0) })
        countNouns = Set(ClaimLexicon.countNouns.compactMap { single(" " + $0) })
        choosingVerbs = Set(ClaimLexicon.choosingVerbs.compactMap { single(" " + $0) })
        noCountAfter = Set(["for", "both", "of", "your", "the", "a", "also", "favorite", "favourite", "to", "in"]
            .compactMap { single(" " + $0) }).union(choosingVerbs)
        noItemAfter = Set(["your"].compactMap { single(" " + $0) } + [single("Your")].compactMap { $0 }).union(choosingVerbs)
        articles = Set(["the", "a", "your"].compactMap { single(" " + $0) })
        asToken = single(" as")
        wellToken = single(" well")
        comma = single(",") ?? encode(",")[0]
        period = single(".") ?? encode(".")[0]
        clauseBreaks = Set(["and", "so", "because", "since", "while", "but"].compactMap { single(" " + $0) })
            .union([comma, period])
        itemClaimWords = Set(ClaimLexicon.itemClaims.flatMap { claims[$0] ?? [] })
        sourceEventWords = Set(ClaimLexicon.sourceEventClaims.flatMap { claims[$0] ?? [] })
        func singles(_ words: [String]) -> Set<Int32> { Set(words.compactMap { single(" " + $0) }) }
        slotPredecessors = [
            .category: singles(["in", "from"]), .brand: singles(["by", "from"]),
            .phrase: singles(["search", "searched", "searching"]),
        ]
        noEndAfter = singles("""
            a an the this that these those your our their its is are was were be been and or but so because since as \
            if of in on at to for from with by about into after before than very more most not no like your my
            """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)).union([comma])
        noSourceAfter = singles(["your"]).union([single("Your")].compactMap { $0 })
        var everything = Set(neutral).union(claims.values.joined()).union(openers.map(\.token))
        everything.formUnion(slots.values.joined())
        everything.formUnion(eventVerbs.union(countNouns).union(choosingVerbs).union([comma, period]))
        vocabulary = everything.sorted()
    }

    /// The words (tokens) one result's sentence may use: the neutral ones and the claim words its facts support.
    func words(for facts: ExplanationFacts) -> Set<Int32> {
        var allowed = Set(neutral)
        for (claim, tokens) in claimTokens where ClaimLexicon.supports(facts, claim) { allowed.formUnion(tokens) }
        return allowed
    }

    /// Openers allowed for `facts`: those whose lowercase word is neutral or a supported claim.
    func openers(for facts: ExplanationFacts) -> [Int32] {
        openers.filter { opener in
            let word = opener.word.lowercased()
            if let claim = ClaimLexicon.claimOfWord[word] { return ClaimLexicon.supports(facts, claim) }
            return true
        }.map(\.token)
    }
}

/// One sentence being decoded under ``ExplanationGrammar``: picks each token greedily among the allowed ones.
struct GuidedSentence {
    let grammar: ExplanationGrammar
    let words: Set<Int32>
    let openers: [Int32]
    /// Placeholders with a value in the facts and not used yet.
    var slotsLeft: Set<ExplanationSlot>
    var tokens: [Int32] = []
    /// Token sequences of the placeholder being written (all still matching) and how far it has got.
    var pendingSlots: [(slot: ExplanationSlot, tokens: [Int32])] = []
    var slotPosition = 0
    var factsCited = 0
    var uses: [Int32: Int] = [:]
    let maxTokens: Int
    /// What the last word requires next: the source item after an event verb, shoppers after a count.
    var mustFollow: FollowRule?
    /// What the current clause names, and whether it made a claim about the source event still to be followed by
    /// the source (claims are bound to their clause: see ``FaithfulnessCheck``).
    var clauseHasSource = false, clauseHasItem = false, clauseNeedsSource = false
    /// Whether the current clause claims something of the recommended item before naming it (the source may then
    /// not join the clause: the claim would read as the source's).
    var clauseHasItemClaim = false
    /// Whether the current clause made a claim about the source event resting on the source named in an earlier
    /// clause: naming the item in it would leave the claim without its source (the check reads own names first).
    var clauseLeansOnSource = false
    /// Whether a placeholder's tokens after the one that decides it are given as one forced span (one step).
    let forcedSpans: Bool
    /// Whether the tokens the grammar leaves no choice for join the step before them (see ``next(_:usedOpeners:)``).
    let forcedRuns: Bool
    /// The item (source or recommended) named last, which a clause naming neither speaks of ("…, a bargain").
    var lastNamed: ExplanationSlot?, inherited: ExplanationSlot?

    enum FollowRule { case source, countNoun }

    init(grammar: ExplanationGrammar, facts: ExplanationFacts, maxTokens: Int, forcedSpans: Bool = true,
         forcedRuns: Bool = true) {
        self.forcedSpans = forcedSpans
        self.forcedRuns = forcedRuns
        self.grammar = grammar
        words = grammar.words(for: facts)
        openers = grammar.openers(for: facts)
        slotsLeft = Set(facts.slots.keys)
        self.maxTokens = maxTokens
    }

    /// The next token among those allowed (highest logit, lightly penalised for repeats); `usedOpeners` are the
    /// openers other sentences of the page already took (the first token avoids them while others are left). With
    /// ``forcedRuns``, the tokens after it that the grammar leaves no choice for (a lone candidate) follow as the
    /// step's continuation: the runtime evaluates them in the same pass, and the model's logits are read only where
    /// there is a choice. The sentence is the same token for token; only the passes are fewer.
    mutating func next(_ logits: UnsafeMutablePointer<Float>, usedOpeners: inout Set<Int32>) -> GuidedToken {
        var step = choose(logits, usedOpeners: &usedOpeners)
        guard forcedRuns else { return step }
        while !step.isLast, let forced = forcedStep() {
            step.continuation.append(forced.token)
            step.continuation.append(contentsOf: forced.continuation)
            step.isLast = forced.isLast
        }
        return step
    }

    /// The next token when the grammar allows exactly one (taken, with its forced span), else nil (nothing taken).
    mutating func forcedStep() -> GuidedToken? {
        if tokens.isEmpty { return nil }
        if !pendingSlots.isEmpty {
            let choices = Set(pendingSlots.map { $0.tokens[slotPosition] })
            guard choices.count == 1, let token = choices.first else { return nil }
            slotPosition += 1
            return takeSlotToken(token)
        }
        let offered = options()
        guard Set(offered.candidates).count == 1 else { return nil }
        return commit(offered.candidates[0], offered)
    }

    /// One token chosen from `logits` among those the grammar allows.
    private mutating func choose(_ logits: UnsafeMutablePointer<Float>, usedOpeners: inout Set<Int32>) -> GuidedToken {
        if tokens.isEmpty {
            let fresh = openers.filter { !usedOpeners.contains($0) }
            let token = best(fresh.isEmpty ? openers : fresh, logits)
            usedOpeners.insert(token)
            return take(token, last: false)
        }
        if !pendingSlots.isEmpty {
            let choices = Set(pendingSlots.map { $0.tokens[slotPosition] })
            let token = best(Array(choices), logits)
            pendingSlots = pendingSlots.filter { $0.tokens[slotPosition] == token }
            slotPosition += 1
            return takeSlotToken(token)
        }
        let offered = options()
        // Past ten tokens, ending gets a growing nudge: short sentences read better and cost fewer decoding steps.
        if offered.canEnd && tokens.count > 10 { logits[Int(grammar.period)] += 0.5 * Float(tokens.count - 10) }
        return commit(best(offered.candidates, logits), offered)
    }

    /// What the grammar offers next (outside a placeholder): the candidate tokens, the placeholders each candidate
    /// would begin, and whether the sentence may end here.
    private struct Options {
        var candidates: [Int32]
        var slotStarts: [Int32: [(ExplanationSlot, [Int32])]]
        var canEnd: Bool
    }

    private mutating func options() -> Options {
        let canEnd = factsCited > 0 && tokens.count >= 5 && !clauseNeedsSource
        let room = maxTokens - tokens.count
        // A claim about the source event waits for its source: name it while the budget still holds it.
        let sourceLength = grammar.slotTokens[.source]?.count ?? 4
        if clauseNeedsSource, slotsLeft.contains(.source), room <= sourceLength + 2 { mustFollow = .source }
        var candidates: [Int32] = []
        var slotStarts: [Int32: [(ExplanationSlot, [Int32])]] = [:]
        let previous = tokens.last ?? -1
        for slot in slotsLeft where mustFollow == nil || mustFollow == .source && slot == .source {
            if slot == .item && (grammar.noItemAfter.contains(previous) || clauseLeansOnSource) { continue }
            if slot == .item, grammar.articles.contains(previous), tokens.count >= 2,
                grammar.noItemAfter.contains(tokens[tokens.count - 2]) { continue }
            if slot == .source && clauseHasItemClaim && !clauseHasItem { continue }
            if slot == .count && grammar.noCountAfter.contains(previous) { continue }
            if slot == .source && grammar.noSourceAfter.contains(previous) { continue }
            // A placeholder with a rule follows its words, unless the sentence still needs a fact and room runs out.
            if let after = grammar.slotPredecessors[slot], !after.contains(previous), factsCited > 0 || room > 8 {
                continue
            }
            if clauseNeedsSource, slot != .source, slotsLeft.contains(.source),
                (grammar.slotTokens[slot]?.count ?? 0) + sourceLength + 1 >= room { continue }
            guard let sequence = grammar.slotTokens[slot], sequence.count < room else { continue }
            slotStarts[sequence[0], default: []].append((slot, sequence))
        }
        switch mustFollow {
        case .countNoun?:
            candidates = words.filter(grammar.countNouns.contains)
        case .source?:
            break
        case nil:
            if room > 6 {
                let sourceLeft = slotsLeft.contains(.source)
                candidates = words.filter {
                    (uses[$0] ?? 0) < 2 && $0 != tokens.last && (sourceLeft || !grammar.eventVerbs.contains($0))
                        && fitsClause($0) && !($0 == grammar.wellToken && previous == grammar.asToken)
                        && !(grammar.sourceEventWords.contains($0) && !clauseHasSource && room <= sourceLength + 4)
                        && !(clauseNeedsSource && grammar.noSourceAfter.contains($0) && room <= sourceLength + 4)
                }
                if tokens.last != grammar.comma, (uses[grammar.comma] ?? 0) < 2, !clauseNeedsSource {
                    candidates.append(grammar.comma)
                }
            }
        }
        candidates.append(contentsOf: slotStarts.keys)
        let endsWell = !grammar.noEndAfter.contains(previous) || room <= 2
        if canEnd && endsWell && mustFollow == nil || candidates.isEmpty { candidates.append(grammar.period) }
        return Options(candidates: candidates, slotStarts: slotStarts, canEnd: canEnd)
    }

    /// Takes `token`, chosen among `offered`: a word, the full stop, or the first token of a placeholder.
    private mutating func commit(_ token: Int32, _ offered: Options) -> GuidedToken {
        mustFollow = grammar.eventVerbs.contains(token) ? .source : nil
        if let starting = offered.slotStarts[token] {
            pendingSlots = starting.map { (slot: $0.0, tokens: $0.1) }
            slotPosition = 1
            return takeSlotToken(token)
        }
        return take(token, last: token == grammar.period)
    }

    /// Takes `token` of the placeholder being written; once only one placeholder still matches, the rest of its
    /// tokens follow as the step's forced continuation (evaluated in the same pass, no choice left to make).
    private mutating func takeSlotToken(_ token: Int32) -> GuidedToken {
        guard forcedSpans, pendingSlots.count == 1, let only = pendingSlots.first else {
            finishSlotIfComplete()
            return take(token, last: false)
        }
        let rest = Array(only.tokens[slotPosition...])
        slotPosition = only.tokens.count
        finishSlotIfComplete()
        var step = take(token, last: false)
        for forced in rest { step = take(forced, last: false) }
        return GuidedToken(token: token, isLast: step.isLast, continuation: rest)
    }

    /// Whether `token` may come next in the current clause: no claim about the recommended item in a clause about
    /// the source alone, no claim about the source event unless the source is or can still be named, and no joint
    /// while such a claim waits for its source.
    private func fitsClause(_ token: Int32) -> Bool {
        let ownNames = clauseHasSource || clauseHasItem
        let (hasSource, hasItem) = ownNames ? (clauseHasSource, clauseHasItem) : (inherited == .source, inherited == .item)
        // A claim about the item before the item is named would bar the source a source-event claim waits for.
        if grammar.itemClaimWords.contains(token) {
            return (!hasSource || hasItem) && !(clauseNeedsSource && !clauseHasItem)
        }
        if grammar.eventVerbs.contains(token), clauseHasItemClaim, !clauseHasItem { return false }
        if grammar.sourceEventWords.contains(token) {
            return hasSource || slotsLeft.contains(.source) && !(clauseHasItemClaim && !clauseHasItem)
        }
        return !(clauseNeedsSource && grammar.clauseBreaks.contains(token))
    }

    /// Marks the placeholder being written as used once its last token is out; a count must be followed by shoppers.
    private mutating func finishSlotIfComplete() {
        guard let done = pendingSlots.first(where: { $0.tokens.count == slotPosition }) else { return }
        slotsLeft.remove(done.slot)
        if done.slot == .source { (clauseHasSource, clauseNeedsSource, lastNamed) = (true, false, .source) }
        if done.slot == .item { (clauseHasItem, lastNamed) = (true, .item) }
        if done.slot != .item { factsCited += 1 }
        if done.slot == .count { mustFollow = .countNoun }
        pendingSlots = []
    }

    private mutating func take(_ token: Int32, last: Bool) -> GuidedToken {
        if grammar.clauseBreaks.contains(token) {
            (clauseHasSource, clauseHasItem, clauseNeedsSource, clauseHasItemClaim) = (false, false, false, false)
            clauseLeansOnSource = false
            inherited = lastNamed
        } else if grammar.itemClaimWords.contains(token) {
            clauseHasItemClaim = true
        } else if grammar.sourceEventWords.contains(token), !clauseHasSource {
            if clauseHasItem || inherited != .source { clauseNeedsSource = true } else { clauseLeansOnSource = true }
        }
        tokens.append(token)
        uses[token, default: 0] += 1
        return GuidedToken(token: token, isLast: last || tokens.count >= maxTokens)
    }

    private func best(_ candidates: [Int32], _ logits: UnsafeMutablePointer<Float>) -> Int32 {
        var bestToken = candidates[0]
        var bestScore = -Float.infinity
        for token in candidates {
            let score = logits[Int(token)] - 1.5 * Float(uses[token] ?? 0)
            if score > bestScore { (bestToken, bestScore) = (token, score) }
        }
        return bestToken
    }
}
