import Foundation
import Synchronization

/// What `ASK 'a gift for my dad who likes fishing, under 30 pounds'` understood.
public struct ShopperRequest: Sendable, Hashable {
    /// Words to search item text for.
    public var keywords: String
    /// A price ceiling the shopper named.
    public var maxPrice: Double?
    /// `model` when the language model's reading was used, `fallback` when its output did not parse (the raw text
    /// is searched instead).
    public var source: String
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
            request = ShopperRequest(keywords: asked, maxPrice: nil, source: "fallback")
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
        var recommend = RecommendRequest(.matching(request.keywords), count: count)
        if let maxPrice = request.maxPrice {
            recommend.filter = .compare(attribute: "price", .lessOrEqual, .number(maxPrice))
        }
        return try self.recommend(recommend, inputs: inputs)
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
        var request = ShopperRequest(keywords: text, maxPrice: nil, source: "fallback")
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

    /// The request the model's `output` describes, or nil when it does not parse. A price counts only when the
    /// shopper's own text contains that number (the model may not invent one).
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
        return ShopperRequest(keywords: keywords, maxPrice: maxPrice, source: "model")
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
