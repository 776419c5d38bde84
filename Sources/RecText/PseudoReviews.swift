import Foundation
import RecDB
import Synchronization

/// A short review-like note the language model wrote for an item nobody had interacted with, from the item's own
/// text: generated text, kept with its provenance (the model and prompt), never stored or shown as a review.
public struct GeneratedReview: Codable, Equatable, Sendable {
    /// The item's internal id.
    public var item: UInt32
    /// What the language model wrote.
    public var text: String
    /// The model that wrote it (``PseudoReviews/generator``).
    public var generator: String
    /// The prompt's version (``PseudoReviews/promptVersion``): a new prompt is a new provenance.
    public var promptVersion: Int

    enum CodingKeys: String, CodingKey {
        case item, text, generator
        case promptVersion = "prompt_version"
    }
}

/// LLM pseudo-reviews for cold items: for an item with no interactions, SmolLM2 (``SharedLanguageModel``) reads its
/// title, category path, brand and the start of its description and writes one sentence on who buys it and what
/// for; MiniLM encodes the sentence, and the item's vector becomes the normalised sum of its own text vector and
/// `weight` × the sentence's. The hope (the paper's) is that the model's knowledge of what a product is for brings a
/// never-bought item nearer the items its buyers bought. Greedy decoding, so an item's text always gives the same
/// sentence; sentences are cached per prompt in the process.
enum PseudoReviews {
    /// The model named in each review's provenance.
    static let generator = ColdStartProfiles.generator
    /// Bumped when the prompt changes.
    static let promptVersion = 1

    static let system = """
        You describe products for a shop's search. In one sentence, say what kind of shopper buys the product and \
        what they use it for. Do not praise it and do not add features that are not given.
        """

    private static let cache = Mutex<[String: String]>([:])

    /// The user turn for an item: its title, category path, brand and the first 300 characters of its description.
    static func prompt(_ item: Item) -> String {
        var lines = ["Product: " + ProfileFacts.clean(String((item.title ?? "item \(item.id)").prefix(160)))]
        if let category = item.category, !category.isEmpty {
            lines.append("Category: " + category.split(separator: "/").joined(separator: " > "))
        }
        if case .string(let brand)? = item.attributes["brand"], !brand.isEmpty { lines.append("Brand: " + brand) }
        if case .string(let description)? = item.attributes["description"], !description.isEmpty {
            lines.append("Description: " + ProfileFacts.clean(String(description.prefix(300))))
        }
        return lines.joined(separator: "\n")
    }

    /// The sentence written for each item, in order ("" when the model wrote nothing), at most `maxTokens` tokens;
    /// `progress` hears how many are done.
    static func write(_ items: [Item], maxTokens: Int, progress: ((Int) -> Void)? = nil) throws -> [String] {
        var texts: [String] = []
        texts.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let user = prompt(item)
            let key = "\(maxTokens)\n" + user
            if let known = cache.withLock({ $0[key] }) {
                texts.append(known)
            } else {
                let written = try SharedLanguageModel.with { model in
                    try model.complete(system: system, examples: [], user: user, maxTokens: maxTokens, shouldStop: { false })
                }
                let text = firstSentence(of: written)
                cache.withLock { cache in
                    if cache.count > 100_000 { cache.removeAll() }
                    cache[key] = text
                }
                texts.append(text)
            }
            progress?(index + 1)
        }
        return texts
    }

    /// `text` trimmed, up to and including its first full stop (the whole of it when it has none).
    static func firstSentence(of text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let stop = trimmed.firstIndex(where: { $0 == "." || $0 == "!" || $0 == "\n" }) else { return trimmed }
        return String(trimmed[...stop]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The reviews, with the items' new unit vectors, for the items of `text` with a vector and at most `maxEvents`
    /// positive interactions in `log` (at most `maxItems`, in id order). An item whose review comes out empty keeps
    /// its vector and gets none. `progress` hears the fraction done.
    static func generate(
        log: InteractionLog, items: [UInt32: Item], text: TextModel, maxEvents: Int, maxItems: Int, maxTokens: Int,
        weight: Float, progress: (@Sendable (Double) -> Void)? = nil
    ) throws -> [(review: GeneratedReview, vector: [Float])] {
        var events = [Int](repeating: 0, count: log.itemLimit)
        for index in 0..<log.count where log.weights[index] > 0 && Int(log.items[index]) < events.count {
            events[Int(log.items[index])] += 1
        }
        let chosen = items.keys.sorted().filter { id in
            Int(id) < events.count && events[Int(id)] <= maxEvents && text.itemVector(id) != nil
        }.prefix(maxItems).compactMap { items[$0] }
        let total = Double(max(chosen.count, 1))
        let written = try write(Array(chosen), maxTokens: maxTokens) { progress?(Double($0) / total) }
        let encoder = try SharedTextEncoder.get()
        InferenceProbe.willRun(.textEncoder)
        let nonEmpty = zip(chosen, written).filter { !$0.1.isEmpty }
        let encoded = encoder.encode(nonEmpty.map(\.1), threads: 2)
        var result: [(review: GeneratedReview, vector: [Float])] = []
        for ((item, sentence), reviewVector) in zip(nonEmpty, encoded) {
            guard let own = text.itemVector(item.internalID), own.count == reviewVector.count else { continue }
            var sum = zip(own, reviewVector).map { $0 + weight * $1 }
            let norm = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { continue }
            sum = sum.map { $0 / norm }
            result.append(
                (GeneratedReview(item: item.internalID, text: sentence, generator: generator, promptVersion: promptVersion), sum))
        }
        return result
    }
}
