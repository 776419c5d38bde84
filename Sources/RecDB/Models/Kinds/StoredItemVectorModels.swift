import Foundation

/// The TF-IDF + SVD content model as a stored kind: item vectors in a cosine space `NAME@g` (indexed), the
/// vocabulary and basis (parts ``ModelPart/vocabulary`` and ``ModelPart/basis``) that project new items and phrases.
struct StoredContent: StoredModel {
    var parameters = ContentModel.Parameters()

    static var kind: ModelKind { .content }
    static var aliases: [String] { ["tfidf"] }
    static var trainsOnItems: Bool { true }
    static var keepsItemVectorsCurrent: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("dimensions", \.parameters.dimensions),
            .count("min_document_frequency", \.parameters.minDocumentFrequency),
            .flag("stemming", \.parameters.stemming), .count("power_iterations", \.parameters.powerIterations),
        ]
    }

    init() {}
    init(_ parameters: ContentModel.Parameters) { self.parameters = parameters }

    var tuningGrid: [Self] {
        [32, 64, 128, 256].flatMap { dimensions in
            [true, false].map { stemming in
                var p = parameters
                p.dimensions = dimensions
                p.stemming = stemming
                return Self(p)
            }
        }
    }

    func train(_ input: TrainingInput) -> any Recommender {
        ContentModel(items: input.items, itemLimit: input.log.itemLimit, parameters: parameters)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let content = trained as? ContentModel else { return }
        try generation.writeItemVectors(content.itemVectors, dimension: content.dimension)
        try generation.writeValue(.vocabulary, content.projection.vocabularyBytes)
        try generation.writeFloats(.basis, content.projection.basis)
        try generation.buildItemIndex()
    }

    func vectorsForNewItems(_ trained: any Recommender) -> ((Item) -> [Float]?)? {
        guard let content = trained as? ContentModel else { return nil }
        return { content.projection.vector(for: $0) }
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 60
        case .session: 50
        case .items: 40
        case .similarTo: 30
        case .matching: 20
        case .usersForItem: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.itemVectorCandidates(record, resolved, pool: pool, readsAbout: false) {
            try reader.contentProjection(record).vector(forText: $0)
        }
    }

    static func currentItemVector<Reader: CatalogReading & ~Copyable>(
        for item: Item, record: ModelRecord, inputs: ModelInputs?, in reader: borrowing Reader
    ) throws -> [Float]? {
        try reader.contentProjection(record).vector(for: item)
    }
}

extension ModelSpec {
    /// TF-IDF + SVD over item text (trained on the catalog's items, not on events).
    public static func content(_ parameters: ContentModel.Parameters) -> ModelSpec {
        ModelSpec(StoredContent(parameters))
    }
}

extension CatalogReading where Self: ~Copyable {
    /// Candidates of a model that keeps a query vector per user in its generation's space (`llmprofile`): the items
    /// nearest the user's vector, for a user target only; none for a user without one.
    package func userVectorCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard case .user = resolved.request.target, let user = resolved.userID, let spaceName = record.space,
            let space = try space(spaceName), let query = try storedVector(space, .users, user)
        else { return [] }
        let sources = sourceItems(resolved, limit: 3)
        return try searchSpace(spaceName, query, resolved, pool: pool).prefix(pool).map {
            Candidate(item: $0.node, score: $0.score, model: record.name, reason: .content, sources: sources)
        }
    }

    /// Candidates of a model that describes items by vectors (content, text): items like the profile of the
    /// source items (a user's recent items, the visit, the basket, the item), or like the phrase for MATCHING, which
    /// `encode` turns into a query vector. With `readsAbout`, a user without events who described themselves is
    /// served from their words.
    package func itemVectorCandidates(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, readsAbout: Bool,
        encode: (String) throws -> [Float]?
    ) throws -> [Candidate] {
        guard let spaceName = record.space, let space = try space(spaceName) else { return [] }
        if case .matching(let phrase) = resolved.request.target {
            guard let query = try encode(phrase) else { return [] }
            return try searchSpace(spaceName, query, resolved, pool: pool).map {
                Candidate(item: $0.node, score: $0.score, model: record.name, reason: .matching)
            }
        }
        if readsAbout, let about = resolved.about {
            // A user with no events who described themselves: their words (and the interests read in them).
            let query = try resolved.profileVector(about: about)
            return try searchSpace(spaceName, query, resolved, pool: pool).map {
                Candidate(item: $0.node, score: $0.score, model: record.name, reason: .profile)
            }
        }
        // Recent items count more for a user (1, 1/2, 1/3 … newest first): the profile evaluation scores with.
        let profile = try ItemVectorProfile.profile(
            of: sourceItems(resolved, limit: UserHistory.profileLimit), recencyWeighted: resolved.sourceItems.isEmpty,
            dimension: space.dimension) { item in try storedVector(space, .items, item) }
        guard let profile else { return [] }
        // At most `pool`, as every model gives (the search returns more when it over-fetches for exclusions).
        let matches = try searchSpace(spaceName, profile, resolved, pool: pool).prefix(pool)
        let reason: Provenance.Reason = resolved.sourceReason == .similarItem ? .similarItem : .content
        return matches.map { Candidate(item: $0.node, score: $0.score, model: record.name, reason: reason) }
    }
}

/// The item vectors of the stored text model, for evaluation: what a refresh encoded, so evaluation need not run
/// the encoder again.
public struct StoredTextVectors: Sendable {
    /// Vectors by internal item id.
    public var vectors: [UInt32: [Float]]
    /// Their dimension (the text space's).
    public var dimension: Int
}

extension CatalogReading where Self: ~Copyable {
    /// The vectors the active text model holds for `items`, or nil when no text model has been refreshed.
    func storedTextVectors(of items: [Item]) throws -> StoredTextVectors? {
        guard let record = try model(ModelKind.text.rawValue), record.kind == .text, record.generation > 0,
            let spaceName = record.space, let space = try space(spaceName)
        else { return nil }
        var vectors: [UInt32: [Float]] = [:]
        for item in items {
            if let vector = try storedVector(of: item.internalID, .items, in: space) {
                vectors[item.internalID] = vector
            }
        }
        return StoredTextVectors(vectors: vectors, dimension: space.dimension)
    }
}
