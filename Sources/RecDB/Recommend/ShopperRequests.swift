import Foundation
import Synchronization

/// What `ASK 'a gift for my dad who likes fishing, under 30 pounds'` understood.
public struct ShopperRequest: Sendable, Hashable {
    /// Words to search item text for.
    public var keywords: String
    /// A price ceiling the shopper named.
    public var maxPrice: Double?
    /// `model` when the language model's reading was used, `fallback` when its output did not parse (the shopper's
    /// words are searched instead, without the price and exclusion phrases).
    public var source: String
    /// Words the shopper ruled out ("not paper", "without glitter"): never among the keywords, and no result's title
    /// has one.
    public var excluded: [String]

    /// A request as read: keywords, an optional price ceiling, where the reading came from, excluded words.
    public init(keywords: String, maxPrice: Double?, source: String, excluded: [String] = []) {
        self.keywords = keywords
        self.maxPrice = maxPrice
        self.source = source
        self.excluded = excluded
    }
}

/// The answer to `ASK`: the request as understood, the items found and a sentence that names only those items.
public struct ShopperAnswer: Sendable {
    /// The request that was searched: the model's reading, or the raw text as `fallback` when that found nothing.
    public var request: ShopperRequest
    /// Up to `count` items (default 5) found with `MATCHING`, best first; empty when nothing matched.
    public var results: [Recommendation]
    /// The sentence for the shopper, naming at most the first three results (or saying nothing matched).
    public var answer: String
}

extension CatalogReading where Self: ~Copyable {
    /// Turns a shopper's free-text request into a search (keywords, a price ceiling) with the language model, runs
    /// it with `MATCHING`, and answers with a sentence naming only the real results. When the model is absent or its
    /// output does not parse, or finds nothing, the raw text is searched instead.
    ///
    /// The models run inside this transaction; ``RecDatabase/query(_:parameters:)`` (`ASK …`) runs them outside.
    public func ask(_ text: String, count: Int = 5) throws -> ShopperAnswer {
        try answer(ShopperRequestReader.interpret(text), asked: text, count: count, inputs: nil)
    }

    /// Searches for `request` (the shopper's words `asked`, as ``ShopperRequestReader/interpret(_:)`` read them) and
    /// answers it: the search step of `ASK`, with the encoder's outputs from `inputs` when given.
    func answer(_ request: ShopperRequest, asked: String, count: Int, inputs: ModelInputs?) throws -> ShopperAnswer {
        var request = request
        var results = try search(request, count: count, inputs: inputs)
        if results.isEmpty && request.source == "model" {
            request = ShopperRequestReader.ruleReading(asked)
            results = try search(request, count: count, inputs: inputs)
        }
        let titles = results.prefix(3).map { $0.title ?? $0.id }
        let answer: String
        if titles.isEmpty {
            answer = "Sorry, nothing in the shop matches “\(request.keywords)”."
        } else {
            let list = titles.count == 1 ? titles[0] : titles.dropLast().joined(separator: ", ") + " and " + titles.last!
            let price = request.maxPrice.map { " under \(AttributeValue.number($0))" } ?? ""
            answer = "For “\(request.keywords)”\(price), you could look at \(list)."
        }
        return ShopperAnswer(request: request, results: results, answer: answer)
    }

    private func search(_ request: ShopperRequest, count: Int, inputs: ModelInputs?) throws -> [Recommendation] {
        // Results whose titles name an excluded word are dropped after the search, so ask for a few more.
        var recommend = RecommendRequest(.matching(request.keywords), count: request.excluded.isEmpty ? count : count * 4)
        if let maxPrice = request.maxPrice {
            recommend.filter = .compare(attribute: "price", .lessOrEqual, .number(maxPrice))
        }
        let results = try self.recommend(recommend, inputs: inputs)
        guard !request.excluded.isEmpty else { return results }
        let analyzer = TextAnalyzer()
        let excluded = Set(analyzer.words(request.excluded.joined(separator: " ")))
        return Array(results.filter { !analyzer.words($0.title ?? "").contains(where: excluded.contains) }.prefix(count))
    }
}

/// The prompt that reads a shopper's request, and the check of what the model wrote.
enum ShopperRequestReader {
    /// The shopper's words read by the language model (with no transaction open): the model's reading when it
    /// parses, else the raw words as a `fallback` search. Throws for an empty text, or when the request must stop.
    static func interpret(_ text: String) throws -> ShopperRequest {
        // Rejected before the language model is loaded or run.
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RecDBError(.invalidArgument, "ASK needs the shopper's request, not an empty text")
        }
        var request = ruleReading(text)
        if let reading = try? SharedLanguageModel.complete(system: system, examples: examples, user: text, maxTokens: 32),
            let parsed = parse(reading, request: text)
        {
            request = parsed
        }
        // A reading cut short by the deadline falls back above; the request itself stops here.
        try RequestControl.checkCurrent()
        return request
    }

    static let system = "Turn the shopper's request into a product search: the product words, and the highest price named."
    static let examples = [
        ("a red mug for my sister, less than 12 pounds", "keywords: red mug\nmax_price: 12"),
        ("I need something to keep my tea warm", "keywords: tea cosy teapot warmer\nmax_price: none"),
        ("birthday present for a boy who loves dinosaurs, max 20", "keywords: dinosaur toy birthday\nmax_price: 20"),
    ]

    /// What the shopper's words say without the model: the price ceiling and exclusions they state, and the rest of
    /// the words as keywords.
    static func ruleReading(_ text: String) -> ShopperRequest {
        let price = statedPrice(in: text)
        let exclusions = exclusions(in: text)
        var rest = text
        for range in [price?.range, exclusions.range].compactMap({ $0 }).sorted(by: { $0.lowerBound > $1.lowerBound }) {
            rest.removeSubrange(range)
        }
        rest = rest.trimmingCharacters(in: CharacterSet(charactersIn: " ,.;:-"))
        return ShopperRequest(
            keywords: rest.isEmpty ? text : rest, maxPrice: price?.value, source: "fallback", excluded: exclusions.words)
    }

    /// Lowercased words of `text` (letters, digits, apostrophes, hyphens inside a word).
    static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }.map(String.init)
    }

    /// Words that start a price ceiling ("under 5 pounds", "less than £12", "max 20").
    private static let ceilingWords = ["under", "below", "less than", "cheaper than", "max", "maximum", "up to", "at most",
                                       "no more than", "not more than", "within"]
    /// Words that start an exclusion ("not paper", "without glitter", "no plastic", "except the jars").
    private static let exclusionWords: Set<String> = ["not", "without", "except", "excluding", "no"]
    /// Words that end an exclusion's phrase.
    private static let phraseEnds: Set<String> = ["and", "or", "but", "for", "to", "under", "below", "less", "max", "with",
                                                  "that", "which", "please", "in", "on", "at", "than", "more"]
    /// Words an exclusion skips ("not the jars", "not made of plastic").
    private static let fillers: Set<String> = ["the", "a", "an", "any", "made", "of", "too", "so", "very", "one", "ones",
                                               "those", "these", "some", "really"]

    /// The price ceiling the shopper states, with the phrase that states it.
    static func statedPrice(in text: String) -> (value: Double, range: Range<String.Index>)? {
        let lower = text.lowercased()
        let pattern = "(" + ceilingWords.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
            + ")\\s*(£|\\$|€|eur|gbp|usd)?\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(pounds?|quid|dollars?|euros?|£|\\$|€)?"
        guard let regex = try? NSRegularExpression(pattern: "\\b" + pattern, options: []),
            let match = regex.firstMatch(in: lower, range: NSRange(lower.startIndex..., in: lower)),
            let numberRange = Range(match.range(at: 3), in: lower), let value = Double(lower[numberRange]), value > 0,
            let whole = Range(match.range, in: text)
        else { return nil }
        return (value, whole)
    }

    /// The words the shopper rules out, with the phrase that does (the first such phrase).
    static func exclusions(in text: String) -> (words: [String], range: Range<String.Index>?) {
        var tokens: [(word: String, range: Range<String.Index>)] = []
        var index = text.startIndex
        while index < text.endIndex {
            guard text[index].isLetter || text[index].isNumber else {
                index = text.index(after: index)
                continue
            }
            var end = index
            while end < text.endIndex, text[end].isLetter || text[end].isNumber || text[end] == "'" || text[end] == "-" {
                end = text.index(after: end)
            }
            tokens.append((text[index..<end].lowercased(), index..<end))
            index = end
        }
        for (position, token) in tokens.enumerated() where exclusionWords.contains(token.word) {
            var words: [String] = []
            var last = token.range
            for next in tokens[(position + 1)...] {
                // A comma, full stop or semicolon between words ends the phrase.
                if text[last.upperBound..<next.range.lowerBound].contains(where: { ",.;:!?".contains($0) }) { break }
                if phraseEnds.contains(next.word) || exclusionWords.contains(next.word) { break }
                last = next.range
                if fillers.contains(next.word) { continue }
                words.append(next.word)
                if words.count == 3 { break }
            }
            // "no more than 5" is a price, "not" alone is nothing.
            guard !words.isEmpty, !words.allSatisfy({ Double($0) != nil }) else { continue }
            // The phrase starts at "but"/"and" when one leads into it ("tea lights but not the glass holders").
            var start = token.range.lowerBound
            if position > 0, ["but", "and"].contains(tokens[position - 1].word) { start = tokens[position - 1].range.lowerBound }
            return (words, start..<last.upperBound)
        }
        return ([], nil)
    }

    /// Words that only link others ("a bag that is not paper"): never keywords on their own.
    private static let linkWords: Set<String> = exclusionWords.union(["that", "is", "are", "which", "but"])

    /// Words a reading of `request` may not borrow from the worked examples: those of each example's reading that
    /// the shopper did not write, unless the request is much like that example's (two content words in common).
    static func borrowedExampleWords(for request: String) -> Set<String> {
        let analyzer = TextAnalyzer()
        let asked = Set(analyzer.words(request))
        var barred = Set<String>()
        for (exampleRequest, reading) in examples where asked.intersection(analyzer.words(exampleRequest)).count < 2 {
            barred.formUnion(words(reading).filter { !asked.contains(TextAnalyzer.stem($0)) })
        }
        return barred
    }

    /// The request the model's `output` describes, or nil when it does not parse. A price counts only when the
    /// shopper's own text contains that number (the model may not invent one); a price or exclusion the shopper's
    /// words state plainly wins over the model's reading. Keywords are each written once, at most eight, without
    /// excluded words or words borrowed from the worked examples.
    static func parse(_ output: String, request: String) -> ShopperRequest? {
        var keywords: String?
        var maxPrice: Double?
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0].lowercased() {
            case "keywords": keywords = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'."))
            case "max_price", "max price":
                let digits = parts[1].filter { $0.isNumber || $0 == "." }
                if let value = Double(digits), value > 0, request.contains(digits.hasSuffix(".0") ? String(digits.dropLast(2)) : digits) {
                    maxPrice = value
                }
            default: continue
            }
        }
        guard let keywords, !keywords.isEmpty, keywords.count <= 200, keywords.lowercased() != "none" else { return nil }
        // Grounded: at least one keyword comes from the shopper's own words (the model may add related ones).
        let asked = Set(TextAnalyzer().words(request))
        guard TextAnalyzer().words(keywords).contains(where: asked.contains) else { return nil }
        let rules = ruleReading(request)
        let analyzer = TextAnalyzer()
        let excluded = Set(analyzer.words(rules.excluded.joined(separator: " ")))
        let barred = borrowedExampleWords(for: request)
        var kept: [String] = []
        // Words, not hyphenated compounds: "jam-making set" searches as "jam making set".
        let keywordWords = words(keywords).flatMap { $0.split(separator: "-").map(String.init) }
        for word in keywordWords where !kept.contains(word) && !barred.contains(word) && !linkWords.contains(word) {
            if analyzer.words(word).contains(where: excluded.contains) { continue }
            kept.append(word)
            if kept.count == 8 { break }
        }
        guard !kept.isEmpty else { return nil }
        return ShopperRequest(
            keywords: kept.joined(separator: " "), maxPrice: rules.maxPrice ?? maxPrice, source: "model",
            excluded: rules.excluded)
    }
}

/// A cold user's self-description (`about`) read as interests, for a text profile.
enum ProfileReader {
    static let system = """
        List the shopping interests in the person's self-description as a short comma-separated list of product \
        words. Example: "I love baking and my garden" gives: baking, cake tins, garden tools
        """

    private static let cache = Mutex<[String: String]>([:])

    /// The text a profile is encoded from: the description and, when the language model is installed, the interests
    /// it reads in it (cached per description).
    static func profileText(about: String) -> String {
        if let cached = cache.withLock({ $0[about] }) { return cached }
        var text = about
        if let interests = try? SharedLanguageModel.complete(system: system, user: about, maxTokens: 24) {
            let line = interests.split(separator: "\n").first.map(String.init) ?? ""
            if !line.isEmpty { text = "\(line). \(about)" }
        }
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[about] = text
        }
        return text
    }
}
