import Foundation
import RecNeural

extension ModelKind {
    /// NCF, neural collaborative filtering: GMF, MLP or NeuMF (``NCFModel``).
    public static let ncf: ModelKind = "ncf"
}

extension ModelPart {
    /// NCF: the user and item counts (two `u32` bit patterns), then every network weight in the network's parameter
    /// order, float32 (part 10 is left to another kind).
    public static let ncfNetwork = ModelPart(rawValue: 11)
}

/// NCF as a stored kind: the network (part ``ModelPart/ncfNetwork``). A request for a user scores every item with
/// the user's trained embedding (no index: NCF's score is not an inner product) and keeps the best the request
/// accepts; a user the network never met gets nothing, so the default chain or the page fill answers.
struct StoredNCF: StoredModel {
    var parameters = NCFModel.Parameters()

    static var kind: ModelKind { .ncf }
    static var aliases: [String] { ["neumf"] }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        let variants = NCFConfiguration.Variant.allCases
        return [
            // 0 = gmf, 1 = mlp, 2 = neumf (the order of NCFConfiguration.Variant).
            ModelParameter(
                name: "variant", read: { Double(variants.firstIndex(of: $0.parameters.variant)!) },
                assign: { model, value in
                    let index = Int(value)
                    model.parameters.variant = variants.indices.contains(index) ? variants[index] : .neumf
                }),
            .count("factors", \.parameters.factors), .count("layers", \.parameters.layers),
            .count("negatives", \.parameters.negatives), .count("epochs", \.parameters.epochs),
            .float("learning_rate", \.parameters.learningRate), .count("batch_size", \.parameters.batchSize),
            .float("weight_decay", \.parameters.weightDecay), .count("patience", \.parameters.patience),
            .flag("pretrain", \.parameters.pretrain), .flag("refit", \.parameters.refit),
            .seed("seed", \.parameters.seed),
        ]
    }

    init() {}
    init(_ parameters: NCFModel.Parameters) { self.parameters = parameters }

    var tuningGrid: [Self] {
        [8, 16, 32].flatMap { factors in
            [Float(0.0005), 0.001, 0.005].map { rate in
                var p = parameters
                p.factors = factors
                p.learningRate = rate
                return Self(p)
            }
        }
    }

    func validateParameters() throws { try parameters.validate() }

    func train(_ input: TrainingInput) -> any Recommender {
        NCFModel(log: input.log, parameters: parameters, threads: input.threads, onEpoch: input.epochProgress)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let ncf = trained as? NCFModel else { return }
        let c = ncf.scorer.configuration
        let header = [Float(bitPattern: UInt32(c.userCount)), Float(bitPattern: UInt32(c.itemCount))]
        try generation.writeFloats(.ncfNetwork, header + ncf.weights)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 12
        case .session, .items, .similarTo, .usersForItem, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.ncfCandidates(record, resolved, pool: pool)
    }
}

extension ModelSpec {
    /// NCF (GMF, MLP or NeuMF) with these parameters.
    public static func ncf(_ parameters: NCFModel.Parameters) -> ModelSpec { ModelSpec(StoredNCF(parameters)) }
}

// MARK: - Serving

extension CatalogReading where Self: ~Copyable {
    /// NCF's candidates for a user the network met: every item scored with the stored weights (as evaluation scores
    /// them), the best `pool` that the request accepts and the catalog still holds. None for other targets and for
    /// users unknown to the network.
    func ncfCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard case .user = resolved.request.target, let user = resolved.userID, pool > 0 else { return [] }
        let model = try ncfModel(record)
        guard model.scorer.knows(user: Int(user)) else { return [] }
        let n = model.scorer.configuration.itemCount
        let scores = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { scores.deallocate() }
        model.scorer.scores(user: Int(user), into: scores)
        for item in 0..<n where !resolved.accepts(UInt32(item)) { scores[item] = -.infinity }
        var result: [Candidate] = []
        while result.count < pool {
            let top = TopScores.indices(scores, k: pool - result.count)
            if top.isEmpty { break }
            for item in top {
                let score = scores[Int(item)]
                scores[Int(item)] = -.infinity
                guard try schema.items.contains(item, in: txn) else { continue }
                result.append(Candidate(item: item, score: score, model: record.name, reason: resolved.sourceReason))
            }
        }
        return result
    }

    /// The network of a stored NCF generation, loaded once per generation; its shape comes from the record's
    /// parameters and the stored user and item counts. Counts or weights that do not fit are `corrupted`.
    func ncfModel(_ record: ModelRecord) throws -> NCFModel {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "ncf") {
            let what = "ncf model '\(record.name)' generation \(record.generation)"
            var p = NCFModel.Parameters()
            let variants = NCFConfiguration.Variant.allCases
            p.variant = variants[try record.count("variant", in: 0...(variants.count - 1), default: 2)]
            p.factors = try record.count("factors", in: 1...256, default: p.factors)
            p.layers = try record.count("layers", in: 1...6, default: p.layers)
            guard p.factors << p.layers <= 4096 else {
                throw RecDBError(.corrupted, "\(what): factors \(p.factors) and layers \(p.layers) are too wide")
            }
            let userLimit = try CatalogSchemaAccess.idLimit("next.user", handle: handle, meta: schema.meta)
            let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
            let e = p.factors << p.layers
            let bound = 2 + (userLimit + itemLimit + 2) * (p.factors + e) + 3 * e * e + e + 16
            let floats = try modelFloats(record, part: .ncfNetwork, limit: bound)
            guard floats.count > 2 else { throw RecDBError(.corrupted, "\(what): \(floats.count) floats, no header") }
            let users = Int(floats[0].bitPattern), items = Int(floats[1].bitPattern)
            guard (1...max(userLimit, 1)).contains(users), (1...max(itemLimit, 1)).contains(items) else {
                throw RecDBError(.corrupted, "\(what): \(users) users and \(items) items do not fit the catalog")
            }
            var configuration = NCFConfiguration(userCount: users, itemCount: items)
            configuration.variant = p.variant
            configuration.factors = p.factors
            configuration.layers = p.layers
            guard let model = NCFModel(
                name: record.name, parameters: p, configuration: configuration, weights: Array(floats[2...]))
            else {
                throw RecDBError(.corrupted, "\(what): \(floats.count - 2) weights do not fit the network's shape")
            }
            return model
        }
    }
}
