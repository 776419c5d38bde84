import Foundation

/// Transformer text embeddings of items: all-MiniLM-L6-v2 (the installed ``TextRuntime``'s encoder) over each
/// item's title, description, category path and brand, 384-d unit vectors in a cosine space with its HNSW index.
/// What the `text` kind trains and stores (RecText registers that kind, see ``TextFeatures``), and what the kinds
/// built on its vectors (`llmprofile`, `textadapter`) start from; it runs on any ``SentenceEncoder``.
///
/// Trained on every item of the catalog, like the content model; a user's score for an item is the cosine between
/// the item and the user's recency profile (``ItemVectorProfile``). Evaluation reads the vectors a refresh stored
/// and encodes only items without one. An item written after the refresh is encoded in the same transaction, and
/// `MATCHING 'phrase'` encodes the phrase into the same space.
public struct TextModel: Recommender {
    /// The model's name in reports (default `ModelKind.text.rawValue`).
    public let name: String
    /// Row-major `itemLimit × 384`, unit length; zero rows for items without text.
    public let itemVectors: [Float]
    /// Length of each item vector: 384 for all-MiniLM-L6-v2, or the `dimension` passed with stored vectors.
    public let dimension: Int
    /// Whether each item id has a vector (a non-zero row of ``itemVectors``).
    let hasVector: [Bool]
    /// How many items the encoder ran on (the others came from stored vectors).
    public let encodedItems: Int

    /// Encodes every item that has text, in chunks, reporting the fraction done.
    public init(
        name: String = ModelKind.text.rawValue, items: [Item], itemLimit: Int, encoder: any SentenceEncoder,
        threads: Int = 2, progress: (@Sendable (Double) -> Void)? = nil
    ) {
        self.init(
            name: name, items: items, itemLimit: itemLimit, stored: [:], dimension: encoder.dimension,
            encoder: encoder, threads: threads, progress: progress)
    }

    /// Takes each item's vector from `stored` (the vectors a refreshed text model keeps in the database) and encodes
    /// only the items with text that have none there; with no `encoder`, those stay without a vector.
    public init(
        name: String = ModelKind.text.rawValue, items: [Item], itemLimit: Int, stored: [UInt32: [Float]], dimension: Int,
        encoder: (any SentenceEncoder)?, threads: Int = 2, progress: (@Sendable (Double) -> Void)? = nil
    ) {
        self.name = name
        self.dimension = dimension
        var vectors = [Float](repeating: 0, count: itemLimit * dimension)
        for (item, vector) in stored where Int(item) < itemLimit && vector.count == dimension {
            let offset = Int(item) * dimension
            for d in 0..<dimension { vectors[offset + d] = vector[d] }
        }
        let missing = Self.itemsToEncode(items, itemLimit: itemLimit, stored: stored)
        var done = 0
        if let encoder, encoder.dimension == dimension {
            for chunk in stride(from: 0, to: missing.count, by: 512) {
                let part = Array(missing[chunk..<min(missing.count, chunk + 512)])
                let encoded = encoder.encode(part.map(Self.text(of:)), threads: threads)
                for (item, vector) in zip(part, encoded) {
                    let offset = Int(item.internalID) * dimension
                    for d in 0..<dimension { vectors[offset + d] = vector[d] }
                }
                done += part.count
                progress?(Double(done) / Double(max(missing.count, 1)))
            }
        }
        encodedItems = done
        itemVectors = vectors
        hasVector = ItemVectorProfile.rowsWithVectors(vectors, dimension: dimension)
    }

    /// The model a refresh or an evaluation trains on `input`: the stored text model's vectors
    /// (``TrainingInput/textVectors``) and the shared encoder for the items with text they do not cover. Callers check
    /// the encoder first (``ModelSpec/requireTextEncoder()``) when stored vectors do not cover every item; without it
    /// the model knows only the stored vectors. The `text` kind (RecText) trains this, and so do the kinds built on
    /// its vectors (`llmprofile`, `textadapter`).
    package init(training input: TrainingInput) {
        let stored = input.textVectors?.vectors ?? [:]
        let itemLimit = input.log.itemLimit
        self.init(
            items: input.items, itemLimit: itemLimit, stored: stored, dimension: input.textVectors?.dimension ?? 384,
            encoder: Self.itemsToEncode(input.items, itemLimit: itemLimit, stored: stored).isEmpty
                ? nil : try? SharedTextEncoder.get(),
            threads: input.threads, progress: input.progress)
    }

    /// A model that knows no item (the encoder is not installed).
    init(items: [Item], itemLimit: Int, dimension: Int) {
        self.init(items: [], itemLimit: itemLimit, stored: [:], dimension: dimension, encoder: nil)
    }

    /// The items with text that `stored` has no vector for: what the encoder must run on.
    static func itemsToEncode(_ items: [Item], itemLimit: Int, stored: [UInt32: [Float]]) -> [Item] {
        items.filter { Int($0.internalID) < itemLimit && stored[$0.internalID] == nil && !text(of: $0).isEmpty }
    }

    /// The text an item is encoded from: title, description (its first 1,000 characters), category path and brand.
    public static func text(of item: Item) -> String {
        var parts: [String] = []
        if let title = item.title, !title.isEmpty { parts.append(title) }
        if case .string(let description)? = item.attributes["description"], !description.isEmpty {
            parts.append(String(description.prefix(1000)))
        }
        if let category = item.category, !category.isEmpty {
            parts.append(category.split(separator: "/").joined(separator: " > "))
        }
        if case .string(let brand)? = item.attributes["brand"], !brand.isEmpty { parts.append(brand) }
        return parts.joined(separator: ". ")
    }

    /// The item's unit-length embedding; nil for an item past `itemLimit` or without text (a zero row).
    public func itemVector(_ item: UInt32) -> [Float]? {
        ItemVectorProfile.vector(item, itemVectors, dimension)
    }

    /// Scores for a user as serving ranks them: see ``ItemVectorProfile``.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        ItemVectorProfile.score(
            history: history, itemVectors: itemVectors, hasVector: hasVector, dimension: dimension, into: scores)
    }
}

/// Scoring shared by the models that describe items by vectors alone (content, text), offline and in serving.
///
/// A user's profile is built by ``profile(of:recencyWeighted:dimension:vector:)`` from their
/// ``UserHistory/profileLimit`` most recent distinct items, weighted 1, 1/2, 1/3 … newest first: the one formula
/// `RECOMMEND` searches with and evaluation scores with. An item's score is its inner product with the profile
/// (the cosine up to the profile's length, so the ranking is the served one); items without a vector are no
/// candidates (−∞), as they are not in the served space.
enum ItemVectorProfile {
    static func vector(_ item: UInt32, _ itemVectors: [Float], _ dimension: Int) -> [Float]? {
        let offset = Int(item) * dimension
        guard offset + dimension <= itemVectors.count else { return nil }
        let vector = Array(itemVectors[offset..<offset + dimension])
        return vector.contains { $0 != 0 } ? vector : nil
    }

    /// Whether each row of row-major `itemVectors` holds a vector (a zero row is an item without one).
    static func rowsWithVectors(_ itemVectors: [Float], dimension d: Int) -> [Bool] {
        let rows = itemVectors.count / max(d, 1)
        return (0..<rows).map { row in itemVectors[row * d..<(row + 1) * d].contains { $0 != 0 } }
    }

    /// The profile a content or text model searches with: the sum of the vectors of `sources` (items without one
    /// are skipped but keep their rank), each weighted 1 / (rank + 1) when `recencyWeighted` (the sources are a
    /// user's recent items, newest first), else 1 (a visit, a basket, an item); nil when no source has a vector.
    static func profile(
        of sources: [UInt32], recencyWeighted: Bool, dimension: Int, vector vectorOf: (UInt32) throws -> [Float]?
    ) rethrows -> [Float]? {
        var profile = [Float](repeating: 0, count: dimension)
        var any = false
        for (rank, item) in sources.enumerated() {
            guard let vector = try vectorOf(item) else { continue }
            let weight = recencyWeighted ? 1 / Float(rank + 1) : 1
            for d in 0..<min(dimension, vector.count) { profile[d] += weight * vector[d] }
            any = true
        }
        return any ? profile : nil
    }

    /// Scores every item for a user as serving ranks them: the inner product with the user's recency profile;
    /// −∞ for items without a vector, and for every item when the user's recent items have none.
    static func score(
        history: UserHistory, itemVectors: [Float], hasVector: [Bool], dimension d: Int,
        into scores: UnsafeMutableBufferPointer<Float>
    ) {
        let sources = history.recentItems(limit: UserHistory.profileLimit)
        let profile = Self.profile(of: sources, recencyWeighted: true, dimension: d) { item in
            Int(item) < hasVector.count && hasVector[Int(item)] ? vector(item, itemVectors, d) : nil
        }
        guard let profile else {
            scores.update(repeating: -.infinity)
            return
        }
        itemVectors.withUnsafeBufferPointer { vectors in
            profile.withUnsafeBufferPointer { p in
                for i in 0..<scores.count {
                    scores[i] = i < hasVector.count && hasVector[i]
                        ? VectorKernels.dot(vectors.baseAddress! + i * d, p.baseAddress!, d) : -.infinity
                }
            }
        }
    }
}
