import Foundation
import RecNeural

extension ModelKind {
    /// SASRec, the sequential transformer (``SASRecModel``).
    public static let sasrec: ModelKind = "sasrec"
}

extension ModelPart {
    /// SASRec: every network weight in the network's parameter order, float32 (part 8 is left to another kind).
    public static let sasrecNetwork = ModelPart(rawValue: 9)
}

/// SASRec as a stored kind: the network's weights (part ``ModelPart/sasrecNetwork``) and its item embeddings in an
/// inner-product space `NAME@g` with an HNSW index. A request encodes the target's latest items (a user's newest
/// events, a session's or basket's items) by one forward pass and searches the space with the request's filter, so
/// a new event changes the next list without a refresh.
struct StoredSASRec: StoredModel {
    var parameters = SASRecModel.Parameters()

    static var kind: ModelKind { .sasrec }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            .count("dimension", \.parameters.dimension), .count("blocks", \.parameters.blocks),
            .count("heads", \.parameters.heads), .count("max_length", \.parameters.maxLength),
            .float("dropout", \.parameters.dropout), .count("negatives", \.parameters.negatives),
            .count("epochs", \.parameters.epochs), .float("learning_rate", \.parameters.learningRate),
            .count("batch_size", \.parameters.batchSize), .float("weight_decay", \.parameters.weightDecay),
            .count("patience", \.parameters.patience), .flag("final_pass", \.parameters.finalPass),
            .seed("seed", \.parameters.seed), .float("attention_dropout", \.parameters.attentionDropout),
            .flag("cosine_decay", \.parameters.cosineDecay),
        ]
    }

    init() {}
    init(_ parameters: SASRecModel.Parameters) { self.parameters = parameters }

    var tuningGrid: [Self] {
        [Float(0.1), 0.2, 0.5].flatMap { dropout in
            [Float(0.0005), 0.001, 0.002].map { rate in
                var p = parameters
                p.dropout = dropout
                p.learningRate = rate
                return Self(p)
            }
        }
    }

    func validateParameters() throws { try parameters.validate() }

    func train(_ input: TrainingInput) -> any Recommender {
        SASRecModel(log: input.log, parameters: parameters, threads: input.threads, onEpoch: input.epochProgress)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let sasrec = trained as? SASRecModel else { return }
        try generation.writeFloats(.sasrecNetwork, sasrec.weights.values)
        let d = sasrec.parameters.dimension
        try generation.writeItemVectors(sasrec.itemEmbeddings, dimension: d, metric: .innerProduct)
        try generation.buildItemIndex()
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 5
        case .session: 15
        case .items: 25
        case .similarTo, .usersForItem, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.sasrecCandidates(record, resolved, pool: pool)
    }
}

extension ModelSpec {
    /// SASRec, the sequential transformer, with these parameters.
    public static func sasrec(_ parameters: SASRecModel.Parameters) -> ModelSpec { ModelSpec(StoredSASRec(parameters)) }
}

// MARK: - Serving

extension CatalogReading where Self: ~Copyable {
    /// SASRec's candidates: the target's latest items (a user's newest events, or the session's or basket's items)
    /// encoded into a query, then the nearest items in the generation's space that the request accepts. Every
    /// candidate names as sources the items the final position attended to most in the last block. None for a
    /// target without items the network knows (a cold user), so the chain falls through.
    func sasrecCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard let spaceName = record.space, try space(spaceName) != nil else { return [] }
        let newestFirst: [UInt32]
        switch resolved.request.target {
        case .user: newestFirst = resolved.history.map(\.itemID)
        case .session, .items: newestFirst = resolved.sourceItems.reversed()
        case .similarTo, .usersForItem, .matching: return []
        }
        guard !newestFirst.isEmpty else { return [] }
        let model = try sasrecModel(record)
        let input = SASRecModel.input(
            newestFirst: newestFirst, maxLength: model.parameters.maxLength, itemCount: model.itemCount)
        guard !input.isEmpty else { return [] }
        let (query, attention) = model.encode(input)
        var weightOf: [UInt32: Float] = [:]
        for (position, item) in input.enumerated() { weightOf[UInt32(item - 1), default: 0] += attention[position] }
        let sources = weightOf.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .prefix(6).map(\.key)
        let matches = try searchSpace(spaceName, query, resolved, pool: pool)
        return matches.prefix(pool).map {
            Candidate(
                item: $0.node, score: $0.score, model: record.name, reason: resolved.sourceReason, sources: sources)
        }
    }

    /// The network of a stored SASRec generation, loaded once per generation. Its shape comes from the record's
    /// parameters and its item count from the stored weights; a count that fits no item count, or parameters out
    /// of range, are `corrupted`.
    func sasrecModel(_ record: ModelRecord) throws -> SASRecModel {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "sasrec") {
            let what = "sasrec model '\(record.name)' generation \(record.generation)"
            var p = SASRecModel.Parameters()
            p.dimension = try record.count("dimension", in: 1...1024, default: p.dimension)
            p.blocks = try record.count("blocks", in: 1...16, default: p.blocks)
            p.heads = try record.count("heads", in: 1...p.dimension, default: p.heads)
            p.maxLength = try record.count("max_length", in: 1...UserHistory.window, default: p.maxLength)
            guard p.dimension % p.heads == 0 else {
                throw RecDBError(.corrupted, "\(what): \(p.heads) heads do not divide the dimension \(p.dimension)")
            }
            let d = p.dimension
            let fixed = SASRecModel.fixedWeightCount(dimension: d, blocks: p.blocks, maxLength: p.maxLength)
            let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
            let weights = try modelFloats(record, part: .sasrecNetwork, limit: fixed + (itemLimit + 2) * d)
            guard weights.count > fixed + d, (weights.count - fixed) % d == 0 else {
                throw RecDBError(.corrupted, "\(what): \(weights.count) weights fit no item count")
            }
            let network = SASRecNetwork(p.configuration(itemCount: (weights.count - fixed) / d - 1))
            guard network.parameters.reduce(0, { $0 + $1.shape.count }) == weights.count else {
                throw RecDBError(.corrupted, "\(what): \(weights.count) weights do not fit the network's shape")
            }
            var offset = 0
            for parameter in network.parameters {
                let count = parameter.shape.count
                parameter.load(Array(weights[offset..<offset + count]))
                offset += count
            }
            return SASRecModel(name: record.name, parameters: p, network: network)
        }
    }
}
