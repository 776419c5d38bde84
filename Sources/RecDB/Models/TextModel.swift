import Foundation
import RecML

/// Transformer text embeddings of items: all-MiniLM-L6-v2 (RecML's Swift encoder) over each item's title,
/// description, category path and brand, 384-d unit vectors in a cosine space with its HNSW index.
///
/// Trained on every item of the catalog, like the content model; a user's score for an item is the cosine between
/// the item and the weighted mean of the user's history items (the user's text profile). An item written after the
/// refresh is encoded in the same transaction, and `MATCHING 'phrase'` encodes the phrase into the same space.
public struct TextModel: Recommender {
    public let name: String
    /// Row-major `itemLimit × 384`, unit length; zero rows for items without text.
    public let itemVectors: [Float]
    public let dimension: Int

    /// Encodes every item that has text, in chunks, reporting the fraction done.
    public init(
        name: String = "text", items: [Item], itemLimit: Int, encoder: MiniLMEncoder, threads: Int = 2,
        progress: (@Sendable (Double) -> Void)? = nil
    ) {
        self.name = name
        dimension = encoder.dimension
        var vectors = [Float](repeating: 0, count: itemLimit * dimension)
        let withText = items.filter { Int($0.internalID) < itemLimit && !Self.text(of: $0).isEmpty }
        var done = 0
        for chunk in stride(from: 0, to: withText.count, by: 512) {
            let part = Array(withText[chunk..<min(withText.count, chunk + 512)])
            let encoded = encoder.encode(part.map(Self.text(of:)), threads: threads)
            for (item, vector) in zip(part, encoded) {
                let offset = Int(item.internalID) * dimension
                for d in 0..<dimension { vectors[offset + d] = vector[d] }
            }
            done += part.count
            progress?(Double(done) / Double(max(withText.count, 1)))
        }
        itemVectors = vectors
    }

    /// A model that knows no item (the encoder is not installed).
    init(items: [Item], itemLimit: Int, dimension: Int) {
        name = "text"
        self.dimension = dimension
        itemVectors = [Float](repeating: 0, count: itemLimit * dimension)
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

    public func itemVector(_ item: UInt32) -> [Float]? {
        ItemVectorProfile.vector(item, itemVectors, dimension)
    }

    public func score(user: UInt32, history: (indices: ArraySlice<UInt32>, values: ArraySlice<Float>),
                      into scores: UnsafeMutableBufferPointer<Float>) {
        ItemVectorProfile.score(history: history, itemVectors: itemVectors, dimension: dimension, into: scores)
    }
}

/// Scoring shared by the models that describe items by vectors alone (content, text): a user's profile is the mean
/// of the history items' vectors, weighted by 1 + log(weight); an item's score is its inner product with it.
enum ItemVectorProfile {
    static func vector(_ item: UInt32, _ itemVectors: [Float], _ dimension: Int) -> [Float]? {
        let offset = Int(item) * dimension
        guard offset + dimension <= itemVectors.count else { return nil }
        let vector = Array(itemVectors[offset..<offset + dimension])
        return vector.contains { $0 != 0 } ? vector : nil
    }

    static func score(
        history: (indices: ArraySlice<UInt32>, values: ArraySlice<Float>), itemVectors: [Float], dimension d: Int,
        into scores: UnsafeMutableBufferPointer<Float>
    ) {
        var profile = [Float](repeating: 0, count: d)
        for (item, weight) in zip(history.indices, history.values) where weight > 0 {
            let offset = Int(item) * d
            guard offset + d <= itemVectors.count else { continue }
            let w = 1 + log(weight)
            for k in 0..<d { profile[k] += w * itemVectors[offset + k] }
        }
        itemVectors.withUnsafeBufferPointer { vectors in
            profile.withUnsafeBufferPointer { p in
                let rows = min(scores.count, vectors.count / max(d, 1))
                for i in 0..<rows { scores[i] = VectorKernels.dot(vectors.baseAddress! + i * d, p.baseAddress!, d) }
            }
        }
    }
}

/// The MiniLM encoder, loaded once per process on first use (its weights are a mapped file).
enum SharedTextEncoder {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: MiniLMEncoder?

    /// The installed encoder; throws `missingModel` naming `recctl models install minilm` when it is absent.
    static func get() throws -> MiniLMEncoder {
        lock.lock()
        defer { lock.unlock() }
        if let loaded { return loaded }
        do {
            let encoder = try MiniLMEncoder.installed()
            loaded = encoder
            return encoder
        } catch let error as RecMLError {
            throw RecDBError(.notFound, error.description, cause: error)
        }
    }
}
