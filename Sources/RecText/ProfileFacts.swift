import Foundation
import RecDB
import RecKernels

/// The facts a cold-start profile may say, taken from a user's items: each item's two deepest category names, its
/// brand and its product noun (the last words of the title's head, before the first comma, bracket, dash or "with";
/// words with digits left out). A profile is a choice and order of these phrases (``GuidedProfile``), so it says
/// nothing the items do not: no copied example, no invented product.
struct ProfileFacts: Equatable, Sendable {
    /// Distinct phrases (case-insensitively), in the order the items give them, newest item first.
    let phrases: [String]

    /// The most words a title's product noun keeps.
    static let nounWords = 3

    /// The facts of `items` (oldest first, as a history is).
    init(items: [Item]) {
        var seen = Set<String>()
        var phrases: [String] = []
        func add(_ phrase: String) {
            let cleaned = Self.clean(phrase)
            guard cleaned.count >= 3, seen.insert(cleaned.lowercased()).inserted else { return }
            phrases.append(cleaned)
        }
        for item in items.reversed() {
            if let noun = Self.productNoun(item.title) { add(noun) }
            if let category = item.category {
                for name in category.split(separator: "/").suffix(2).reversed() { add(String(name)) }
            }
            if case .string(let brand)? = item.attributes["brand"] { add(brand) }
        }
        self.phrases = phrases
    }

    /// The last ``nounWords`` words without digits of the title's head: "Pilot G2 Retractable Gel Ink Pens, Black"
    /// → "Gel Ink Pens"; nil when none is left.
    static func productNoun(_ title: String?) -> String? {
        guard let title else { return nil }
        var head = Substring(clean(title))
        for separator in [",", "(", "[", " - ", " with ", " for ", " by "] {
            if let range = head.range(of: separator, options: .caseInsensitive), range.lowerBound > head.startIndex {
                head = head[..<range.lowerBound]
            }
        }
        let words = head.split(separator: " ").filter { word in
            !word.contains { $0.isNumber } && word.contains { $0.isLetter }
        }
        let noun = words.suffix(nounWords).joined(separator: " ")
        return noun.isEmpty ? nil : noun
    }

    /// `text` with HTML entities of the Amazon dumps decoded and runs of white space collapsed, at most 60 characters.
    static func clean(_ text: String) -> String {
        var out = text
        for (entity, character) in [("&amp;", "&"), ("&quot;", "\""), ("&#39;", "'"), ("&lt;", "<"), ("&gt;", ">")] {
            out = out.replacingOccurrences(of: entity, with: character)
        }
        return String(out.split(whereSeparator: \.isWhitespace).joined(separator: " ").prefix(60))
    }
}

/// One profile being decoded: the model chooses, token by token, among the user's fact phrases (``ProfileFacts``):
/// a phrase once begun is completed token by token among the phrases that still match, then a comma and the next
/// phrase, or a full stop. It writes 1 to `maxPhrases` phrases, each at most once, and never a word that is not in
/// one of them.
struct GuidedProfile {
    /// Token sequence of each phrase, written after a space.
    let phraseTokens: [[Int32]]
    let comma: Int32, period: Int32
    let maxPhrases: Int, maxTokens: Int
    private(set) var tokens: [Int32] = []
    private(set) var chosen: [Int] = []
    /// Phrases still matching the one being written, and how many of its tokens are out.
    private var pending: [Int] = []
    private var position = 0

    init(phraseTokens: [[Int32]], comma: Int32, period: Int32, maxPhrases: Int, maxTokens: Int) {
        self.phraseTokens = phraseTokens
        self.comma = comma
        self.period = period
        self.maxPhrases = maxPhrases
        self.maxTokens = maxTokens
    }

    /// The next token: the best-scoring allowed one under `logits`.
    mutating func next(_ logits: UnsafeMutablePointer<Float>) -> GuidedToken {
        if !pending.isEmpty {
            let token = best(Set(pending.map { phraseTokens[$0][position] }), logits)
            pending = pending.filter { phraseTokens[$0][position] == token }
            position += 1
            if let done = pending.first(where: { phraseTokens[$0].count == position }) {
                chosen.append(done)
                pending = []
            }
            return take(token, last: false)
        }
        let room = maxTokens - tokens.count - 1
        let between = !tokens.isEmpty && tokens.last != comma
        if between {
            let fits = phraseTokens.indices.contains { !chosen.contains($0) && phraseTokens[$0].count + 1 < room }
            let options: Set<Int32> = chosen.count < maxPhrases && fits ? [comma, period] : [period]
            let token = best(options, logits)
            return take(token, last: token == period)
        }
        let open = phraseTokens.indices.filter {
            !chosen.contains($0) && !phraseTokens[$0].isEmpty && phraseTokens[$0].count < room
        }
        guard !open.isEmpty else { return take(period, last: true) }
        let token = best(Set(open.map { phraseTokens[$0][0] }), logits)
        pending = open.filter { phraseTokens[$0][0] == token }
        position = 1
        if let done = pending.first(where: { phraseTokens[$0].count == 1 }) {
            chosen.append(done)
            pending = []
        }
        return take(token, last: false)
    }

    private func best(_ options: Set<Int32>, _ logits: UnsafeMutablePointer<Float>) -> Int32 {
        options.max { (logits[Int($0)], $1) < (logits[Int($1)], $0) }!
    }

    private mutating func take(_ token: Int32, last: Bool) -> GuidedToken {
        tokens.append(token)
        return GuidedToken(token: token, isLast: last)
    }
}
