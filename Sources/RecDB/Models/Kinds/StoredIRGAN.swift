import Foundation

extension ModelKind {
    /// IRGAN, the generator of an adversarially trained pair of factor models (``IRGANModel``).
    public static let irgan: ModelKind = "irgan"
}

/// IRGAN as a stored kind: the generator's factors in BPR's layout (rows of `factors + 1`, the items' last column
/// their bias) in an inner-product space `NAME@g` with an HNSW index, served exactly as BPR is. The discriminator is
/// a training aid and is not stored.
struct StoredIRGAN: StoredModel {
    var parameters = IRGANModel.Parameters()

    static var kind: ModelKind { .irgan }
    static var personalises: Bool { true }
    static var storedParameters: [ModelParameter<Self>] {
        [
            // The pre-training BPR's; `regularization` is also what fold-in reads.
            .count("factors", \.parameters.pretraining.factors), .count("iterations", \.parameters.pretraining.iterations),
            .float("learning_rate", \.parameters.pretraining.learningRate),
            .float("regularization", \.parameters.pretraining.regularization),
            .flag("uniform_negatives", \.parameters.pretraining.uniformNegatives),
            .seed("seed", \.parameters.pretraining.seed),
            // The game's.
            .count("rounds", \.parameters.rounds), .count("d_epochs", \.parameters.discriminatorEpochs),
            .count("g_epochs", \.parameters.generatorEpochs), .float("gan_learning_rate", \.parameters.learningRate),
            .float("d_regularization", \.parameters.discriminatorRegularization),
            .float("g_regularization", \.parameters.generatorRegularization),
            .float("temperature", \.parameters.temperature), .float("sample_lambda", \.parameters.sampleLambda),
            .count("batch_users", \.parameters.batchUsers),
        ]
    }

    init() {}
    init(_ parameters: IRGANModel.Parameters) { self.parameters = parameters }

    /// The game's step size and length; the pre-training is tuned as BPR (`recctl refresh bpr --tune`) and given.
    var tuningGrid: [Self] {
        [Float(0.001), 0.01, 0.05].flatMap { rate in
            [2, 5].map { rounds in
                var p = parameters
                p.learningRate = rate
                p.rounds = rounds
                return Self(p)
            }
        }
    }

    func validateParameters() throws { try parameters.validate() }

    func train(_ input: TrainingInput) -> any Recommender {
        IRGANModel(log: input.log, parameters: parameters, threads: input.threads, progress: input.progress)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let irgan = trained as? IRGANModel else { return }
        let f = irgan.parameters.pretraining.factors
        try generation.writeFactors(users: irgan.userFactors, items: irgan.itemFactors, dimension: f + 1, solved: f)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user, .usersForItem: 21
        case .similarTo: 51
        case .session, .items, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.factorCandidates(record, resolved, pool: pool, biasColumn: true)
    }
}

extension ModelSpec {
    /// IRGAN with these parameters.
    public static func irgan(_ parameters: IRGANModel.Parameters) -> ModelSpec { ModelSpec(StoredIRGAN(parameters)) }
}
