import Foundation

/// The claims a generated sentence may make beyond naming facts, by the words that make them, and when
/// ``ExplanationFacts`` support each. Shared by the decoding grammar (a word is offered to the model only when its
/// claim is true) and by ``FaithfulnessCheck`` (which checks the finished sentence).
enum ClaimLexicon {
    /// A kind of claim a word makes.
    enum Claim: String, CaseIterable {
        case cheaper, pricier, recent, yesterday, latest, popular, trending, shoppers, bought, viewed, added, rated
        case chose, searched, category, brand
    }

    /// The words of each claim (lowercase; each also checked as a sentence opener when capitalised).
    static let words: [Claim: [String]] = [
        .cheaper: ["cheaper", "affordable", "bargain", "budget", "cheap"],
        .pricier: ["premium", "pricier", "luxury", "upscale", "splurge"],
        .recent: ["recently", "recent", "lately"],
        .yesterday: ["yesterday"],
        .latest: ["latest", "newest"],
        .popular: ["popular", "bestseller", "favourite", "favorite", "hit", "loved", "demand"],
        .trending: ["trending", "rising"],
        .shoppers: ["shoppers", "customers", "others", "people", "many", "together", "often", "fans", "both"],
        .bought: ["bought", "purchased", "ordered", "buy"],
        .viewed: ["viewed", "browsed"],
        .added: ["added", "cart", "basket"],
        .rated: ["rated", "reviewed"],
        .chose: ["chose", "picked", "chosen"],
        .searched: ["search", "searched", "searching", "looking"],
        .category: ["category", "section"],
        .brand: ["brand", "maker"],
    ]

    /// The claim a lowercase word makes, if any.
    static let claimOfWord: [String: Claim] = {
        var map: [String: Claim] = [:]
        for (claim, list) in words { for word in list { map[word] = claim } }
        return map
    }()

    /// Claims about the recommended item itself, which may not sit in a clause that names only the source.
    static let itemClaims: Set<Claim> = [.cheaper, .pricier, .popular, .trending]
    /// Claims about the user's event with the source item, which need the source in their clause.
    static let sourceEventClaims: Set<Claim> = [.recent, .yesterday, .latest]

    /// Verbs of the user's own event, which must name the source item next (`bought [SOURCE]`).
    static let eventVerbs: Set<String> = ["bought", "purchased", "ordered", "viewed", "browsed", "added", "rated", "reviewed"]
    /// Words a count must be followed by (`[COUNT] shoppers`).
    static let countNouns: Set<String> = ["shoppers", "customers", "people", "others", "fans"]
    /// Verbs of choosing, which must not name the recommended item next (the user has not chosen it).
    static let choosingVerbs: Set<String> = ["chose", "picked", "chosen", "bought", "purchased", "ordered", "viewed",
                                             "browsed", "added", "rated", "reviewed"]

    /// Whether `facts` support `claim`.
    static func supports(_ facts: ExplanationFacts, _ claim: Claim) -> Bool {
        let event = facts.source?.event.map { Explanation.verbPutsItemFirst($0) ? "added" : Explanation.verb(for: $0) }
        switch claim {
        case .cheaper: return facts.price == .cheaper
        case .pricier: return facts.price == .pricier
        case .recent: return (facts.source?.daysAgo).map { $0 <= 30 } ?? false
        case .yesterday: return (facts.source?.daysAgo).map { $0 <= 1 } ?? false
        case .latest: return facts.source?.isLatest == true
        case .popular: return facts.kind == .popularity || facts.trend == .rising
        case .trending: return facts.trend == .rising
        case .shoppers: return facts.coChosenBy != nil || facts.kind == .session || facts.kind == .popularity
        case .bought: return event == "bought"
        case .viewed: return event == "viewed"
        case .added: return event == "added" || facts.kind == .session
        case .rated: return event == "rated"
        case .chose: return event != nil || facts.kind == .session
        case .searched: return facts.kind == .textMatch
        case .category: return facts.category != nil
        case .brand: return facts.brand != nil
        }
    }

    /// Words that make no claim about the shop or the shopper: function words and the vocabulary of suggesting.
    static let neutralWords: [String] = """
        a an the this that these it its you your we our they them their is are was were be been has have had do does \
        will would can could may might should and or but so because since as if when while then than too also still \
        very really quite just even only of in on at to for from with by about into after before next again more most \
        much some any all each other another one same such not no here there why how what which who like love enjoy \
        want need try consider check out goes go well pair pairs match matches fit fits complete completes complement \
        suits suit perfect great nice ideal lovely good best natural choice pick option idea addition companion \
        choose close who
        similar alike style design item items product piece set collection range right now time worth next step \
        recommended recommend suggest suggests think sure look
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)

    /// Capitalised words a sentence may open with (their lowercase form is checked like any other word).
    static let openers: [String] = [
        "Since", "Because", "As", "Given", "With", "If", "You", "Your", "This", "Many", "Shoppers", "Like", "After",
        "Fans", "Here", "For", "Looking", "Customers", "Right", "Another", "Why", "Pair", "Try", "Based", "People",
        "Others", "Often", "Just", "Nice", "Perfect",
    ]
}

/// Splits a finished sentence into atomic statements and checks every claim in each against the facts: names and
/// numbers must be fact values, claim words (cheaper, recently, popular, bought, …) must be supported, and every
/// other word must be one that makes no claim. A sentence is shown only when all its statements are supported.
enum FaithfulnessCheck {
    /// The verdict on one sentence.
    struct Verdict: Sendable, Hashable {
        /// Atomic statements found.
        var statements = 0
        /// Statements whose every claim the facts support.
        var supported = 0
        /// Facts named (slots filled: the source, the count, the category, …).
        var factsCited = 0
        /// Why the first unsupported statement fails, e.g. `unsupported word 'mug'`; nil when all are supported.
        var problem: String?

        /// Whether the sentence may be shown: every statement supported and at least one fact cited.
        var accepted: Bool { problem == nil && statements > 0 && supported == statements && factsCited > 0 }
    }

    /// Checks `sentence` against `facts`.
    static func check(_ sentence: String, facts: ExplanationFacts) -> Verdict {
        var verdict = Verdict()
        // Fact values, longest first, so that a title containing another value is taken whole.
        // A value's closing full stop may have been dropped before punctuation (see `ExplanationGenerator.fill`).
        let values = facts.slots.flatMap { slot, value in
            ([value] + [ExplanationFacts.withoutClosingFullStop(value)].compactMap { $0 }).map { ($0.lowercased(), slot) }
        }.sorted { $0.0.count > $1.0.count }
        // Fact values first (titles may hold commas, digits and capitals), then the statements around them.
        var text = " " + sentence.lowercased() + " "
        for (value, slot) in values where !value.isEmpty {
            text = text.replacingOccurrences(of: value, with: " \(marker(slot)) ")
        }
        // The item (source or recommended) named last: what a clause that names neither speaks of ("…, a bargain").
        var lastNamed: ExplanationSlot?
        for statement in statements(of: text) {
            verdict.statements += 1
            for slot in ExplanationSlot.allCases where slot != .item {
                verdict.factsCited += statement.components(separatedBy: marker(slot)).count - 1
            }
            let inherited = lastNamed
            let source = statement.range(of: marker(.source), options: .backwards)?.lowerBound
            let item = statement.range(of: marker(.item), options: .backwards)?.lowerBound
            if let source, item.map({ $0 < source }) ?? true { lastNamed = .source }
            else if item != nil { lastNamed = .item }
            if let problem = problem(in: statement, facts: facts, inherited: inherited) {
                if verdict.problem == nil { verdict.problem = problem }
            } else {
                verdict.supported += 1
            }
        }
        return verdict
    }

    /// The first unsupported claim of one statement (its fact values already replaced by markers), or nil.
    /// `inherited` is the item a clause that names neither speaks of.
    private static func problem(in text: String, facts: ExplanationFacts, inherited: ExplanationSlot?) -> String? {
        if text.contains(where: \.isNumber) { return "a number that is not a fact" }
        if text.contains("\"") || text.contains("“") { return "a quotation that is not a fact" }
        let words = text.split(whereSeparator: { !($0.isLetter || $0 == "'" || $0 == "\u{1}") }).map(String.init)
        if text.contains("[") { return "a placeholder without a fact" }
        // Claims are bound to the clause they sit in: a claim about the recommended item (its price, its
        // popularity) may not sit in a clause about the source item alone, and a claim about the user's event
        // with the source (when, whether it was the latest) needs the source in its clause.
        var namesSource = text.contains(marker(.source)), namesItem = text.contains(marker(.item))
        if !namesSource && !namesItem { (namesSource, namesItem) = (inherited == .source, inherited == .item) }
        for (index, word) in words.enumerated() {
            // The word after this one, skipping an article.
            var after = words.dropFirst(index + 1).first
            if after == "the" || after == "a" || after == "your" { after = words.dropFirst(index + 2).first }
            if word == marker(.count), !(after.map(ClaimLexicon.countNouns.contains) ?? false) {
                return "a count that does not count shoppers"
            }
            if word.hasPrefix("\u{1}") { continue }
            if ClaimLexicon.eventVerbs.contains(word), after != marker(.source) {
                return "'\(word)' said of something other than the source item"
            }
            if ClaimLexicon.choosingVerbs.contains(word), after == marker(.item) {
                return "'\(word)' said of the recommended item"
            }
            if word == "your", words.dropFirst(index + 1).first == marker(.item) {
                return "the recommended item called the shopper's own"
            }
            let bare = word.hasSuffix("'s") ? String(word.dropLast(2)) : word
            if let claim = ClaimLexicon.claimOfWord[bare] {
                guard ClaimLexicon.supports(facts, claim) else { return "unsupported claim '\(bare)' (\(claim.rawValue))" }
                if ClaimLexicon.itemClaims.contains(claim), namesSource, !namesItem {
                    return "'\(bare)' said in a clause about the source item"
                }
                if ClaimLexicon.sourceEventClaims.contains(claim), !namesSource {
                    return "'\(bare)' said in a clause without the source item"
                }
            } else if !neutral.contains(bare) {
                return "unsupported word '\(bare)'"
            }
        }
        return nil
    }

    /// The marker a fact value is replaced by before the claims are read.
    private static func marker(_ slot: ExplanationSlot) -> String { "\u{1}" + slot.rawValue.lowercased() }

    private static let neutral = Set(ClaimLexicon.neutralWords + ClaimLexicon.openers.map { $0.lowercased() })

    /// The atomic statements of a sentence: its clauses, cut at sentence ends, commas, semicolons and the
    /// conjunctions that join two claims.
    static func statements(of sentence: String) -> [String] {
        var text = sentence
        for joint in [" and ", " so ", " because ", " since ", " while ", " but ", " as well as "] {
            text = text.replacingOccurrences(of: joint, with: "|", options: .caseInsensitive)
        }
        return text.split(whereSeparator: { ".;!?,|".contains($0) })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.contains(where: \.isLetter) }
    }
}
