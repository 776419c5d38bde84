/// The register of generated explanations (`RECDB_EXPLAIN_TONE` or ``ExplanationGenerator/tone``).
public enum ExplanationTone: String, Sendable, Hashable, CaseIterable {
    /// Warm and direct ("Since you bought …, you may like … too.").
    case friendly
    /// Plain and polite, no exclamation.
    case formal
    /// Lively, with a little enthusiasm.
    case playful
}

/// The prompt library of `EXPLAIN GENERATED`: a system prompt per tone and worked examples for every explanation
/// kind, written with placeholders (``ExplanationSlot``) instead of names, so that the model learns to leave every
/// name and number to RecDB. The shared part (system prompt and examples) is one prefix for every request, whose
/// evaluated KV cache the runtime keeps; each result adds only its facts line.
enum ExplanationPrompts {
    /// The system prompt for `tone`.
    static func system(_ tone: ExplanationTone) -> String {
        let register: String
        switch tone {
        case .friendly: register = "Write in a warm, friendly voice."
        case .formal: register = "Write in a plain, polite, formal voice."
        case .playful: register = "Write in a lively, playful voice."
        }
        return """
            You explain to a shopper in one short sentence why [ITEM] is recommended, using only the facts given. \
            Write names only as the placeholders [ITEM], [SOURCE], [CATEGORY], [BRAND], [COUNT] and [PHRASE]. \
            \(register)
            """
    }

    /// Worked examples per kind: a facts line and a sentence that uses only those facts.
    static let examples: [(kind: ExplanationFacts.Kind, facts: String, sentence: String)] = [
        (.collaborative, "you bought [SOURCE]; [COUNT] shoppers chose both",
         "Since you bought [SOURCE], you may like [ITEM] too, as [COUNT] shoppers chose both."),
        (.content, "you viewed [SOURCE]; both in [CATEGORY]; both by [BRAND]",
         "You viewed [SOURCE], so [ITEM] from [BRAND] in [CATEGORY] may suit you too."),
        (.session, "often chosen next after [SOURCE]; cheaper than usual for you",
         "Shoppers who pick [SOURCE] often choose [ITEM] next, and it is a budget choice."),
        (.collaborative, "you bought [SOURCE]; [COUNT] shoppers chose both; cheaper than usual for you; trending",
         "Many shoppers who bought [SOURCE] also like [ITEM], a budget pick that is trending."),
        (.popularity, "popular in [CATEGORY]; trending",
         "Right now [ITEM] is a popular pick in [CATEGORY], and it is trending."),
        (.textMatch, "matches your search [PHRASE]",
         "For your search [PHRASE], [ITEM] is a close match."),
        (.collaborative, "you bought [SOURCE]; recently; a premium choice for you",
         "Because you recently bought [SOURCE], [ITEM] could be a nice premium addition."),
    ]

    /// The facts line of one result: its facts in placeholders and plain words (no names, no numbers).
    static func factsLine(_ facts: ExplanationFacts) -> String {
        var parts: [String] = []
        switch facts.kind {
        case .collaborative, .content:
            if let verb = facts.sourceVerb { parts.append("you \(verb) [SOURCE]") }
            else if facts.source != nil { parts.append("it is like [SOURCE]") }
        case .session: if facts.source != nil { parts.append("often chosen next after [SOURCE]") }
        case .popularity: parts.append(facts.category != nil ? "popular in [CATEGORY]" : "popular")
        case .textMatch: if facts.phrase != nil { parts.append("matches your search [PHRASE]") }
        }
        if facts.coChosenBy != nil { parts.append("[COUNT] shoppers chose both") }
        if facts.kind != .popularity, facts.category != nil { parts.append("both in [CATEGORY]") }
        if facts.brand != nil { parts.append("both by [BRAND]") }
        if let days = facts.source?.daysAgo, days <= 30 { parts.append(days <= 1 ? "yesterday" : "recently") }
        switch facts.price {
        case .cheaper?: parts.append("cheaper than usual for you")
        case .pricier?: parts.append("a premium choice for you")
        default: break
        }
        if facts.trend == .rising { parts.append("trending") }
        return parts.joined(separator: "; ")
    }

    /// The shared prompt prefix for `tone`: system prompt, every worked example as chat turns, and the opening of
    /// the result's own turn (`<|im_start|>user\nFacts:`), which every result shares and so is evaluated once.
    static func prefix(_ tone: ExplanationTone) -> String {
        var text = "<|im_start|>system\n\(system(tone))<|im_end|>\n"
        for example in examples {
            text += "<|im_start|>user\nFacts: \(example.facts)<|im_end|>\n<|im_start|>assistant\n\(example.sentence)<|im_end|>\n"
        }
        return text + "<|im_start|>user\nFacts:"
    }

    /// The per-result suffix: the rest of the user's turn (the facts line), then the assistant's turn opening.
    static func suffix(_ facts: ExplanationFacts) -> String {
        " \(factsLine(facts))<|im_end|>\n<|im_start|>assistant\n"
    }
}
