import Foundation
import Synchronization

/// A preference profile the language model wrote for a user with few events: generated text, kept with its
/// provenance (which items it was written from, by which model and prompt) and never shown as a review.
public struct GeneratedProfile: Codable, Equatable, Sendable {
    /// The user's internal id.
    public var user: UInt32
    /// What the language model wrote.
    public var text: String
    /// The internal ids of the items the prompt named, oldest first.
    public var sourceItems: [UInt32]
    /// The model that wrote it (``ColdStartProfiles/generator``).
    public var generator: String
    /// The prompt's version (``ColdStartProfiles/promptVersion``): a new prompt is a new provenance.
    public var promptVersion: Int

    enum CodingKeys: String, CodingKey {
        case user, text, generator
        case sourceItems = "source_items", promptVersion = "prompt_version"
    }
}

/// LLM-written cold-start profiles: for a user with a few events, SmolLM2 (RecML's language model, through
/// ``SharedLanguageModel/complete(system:examples:user:maxTokens:)``) writes one sentence of shopping interests from
/// the titles and categories of their items; the text encoder (MiniLM) turns it into the query vector that
/// ``StoredLLMProfiles`` recommends with. Greedy decoding, so a prompt always gives the same profile; profiles are
/// cached per prompt in the process (seeds and ablations of one report write each once).
enum ColdStartProfiles {
    /// The model named in each profile's provenance.
    static let generator = "SmolLM2-135M-Instruct"
    /// Bumped when the prompt changes.
    static let promptVersion = 1
    /// The most items a prompt names (the newest).
    static let promptItems = 5

    static let system = """
        You describe a shopper's interests for a product search. Given the items they bought, write one short \
        sentence naming the kinds of products they want next. Use plain product words; do not repeat the titles.
        """
    static let example = (
        "Items bought:\n- Pilot G2 Retractable Gel Ink Pens, Black (Office Products > Writing)\n"
            + "- Moleskine Classic Notebook, Large, Ruled (Office Products > Paper)",
        "Smooth gel pens, refills and good paper notebooks for writing and journaling."
    )

    private static let cache = Mutex<[String: String]>([:])

    /// The prompt for a user's items (oldest first; the newest ``promptItems`` are named) and self-description.
    static func prompt(items: [Item], about: String? = nil) -> String {
        var lines = ["Items bought:"]
        for item in items.suffix(promptItems) {
            var line = "- " + String((item.title ?? "item \(item.id)").prefix(120))
            if let category = item.category, !category.isEmpty {
                line += " (" + category.split(separator: "/").suffix(2).joined(separator: " > ") + ")"
            }
            lines.append(line)
        }
        if let about, !about.isEmpty { lines.append("They describe themselves: " + String(about.prefix(300))) }
        return lines.joined(separator: "\n")
    }

    /// The profile the language model writes for `prompt` (its first line, at most `maxTokens` tokens); cached.
    static func write(prompt: String, maxTokens: Int) throws -> String {
        let key = "\(maxTokens)\n\(prompt)"
        if let cached = cache.withLock({ $0[key] }) { return cached }
        let answer = try SharedLanguageModel.complete(
            system: system, examples: [example], user: prompt, maxTokens: maxTokens)
        let text = answer.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        cache.withLock { cache in
            if cache.count > 100_000 { cache.removeAll() }
            cache[key] = text
        }
        return text
    }

    /// Throws `notFound` naming the install command when the language model or the text encoder is absent.
    static func requireModels() throws {
        _ = try SharedTextEncoder.get()
        try SharedLanguageModel.with { _ in () }
    }

    /// Profiles with their unit query vectors for the users of `log` with 1 to `maxItems` distinct items (at most
    /// `maxUsers`, in id order), written from their items (`items` by internal id). Users whose profile comes out
    /// empty, or when a model is missing, get none. `progress` hears the fraction done.
    static func generate(
        log: InteractionLog, items: [UInt32: Item], maxItems: Int, maxUsers: Int, maxTokens: Int,
        progress: (@Sendable (Double) -> Void)? = nil
    ) -> [(profile: GeneratedProfile, vector: [Float])] {
        var chosen: [(user: UInt32, items: [UInt32])] = []
        for (user, range) in log.userRanges() where chosen.count < maxUsers {
            var order: [UInt32] = []
            for index in range where log.weights[index] > 0 && !order.contains(log.items[index]) {
                order.append(log.items[index])
                if order.count > maxItems { break }
            }
            if (1...max(1, maxItems)).contains(order.count) { chosen.append((user, order)) }
        }
        var result: [(profile: GeneratedProfile, vector: [Float])] = []
        for (done, entry) in chosen.enumerated() {
            let known = entry.items.compactMap { items[$0] }
            guard !known.isEmpty,
                let text = try? write(prompt: prompt(items: known), maxTokens: maxTokens), !text.isEmpty,
                let vector = try? SharedTextEncoder.encode(text)
            else { continue }
            let profile = GeneratedProfile(
                user: entry.user, text: text, sourceItems: entry.items, generator: generator,
                promptVersion: promptVersion)
            result.append((profile, vector))
            progress?(Double(done + 1) / Double(chosen.count))
        }
        return result
    }
}

extension CatalogReading where Self: ~Copyable {
    /// A user's generated profile as `SHOW USER` shows it, marked `"generated": true`, with its provenance (the
    /// items it was written from by external id, the generator, the prompt version); nil when there is none.
    func generatedProfileValue(ofUserID user: UInt32) throws -> QueryValue? {
        guard let profile = try generatedProfile(ofUserID: user) else { return nil }
        let sources = try profile.sourceItems.map { QueryValue.string(try itemHeading(internalID: $0)?.id ?? "#\($0)") }
        return .object([
            "text": .string(profile.text), "generated": .bool(true), "generator": .string(profile.generator),
            "prompt_version": .number(Double(profile.promptVersion)), "source_items": .array(sources),
        ])
    }
}
