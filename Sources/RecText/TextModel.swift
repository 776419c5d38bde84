import Foundation
import RecDB

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
    package let hasVector: [Bool]
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
        let missing = ItemText.itemsToEncode(items, itemLimit: itemLimit, stored: stored)
        var done = 0
        if let encoder, encoder.dimension == dimension {
            for chunk in stride(from: 0, to: missing.count, by: 512) {
                let part = Array(missing[chunk..<min(missing.count, chunk + 512)])
                let encoded = encoder.encode(part.map(ItemText.of), threads: threads)
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
            encoder: ItemText.itemsToEncode(input.items, itemLimit: itemLimit, stored: stored).isEmpty
                ? nil : try? SharedTextEncoder.get(),
            threads: input.threads, progress: input.progress)
    }

    /// A model that knows no item (the encoder is not installed).
    package init(items: [Item], itemLimit: Int, dimension: Int) {
        self.init(items: [], itemLimit: itemLimit, stored: [:], dimension: dimension, encoder: nil)
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

extension TextModel {
    /// The name under which the catalog keeps its text model current on item writes.
    public static let storedName = ModelKind.text.rawValue
}
