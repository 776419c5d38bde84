import Foundation
import RecDB

extension ModelKind {
    /// LLM-written cold-start profiles (``StoredLLMProfiles``).
    public static let llmProfile: ModelKind = "llmprofile"
}

extension ModelPart {
    /// LLM profiles: the generated profiles with their provenance (``GeneratedProfile``), a JSON array of up to
    /// ``StoredLLMProfiles/profilesPerValue`` per value.
    public static let generatedProfiles = ModelPart(rawValue: 22)
}

extension StoredLLMProfiles {
    /// Generated profiles per value of part ``ModelPart/generatedProfiles``.
    static let profilesPerValue = 512
}

/// The cold-start profile model: users with 1 to `max_items` distinct items get a profile written by the language
/// model (``ColdStartProfiles``), encoded by MiniLM into a unit query vector; an item's score is its cosine with that
/// vector (the text model's item vectors). Users without a profile get nothing from it, so it is a part to blend
/// (HyGenRec's cold users), not a model to serve alone.
///
/// A generation is a cosine space `NAME@g` holding the item vectors (indexed) and the profiled users' vectors, plus
/// the profiles' text and provenance (part ``ModelPart/generatedProfiles``); `SHOW USER` shows a user's profile
/// marked as generated. Needs `recctl models install minilm smollm2`.
struct StoredLLMProfiles: StoredModel {
    /// The most distinct items a profiled user has (3: the evaluator's cold users).
    var maxItems = 3
    /// The most users profiled per refresh, in id order.
    var maxUsers = 100_000
    /// The most tokens a profile may have.
    var maxTokens = 40
    /// The most fact phrases a profile names.
    var maxPhrases = 4
    /// Who writes the profiles: 1, the language model choosing among the facts' phrases; 0, the first phrases
    /// without a model (the baseline that says what the model's choice adds).
    var guided = 1

    static var kind: ModelKind { .llmProfile }
    static var aliases: [String] { ["profiles", "llm"] }
    static var trainsOnItems: Bool { true }
    static var needsTextEncoder: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [.count("max_items", \.maxItems), .count("max_users", \.maxUsers), .count("max_tokens", \.maxTokens),
            .count("max_phrases", \.maxPhrases), .count("guided", \.guided),
        ]
    }

    init() {}

    func validateParameters() throws {
        guard (1...50).contains(maxItems), maxUsers >= 1, (4...200).contains(maxTokens), (1...20).contains(maxPhrases),
            (0...1).contains(guided)
        else {
            throw RecDBError(
                .invalidArgument,
                "llmprofile needs max_items in 1…50, max_users ≥ 1, max_tokens in 4…200, max_phrases in 1…20 and "
                    + "guided 0 or 1 (got \(maxItems), \(maxUsers), \(maxTokens), \(maxPhrases), \(guided))")
        }
    }

    /// Who writes the profiles.
    var mode: ColdStartProfiles.Mode { guided == 0 ? .extractive : .guided }

    /// The language model must be installed too when it writes (the text encoder is checked as for the text model).
    func checkFits(_ log: InteractionLog) throws { try ColdStartProfiles.requireModels(mode) }

    func train(_ input: TrainingInput) -> any Recommender {
        let text = TextModel(training: input)
        let items = Dictionary(input.items.map { ($0.internalID, $0) }, uniquingKeysWith: { a, _ in a })
        // checkFits has found both models, so a failure here is the model's own: no profiles, as for a missing model.
        let generated = (try? ColdStartProfiles.generate(
            log: input.log, items: items, mode: mode, maxItems: maxItems, maxUsers: maxUsers, maxPhrases: maxPhrases,
            maxTokens: maxTokens, progress: input.progress)) ?? []
        return LLMProfileModel(
            name: Self.kind.rawValue, text: text, profiles: generated.map(\.profile),
            vectors: Dictionary(generated.map { ($0.profile.user, $0.vector) }, uniquingKeysWith: { a, _ in a }))
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let model = trained as? LLMProfileModel else { return }
        try generation.writeItemVectors(model.text.itemVectors, dimension: model.text.dimension)
        try generation.writeUserVectors(model.vectors)
        try generation.buildItemIndex()
        try generation.writeJSONArrays(.generatedProfiles, model.profiles, perValue: Self.profilesPerValue)
    }

    /// `SHOW USER` shows the user's profile as `generated_profile`.
    static var userFactName: String { "generated_profile" }

    static func userFact<Reader: CatalogReading & ~Copyable>(
        ofUserID user: UInt32, in reader: borrowing Reader
    ) throws -> QueryValue? {
        try reader.generatedProfileValue(ofUserID: user)
    }

    /// Not in the default chain: a part of HyGenRec or of a `BLEND`.
    static func chainPosition(for target: RecommendRequest.Target) -> Int? { nil }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.userVectorCandidates(record, resolved, pool: pool)
    }
}

/// A trained ``StoredLLMProfiles``: the profiled users' query vectors over the text model's item vectors.
struct LLMProfileModel: Recommender {
    let name: String
    /// The item vectors (MiniLM).
    let text: TextModel
    /// What the language model wrote, with provenance.
    let profiles: [GeneratedProfile]
    /// Unit query vector per profiled user.
    let vectors: [UInt32: [Float]]

    /// The cosine of each item with the user's profile vector; −∞ for every item when the user has no profile.
    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        guard let profile = vectors[user], profile.count == text.dimension else {
            scores.update(repeating: -.infinity)
            return
        }
        let d = text.dimension
        text.itemVectors.withUnsafeBufferPointer { items in
            profile.withUnsafeBufferPointer { p in
                for i in 0..<scores.count {
                    scores[i] = i < text.hasVector.count && text.hasVector[i]
                        ? VectorKernels.dot(items.baseAddress! + i * d, p.baseAddress!, d) : -.infinity
                }
            }
        }
    }

    func itemVector(_ item: UInt32) -> [Float]? { text.itemVector(item) }
}

extension GenerationWriter {
    /// `values` (generated texts with their provenance) as JSON arrays of at most `perValue` each, at indices 0, 1, …
    /// of `part`; read back by ``CatalogReading/generatedTexts(of:part:what:key:)``.
    func writeJSONArrays<Value: Encodable>(_ part: ModelPart, _ values: [Value], perValue: Int) throws {
        for (index, start) in stride(from: 0, to: values.count, by: perValue).enumerated() {
            let chunk = Array(values[start..<min(values.count, start + perValue)])
            try writeValue(part, index: UInt32(index), Array(try JSONEncoder().encode(chunk)))
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// The profile the active `llmprofile` model generated for a user, or nil (no such model, or no profile).
    func generatedProfile(ofUserID user: UInt32) throws -> GeneratedProfile? {
        try generatedTexts(of: StoredLLMProfiles.kind, part: .generatedProfiles, what: "profiles", key: \.user)?[user]
    }

    /// The generated texts (profiles, pseudo-reviews) the active model of `kind` stores in `part` as JSON arrays,
    /// keyed by `key` and decoded once per generation; nil when no such model is trained. `corrupted` naming the
    /// model and `what` when a value does not decode.
    func generatedTexts<Text: Decodable & Sendable>(
        of kind: ModelKind, part: ModelPart, what: String, key: (Text) -> UInt32
    ) throws -> [UInt32: Text]? {
        guard let record = try model(kind.rawValue), record.kind == kind, record.generation > 0 else { return nil }
        return try cachedModelValues(record, part: part) { values -> [UInt32: Text] in
            var byKey: [UInt32: Text] = [:]
            for value in values {
                do {
                    for text in try JSONDecoder().decode([Text].self, from: Data(value)) { byKey[key(text)] = text }
                } catch {
                    throw RecDBError(
                        .corrupted, "\(kind.rawValue) '\(record.name)' generation \(record.generation): \(what) do not decode",
                        cause: error)
                }
            }
            return byKey
        }
    }
}
