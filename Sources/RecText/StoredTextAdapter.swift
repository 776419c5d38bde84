import Foundation
import RecDB

extension ModelKind {
    /// MiniLM item vectors adapted to the shop's co-interactions (``StoredTextAdapter``).
    public static let textAdapter: ModelKind = "textadapter"
}

extension ModelPart {
    /// Text adapter: `W`, d × d float32 (``TextAdapter``).
    public static let adapterWeights = ModelPart(rawValue: 23)
}

/// The fine-tuned text model: the text model's frozen MiniLM item vectors passed through a learned linear adapter
/// (``TextAdapter``, trained contrastively with in-batch negatives on consecutive items of each user's training
/// events). A generation is a cosine space `NAME@g` of the adapted vectors (indexed) plus `W` (part
/// ``ModelPart/adapterWeights``), served like the text model: a user's recency profile of adapted vectors, items like
/// an item, baskets, visits, and `MATCHING` phrases encoded and adapted. Items written after the refresh get an
/// adapted vector at the next refresh.
struct StoredTextAdapter: StoredModel {
    var settings = TextAdapter.Settings()

    static var kind: ModelKind { .textAdapter }
    static var aliases: [String] { ["finetuned"] }
    static var trainsOnItems: Bool { true }
    static var needsTextEncoder: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("epochs", \.settings.epochs), .count("batch_size", \.settings.batchSize),
            .float("learning_rate", \.settings.learningRate), .float("temperature", \.settings.temperature),
            .float("weight_decay", \.settings.weightDecay), .seed("seed", \.settings.seed),
            .count("window", \.settings.window), .count("hard_negatives", \.settings.hardNegatives),
        ]
    }

    init() {}

    var tuningGrid: [Self] {
        [1, 3].flatMap { epochs in
            [Float(0.05), 0.1].flatMap { temperature in
                [(1, 0), (3, 0), (1, 1), (3, 1)].map { window, hard in
                    var grid = self
                    grid.settings.epochs = epochs
                    grid.settings.temperature = temperature
                    grid.settings.window = window
                    grid.settings.hardNegatives = hard
                    return grid
                }
            }
        }
    }

    func validateParameters() throws {
        let s = settings
        guard s.epochs >= 0, s.batchSize >= 2, s.learningRate > 0, s.temperature > 0, s.weightDecay >= 0,
            (1...50).contains(s.window), (0...8).contains(s.hardNegatives)
        else {
            throw RecDBError(
                .invalidArgument,
                "textadapter needs epochs ≥ 0, batch_size ≥ 2, learning_rate > 0, temperature > 0, weight_decay ≥ 0, "
                    + "window in 1…50 and hard_negatives in 0…8")
        }
    }

    func train(_ input: TrainingInput) -> any Recommender {
        let base = TextModel(training: input)
        let (adapter, _) = TextAdapter.train(
            itemVectors: base.itemVectors, hasVector: base.hasVector, dimension: base.dimension, log: input.log,
            settings: settings)
        var adapted: [UInt32: [Float]] = [:]
        for row in 0..<base.hasVector.count where base.hasVector[row] {
            adapted[UInt32(row)] = adapter.adapt(
                Array(base.itemVectors[row * base.dimension..<(row + 1) * base.dimension]))
        }
        let text = TextModel(
            name: Self.kind.rawValue, items: [], itemLimit: input.log.itemLimit, stored: adapted,
            dimension: base.dimension, encoder: nil)
        return AdaptedTextModel(text: text, adapter: adapter)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let model = trained as? AdaptedTextModel else { return }
        try generation.writeItemVectors(model.text.itemVectors, dimension: model.text.dimension)
        try generation.writeFloats(.adapterWeights, model.adapter.weights)
        try generation.buildItemIndex()
    }

    /// Not in the default chain (the text model is): asked for by name or blended.
    static func chainPosition(for target: RecommendRequest.Target) -> Int? { nil }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.itemVectorCandidates(record, resolved, pool: pool, readsAbout: false) { phrase in
            let space = try record.space.flatMap { try reader.space($0) }
            let weights = try reader.modelFloats(record, part: .adapterWeights)
            let dimension = space?.dimension ?? 0
            guard dimension > 0, weights.count == dimension * dimension else {
                throw RecDBError(
                    .corrupted, "textadapter '\(record.name)' generation \(record.generation): W is not \(dimension)²")
            }
            return TextAdapter(dimension: dimension, weights: weights).adapt(try resolved.textVector(phrase))
        }
    }
}

/// A trained ``StoredTextAdapter``: the adapted item vectors (scored as the text model scores) and the adapter.
struct AdaptedTextModel: Recommender {
    /// The adapted vectors, as a text model.
    let text: TextModel
    /// `W`.
    let adapter: TextAdapter

    var name: String { text.name }

    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        text.score(user: user, history: history, into: scores)
    }

    func itemVector(_ item: UInt32) -> [Float]? { text.itemVector(item) }
}
