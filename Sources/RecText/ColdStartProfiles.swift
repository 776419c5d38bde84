import Foundation
import RecDB
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
/// ``SharedLanguageModel``) writes a short list of shopping interests from their items, choosing and ordering
/// phrases of the items' facts (``ProfileFacts``: product nouns from the titles, category names, brands) under a
/// token grammar (``GuidedProfile``), so it can neither copy an example nor invent a product; the text encoder
/// (MiniLM) turns the list into the query vector that ``StoredLLMProfiles`` recommends with. Greedy decoding, so a
/// prompt always gives the same profile; the users of a refresh are decoded in batches after one shared prompt
/// prefix, and profiles are cached per prompt in the process (seeds and ablations of one report write each once).
enum ColdStartProfiles {
    /// The model named in each profile's provenance.
    static let generator = "SmolLM2-135M-Instruct"
    /// The name in the provenance of a profile written without the model (``Mode/extractive``).
    static let extractiveGenerator = "extractive"
    /// Bumped when the prompt changes: 1 was free text after a worked example (the model copied the example);
    /// 2 chooses among the facts' phrases.
    static let promptVersion = 2
    /// The most items a prompt names (the newest).
    static let promptItems = 5
    /// Users decoded together.
    static let batchSize = 8

    /// Who writes a profile.
    enum Mode: Int, Sendable {
        /// Every fact phrase, newest item first, up to the phrase limit: no language model.
        case extractive = 0
        /// The language model chooses and orders the phrases.
        case guided = 1
    }

    static let system = """
        You help a shop search for what a shopper wants next. Read the items they bought and the phrases offered, \
        then list the phrases that best describe what they will want next, most telling first, separated by commas.
        """

    private static let cache = Mutex<[String: String]>([:])

    /// The prompt for a user's items (oldest first; the newest ``promptItems`` are named) and self-description.
    static func prompt(items: [Item], about: String? = nil) -> String {
        var lines = ["Items bought:"]
        for item in items.suffix(promptItems) {
            var line = "- " + ProfileFacts.clean(String((item.title ?? "item \(item.id)").prefix(120)))
            if let category = item.category, !category.isEmpty {
                line += " (" + category.split(separator: "/").suffix(2).joined(separator: " > ") + ")"
            }
            lines.append(line)
        }
        if let about, !about.isEmpty { lines.append("They describe themselves: " + String(about.prefix(300))) }
        return lines.joined(separator: "\n")
    }

    /// The user's turn: the items, then the phrases to choose from.
    static func turn(items: [Item], facts: ProfileFacts) -> String {
        prompt(items: items) + "\nPhrases: " + facts.phrases.joined(separator: "; ")
    }

    /// The profiles of `users` (each user's items, oldest first), in order: the chosen phrases joined by commas,
    /// "" for a user with no facts. `guided` decodes with the language model in batches of ``batchSize``, cached
    /// per prompt; `extractive` takes the first `maxPhrases` phrases.
    static func write(
        _ users: [[Item]], mode: Mode, maxPhrases: Int, maxTokens: Int, progress: ((Int) -> Void)? = nil
    ) throws -> [String] {
        let facts = users.map { ProfileFacts(items: $0) }
        guard mode == .guided else {
            return facts.map { $0.phrases.prefix(maxPhrases).joined(separator: ", ") }
        }
        let keys = zip(users, facts).map { "\(maxPhrases) \(maxTokens)\n" + turn(items: $0, facts: $1) }
        var texts = keys.map { key in cache.withLock { $0[key] } }
        let missing = texts.indices.filter { texts[$0] == nil && !facts[$0].phrases.isEmpty }
        for start in stride(from: 0, to: missing.count, by: batchSize) {
            let batch = Array(missing[start..<min(missing.count, start + batchSize)])
            let turns = batch.map { turn(items: users[$0], facts: facts[$0]) }
            let phrases = batch.map { facts[$0].phrases }
            let written = try SharedLanguageModel.with { model in
                try decode(turns: turns, phrases: phrases, maxPhrases: maxPhrases, maxTokens: maxTokens, model: model)
            }
            for (index, text) in zip(batch, written) {
                texts[index] = text
                cache.withLock { cache in
                    if cache.count > 100_000 { cache.removeAll() }
                    cache[keys[index]] = text
                }
            }
            progress?(start + batch.count)
        }
        return texts.map { $0 ?? "" }
    }

    /// One batch under the phrase grammar: the shared prefix (system prompt, the user turn's opening), each user's
    /// turn and the assistant's opening, then the chosen phrases.
    private static func decode(
        turns: [String], phrases: [[String]], maxPhrases: Int, maxTokens: Int, model: any GuidedLanguageModel
    ) throws -> [String] {
        let prefix = model.tokens(of: "<|im_start|>system\n\(system)<|im_end|>\n<|im_start|>user\n", special: true)
        let suffixes = turns.map {
            model.tokens(of: "\($0)<|im_end|>\n<|im_start|>assistant\nWill want:", special: true)
        }
        func single(_ text: String) -> Int32 { model.tokens(of: text, special: false).first ?? 0 }
        let (comma, period) = (single(","), single("."))
        var profiles = phrases.map { list in
            GuidedProfile(
                phraseTokens: list.map { model.tokens(of: " " + $0, special: false) }, comma: comma, period: period,
                maxPhrases: maxPhrases, maxTokens: maxTokens)
        }
        _ = try model.generateGuidedBatch(
            prefix: prefix, suffixes: suffixes, maxTokens: maxTokens, shouldStop: { false }
        ) { sequence, logits in
            profiles[sequence].next(logits)
        }
        return zip(profiles, phrases).map { profile, list in
            profile.chosen.map { list[$0] }.joined(separator: ", ")
        }
    }

    /// Throws `notFound` naming the install command when the text encoder (and, for `guided`, the language model)
    /// is absent.
    static func requireModels(_ mode: Mode) throws {
        _ = try SharedTextEncoder.get()
        if mode == .guided { try SharedLanguageModel.with { _ in () } }
    }

    /// Profiles with their unit query vectors for the users of `log` with 1 to `maxItems` distinct items (at most
    /// `maxUsers`, in id order), written from their items (`items` by internal id). Users whose profile comes out
    /// empty get none. `progress` hears the fraction done.
    static func generate(
        log: InteractionLog, items: [UInt32: Item], mode: Mode, maxItems: Int, maxUsers: Int, maxPhrases: Int,
        maxTokens: Int, progress: (@Sendable (Double) -> Void)? = nil
    ) throws -> [(profile: GeneratedProfile, vector: [Float])] {
        var chosen: [(user: UInt32, items: [UInt32])] = []
        for (user, range) in log.userRanges() where chosen.count < maxUsers {
            var order: [UInt32] = []
            for index in range where log.weights[index] > 0 && !order.contains(log.items[index]) {
                order.append(log.items[index])
                if order.count > maxItems { break }
            }
            if (1...max(1, maxItems)).contains(order.count) { chosen.append((user, order)) }
        }
        let known = chosen.map { $0.items.compactMap { items[$0] } }
        let total = Double(max(chosen.count, 1))
        let texts = try write(known, mode: mode, maxPhrases: maxPhrases, maxTokens: maxTokens) {
            progress?(Double($0) / total)
        }
        let encoder = try SharedTextEncoder.get()
        InferenceProbe.willRun(.textEncoder)
        let vectors = encoder.encode(texts.filter { !$0.isEmpty }, threads: 2)
        var next = vectors.makeIterator()
        var result: [(profile: GeneratedProfile, vector: [Float])] = []
        for (entry, text) in zip(chosen, texts) where !text.isEmpty {
            guard let vector = next.next() else { break }
            let profile = GeneratedProfile(
                user: entry.user, text: text, sourceItems: entry.items,
                generator: mode == .guided ? generator : extractiveGenerator, promptVersion: promptVersion)
            result.append((profile, vector))
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
