import RecDB

/// MiniLM item embeddings as a stored kind (`text`, alias `minilm`): item vectors in a cosine space `NAME@g`
/// (indexed); phrases, profiles and new items are encoded at request time (`recctl models install minilm`).
///
/// The kind lives here, beside the encoder it needs, and joins the engine's model registry when the app calls
/// ``RecText/install()``: from then on `USING text`, `REFRESH MODEL text`, `EVALUATE` and `recctl eval --models text`
/// reach it through the registry like any built-in kind. The model it trains (``TextModel``) is here too, beside the
/// kinds built on its vectors (`llmprofile`, `textadapter`); the stored vectors evaluation reads stay in the engine.
struct StoredText: StoredModel {
    static var kind: ModelKind { .text }
    static var aliases: [String] { ["minilm"] }
    static var trainsOnItems: Bool { true }
    static var needsTextEncoder: Bool { true }
    static var keepsItemVectorsCurrent: Bool { true }

    init() {}

    /// The stored vectors of the text model refreshed before (what evaluation reads), the encoder for the rest.
    func train(_ input: TrainingInput) -> any Recommender {
        TextModel(training: input)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let text = trained as? TextModel else { return }
        try generation.writeItemVectors(text.itemVectors, dimension: text.dimension)
        try generation.buildItemIndex()
    }

    func vectorsForNewItems(_ trained: any Recommender) -> ((Item) -> [Float]?)? {
        guard trained is TextModel, let encoder = try? SharedTextEncoder.get() else { return nil }
        return { item in
            let text = ItemText.of(item)
            return text.isEmpty ? nil : encoder.encode(text)
        }
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 50
        case .session: 40
        case .items: 30
        case .similarTo: 20
        case .matching: 10
        case .usersForItem: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.itemVectorCandidates(record, resolved, pool: pool, readsAbout: true) { try resolved.textVector($0) }
    }

    static func currentItemVector<Reader: CatalogReading & ~Copyable>(
        for item: Item, record: ModelRecord, inputs: ModelInputs?, in reader: borrowing Reader
    ) throws -> [Float]? {
        let text = ItemText.of(item)
        // Encoded before the transaction when the statement was prepared (`RecDatabase.prepareModelInputs(for:)`);
        // here only when not (an embedder's own transaction, or a batch-mate changed the item's text since).
        return text.isEmpty ? nil : try inputs?.textVectors[text] ?? SharedTextEncoder.encode(text)
    }
}

extension ModelSpec {
    /// MiniLM sentence embeddings of item text (needs `recctl models install minilm`; the kind is known once
    /// ``RecText/install()`` has run).
    public static var text: ModelSpec { ModelSpec(StoredText()) }
}
