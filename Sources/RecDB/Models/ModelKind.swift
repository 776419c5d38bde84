/// What a stored model is (`als`, `itemknn`, …): the word written in its ``ModelRecord`` and shown by `SHOW MODELS`.
///
/// The raw value is the stored string, so records written before this type existed decode unchanged. Each kind's
/// implementation is a `StoredModel` found through `ModelRegistry`; a new kind declares its constant beside
/// that implementation (`extension ModelKind { static let sasrec: ModelKind = "sasrec" }`).
public struct ModelKind: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    /// The stored name.
    public let rawValue: String

    /// The kind stored as `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The kind stored as the literal (`"als"`).
    public init(stringLiteral value: String) { self.init(rawValue: value) }

    /// Decodes the plain string of a stored record.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes as the plain string, the on-disk form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The stored name.
    public var description: String { rawValue }

    /// Time-decayed popularity.
    public static let popularity: ModelKind = "popularity"
    /// Item-based k-nearest neighbours.
    public static let itemKNN: ModelKind = "itemknn"
    /// Implicit alternating least squares.
    public static let als: ModelKind = "als"
    /// Bayesian personalised ranking.
    public static let bpr: ModelKind = "bpr"
    /// TF-IDF + SVD over item text.
    public static let content: ModelKind = "content"
    /// MiniLM sentence embeddings of item text.
    public static let text: ModelKind = "text"
    /// Session kNN with sequential rules.
    public static let session: ModelKind = "session"
    /// The plain item-transition baseline for sessions.
    public static let transition: ModelKind = "transition"
}

/// Which part of a generation's model data a `model_data` key holds (the `u8` after the generation, see
/// `Schemas/storage-layout.md`). The numbers are on disk: never reuse one, never renumber.
public struct ModelPart: RawRepresentable, Hashable, Sendable {
    /// The part's byte in `model_data` keys.
    public let rawValue: UInt8

    /// The part stored as `rawValue`.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Popularity: a float per item id.
    public static let popularityScores = ModelPart(rawValue: 1)
    /// Item-kNN neighbour lists in the sequential layout of older versions (read, no longer written).
    public static let sequentialNeighbours = ModelPart(rawValue: 2)
    /// Content model: the vocabulary and idf.
    public static let vocabulary = ModelPart(rawValue: 3)
    /// Content model: the SVD basis, `terms × dimension` floats.
    public static let basis = ModelPart(rawValue: 4)
    /// Factor models: `YᵀY` of the item factors, for fold-in.
    public static let foldInGram = ModelPart(rawValue: 5)
    /// Session and transition models: the training sessions.
    public static let sessions = ModelPart(rawValue: 6)
    /// Item-kNN neighbour lists with an offset table per value (`NeighbourLists`).
    public static let neighbourTable = ModelPart(rawValue: 7)
}
