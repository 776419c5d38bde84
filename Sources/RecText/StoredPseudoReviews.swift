import Foundation
import RecDB

extension ModelKind {
    /// Text vectors with LLM pseudo-reviews for cold items (``StoredPseudoReviews``).
    public static let pseudoReview: ModelKind = "pseudoreview"
}

extension ModelPart {
    /// Pseudo-reviews: the generated sentences with their provenance (``GeneratedReview``), a JSON array of up to
    /// ``StoredPseudoReviews/reviewsPerValue`` per value.
    public static let generatedReviews = ModelPart(rawValue: 24)
}

/// The text model with pseudo-reviews for cold items: items with at most `max_events` interactions in the training
/// snapshot (0: none) get a sentence SmolLM2 wrote from their text (``PseudoReviews``), and their vector becomes the
/// normalised sum of their MiniLM text vector and `weight` × the sentence's; the other items keep their text
/// vectors. Served like the text model (a user's recency profile, items like an item, baskets, `MATCHING`).
///
/// A generation is a cosine space `NAME@g` of the vectors (indexed) plus the sentences with their provenance (part
/// ``ModelPart/generatedReviews``): never a review, an event or an item attribute; `SHOW ITEM` shows an item's as
/// `generated_review`, marked generated. Needs `recctl models install minilm smollm2`.
struct StoredPseudoReviews: StoredModel {
    /// The most positive training interactions an item may have and still get a sentence.
    var maxEvents = 0
    /// The most items written per refresh, in id order.
    var maxItems = 100_000
    /// The most tokens a sentence may have.
    var maxTokens = 40
    /// How much the sentence's vector counts beside the item's own text vector.
    var weight: Float = 1

    static let reviewsPerValue = 512

    static var kind: ModelKind { .pseudoReview }
    static var aliases: [String] { ["pseudoreviews"] }
    static var trainsOnItems: Bool { true }
    static var needsTextEncoder: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("max_events", \.maxEvents), .count("max_items", \.maxItems), .count("max_tokens", \.maxTokens),
            .float("weight", \.weight),
        ]
    }

    init() {}

    /// `recctl tune pseudoreview`: the sentence's weight (¼, ½, 1) × cold items only or every item (sentences are
    /// cached in the process, so each is written once).
    var tuningGrid: [Self] {
        [0, 1_000_000].flatMap { maxEvents in
            [Float(0.25), 0.5, 1].map { weight in
                var grid = self
                grid.maxEvents = maxEvents
                grid.weight = weight
                return grid
            }
        }
    }

    func validateParameters() throws {
        guard maxEvents >= 0, maxItems >= 1, (4...200).contains(maxTokens), weight >= 0, weight <= 10 else {
            throw RecDBError(
                .invalidArgument,
                "pseudoreview needs max_events ≥ 0, max_items ≥ 1, max_tokens in 4…200 and weight in 0…10 (got "
                    + "\(maxEvents), \(maxItems), \(maxTokens), \(weight))")
        }
    }

    /// The language model must be installed as well as the text encoder.
    func checkFits(_ log: InteractionLog) throws { try ColdStartProfiles.requireModels(.guided) }

    func train(_ input: TrainingInput) -> any Recommender {
        let base = TextModel(training: input)
        let items = Dictionary(input.items.map { ($0.internalID, $0) }, uniquingKeysWith: { a, _ in a })
        // checkFits has found both models, so a failure here is the model's own: no sentences, the text vectors.
        let generated = (try? PseudoReviews.generate(
            log: input.log, items: items, text: base, maxEvents: maxEvents, maxItems: maxItems, maxTokens: maxTokens,
            weight: weight, progress: input.progress)) ?? []
        var vectors: [UInt32: [Float]] = [:]
        for row in 0..<base.hasVector.count where base.hasVector[row] {
            vectors[UInt32(row)] = Array(base.itemVectors[row * base.dimension..<(row + 1) * base.dimension])
        }
        for (review, vector) in generated { vectors[review.item] = vector }
        let text = TextModel(
            name: Self.kind.rawValue, items: [], itemLimit: input.log.itemLimit, stored: vectors,
            dimension: base.dimension, encoder: nil)
        return PseudoReviewModel(text: text, reviews: generated.map(\.review))
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let model = trained as? PseudoReviewModel else { return }
        try generation.writeItemVectors(model.text.itemVectors, dimension: model.text.dimension)
        try generation.buildItemIndex()
        try generation.writeJSONArrays(.generatedReviews, model.reviews, perValue: Self.reviewsPerValue)
    }

    /// `SHOW ITEM` shows the item's sentence as `generated_review`.
    static var itemFactName: String { "generated_review" }

    static func itemFact<Reader: CatalogReading & ~Copyable>(
        ofItemID item: UInt32, in reader: borrowing Reader
    ) throws -> QueryValue? {
        guard let review = try reader.generatedReview(ofItemID: item) else { return nil }
        return .object([
            "text": .string(review.text), "generated": .bool(true), "generator": .string(review.generator),
            "prompt_version": .number(Double(review.promptVersion)),
        ])
    }

    /// Not in the default chain (the text model is): asked for by name or blended.
    static func chainPosition(for target: RecommendRequest.Target) -> Int? { nil }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.itemVectorCandidates(record, resolved, pool: pool, readsAbout: true) { try resolved.textVector($0) }
    }
}

/// A trained ``StoredPseudoReviews``: the item vectors (scored as the text model scores) and the sentences.
struct PseudoReviewModel: Recommender {
    /// The vectors, as a text model.
    let text: TextModel
    /// What the language model wrote, with provenance.
    let reviews: [GeneratedReview]

    var name: String { text.name }

    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        text.score(user: user, history: history, into: scores)
    }

    func itemVector(_ item: UInt32) -> [Float]? { text.itemVector(item) }
}

extension CatalogReading where Self: ~Copyable {
    /// The sentence the active `pseudoreview` model wrote for an item, or nil (no such model, or no sentence).
    func generatedReview(ofItemID item: UInt32) throws -> GeneratedReview? {
        try generatedTexts(of: StoredPseudoReviews.kind, part: .generatedReviews, what: "reviews", key: \.item)?[item]
    }
}
