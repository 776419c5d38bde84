import Foundation

extension ModelKind {
    /// HyGenRec: a learned blend of the database's other trained models (``StoredHyGenRec``).
    public static let hygenrec: ModelKind = "hygenrec"
}

extension ModelPart {
    /// HyGenRec: the learned blender (``HyGenRecBlender``), JSON, index 0.
    public static let blender = ModelPart(rawValue: 21)
}

/// One model HyGenRec blends: its stored name and the spec it was trained with.
struct HyGenRecComponent: Sendable, Hashable {
    /// The stored model's name (what serving looks up).
    var name: String
    /// Its kind and recorded parameters (what evaluation and the blender's validation training train).
    var spec: ModelSpec
}

/// What a `hygenrec` generation stores: the blended models by name and the weights learned for warm and cold users.
struct HyGenRecBlender: Codable, Equatable, Sendable {
    /// The blended models' stored names, in weight order.
    var parts: [String]
    /// Weights for users with more than ``coldLimit`` distinct items.
    var warmWeights: [Float]
    /// Weights for users with at most ``coldLimit`` distinct items.
    var coldWeights: [Float]
    /// The largest history of a cold user.
    var coldLimit: Int
    /// Validation users the weights were learned from.
    var validationUsers: Int

    enum CodingKeys: String, CodingKey {
        case parts, warmWeights = "warm_weights", coldWeights = "cold_weights", coldLimit = "cold_limit"
        case validationUsers = "validation_users"
    }
}

/// HyGenRec as a stored kind: a generation holds only the learned blender (part ``ModelPart/blender``); the blended
/// models serve from their own active generations, through the planner's `BLEND`, with the weights of the user's
/// group (warm or cold). So `RECOMMEND … USING hygenrec` serves the list that `USING BLEND(als 0.2, …)` with those
/// weights would serve.
///
/// Training learns the weights on a validation part it holds out itself: each user's last 10 % of interactions
/// (at least one; users with 3 or more) leave the snapshot, every component trains on the rest with its recorded
/// parameters, and ``LearnedBlendModel/fit(name:parts:partNames:evaluator:maxUsers:pool:)`` ranks the held-out items.
/// The components are the database's trained models among ``defaultParts`` (filled in by
/// ``RecDatabase/composedSpec(_:)`` before a refresh or evaluation trains): refresh them first, then `hygenrec`.
struct StoredHyGenRec: StoredModel {
    /// The blended models (empty until the database fills them in).
    var components: [HyGenRecComponent] = []
    /// Validation users the blender learns from, at most.
    var maxUsers = 4000
    /// Set for a refresh: the components serve from their own generations, so only the weights are trained.
    var partsServedFromStore = false

    /// The models HyGenRec blends when they are trained, in this order.
    static let defaultParts = ["als", "sasrec", "session", "text", "content", "itemknn", "popularity"]

    static var kind: ModelKind { .hygenrec }
    static var storedParameters: [ModelParameter<Self>] { [.count("max_users", \.maxUsers)] }
    static var trainsOnItems: Bool { true }

    init() {}

    func validateParameters() throws {
        guard maxUsers >= 1 else { throw RecDBError(.invalidArgument, "hygenrec max_users must be ≥ 1, not \(maxUsers)") }
    }

    func checkFits(_ log: InteractionLog) throws {
        for component in components { try component.spec.checkTrainable(on: log) }
    }

    /// The learned blend: weights from the held-out validation part; its parts trained on the whole input (none when
    /// ``partsServedFromStore``: a refresh stores only the weights).
    func train(_ input: TrainingInput) -> any Recommender {
        let held = EvaluationSplit(blenderValidationOf: input.log)
        let evaluator = Evaluator(split: held, catalogItems: input.log.itemLimit, sessionGap: input.sessionGap)
        func trained(on log: InteractionLog) -> [any Recommender] {
            components.map {
                $0.spec.train(
                    on: log, threads: input.threads, items: input.items, sessionGap: input.sessionGap,
                    textVectors: input.textVectors)
            }
        }
        let names = components.map(\.name)
        let fitted = LearnedBlendModel.fit(
            name: Self.kind.rawValue, parts: trained(on: held.train), partNames: names, evaluator: evaluator,
            maxUsers: maxUsers)
        return LearnedBlendModel(
            name: Self.kind.rawValue, parts: partsServedFromStore ? [] : trained(on: input.log), partNames: names,
            warmWeights: fitted.warmWeights, coldWeights: fitted.coldWeights, validationUsers: held.validation.count)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let blend = trained as? LearnedBlendModel else { return }
        let blender = HyGenRecBlender(
            parts: blend.partNames, warmWeights: blend.warmWeights, coldWeights: blend.coldWeights,
            coldLimit: LearnedBlendModel.coldLimit, validationUsers: blend.validationUsers)
        try generation.writeValue(.blender, Array(try JSONEncoder().encode(blender)))
    }

    /// Not in the default chain: asked for by name (`USING hygenrec`).
    static func chainPosition(for target: RecommendRequest.Target) -> Int? { nil }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        let blender = try reader.hygenrecBlender(record)
        let weights = isCold(resolved, limit: blender.coldLimit) ? blender.coldWeights : blender.warmWeights
        var plan: [(record: ModelRecord, weight: Float)] = []
        for (name, weight) in zip(blender.parts, weights) where weight > 0 {
            guard let part = try reader.model(name), part.generation > 0, part.kind != .hygenrec else {
                throw RecDBError(
                    .notFound,
                    "hygenrec '\(record.name)' blends '\(name)', which has no trained generation (recctl refresh \(name))")
            }
            plan.append((part, weight))
        }
        return try reader.candidates((plan, true), resolved, pool: pool).map { candidate in
            var named = candidate
            named.model = record.name
            return named
        }
    }

    /// Whether the request is for a user with at most `limit` distinct items in their history (evaluation's cold
    /// group, ``LearnedBlendModel/coldLimit``); visits, baskets and items take the warm weights.
    static func isCold(_ resolved: ResolvedRequest, limit: Int) -> Bool {
        guard case .user = resolved.request.target, resolved.history.count < UserHistory.window else { return false }
        return Set(resolved.history.map(\.itemID)).count <= limit
    }
}

extension EvaluationSplit {
    /// HyGenRec's own validation division of a training snapshot: each user's last 10 % of interactions (at least
    /// one, for users with 3 or more) held out as validation, the rest to train; no test part.
    init(blenderValidationOf log: InteractionLog) {
        var keep = [Bool](repeating: true, count: log.count)
        var heldOut: [(user: UInt32, train: Range<Int>, validation: Range<Int>)] = []
        for (user, range) in log.userRanges() where range.count >= 3 {
            let start = range.upperBound - max(1, Int((Double(range.count) * 0.1).rounded()))
            for index in start..<range.upperBound { keep[index] = false }
            heldOut.append((user, range.lowerBound..<start, start..<range.upperBound))
        }
        var validation: [UInt32: [UInt32]] = [:]
        for entry in heldOut {
            let seen = Set(entry.train.map { log.items[$0] })
            let items = Set(entry.validation.filter { log.weights[$0] > 0 }.map { log.items[$0] }).subtracting(seen)
            if !items.isEmpty { validation[entry.user] = items.sorted() }
        }
        self.init(kind: .perUser, train: log.filter { keep[$0] }, validation: validation, test: [:])
    }

    /// A division from its parts.
    init(kind: Kind, train: InteractionLog, validation: [UInt32: [UInt32]], test: [UInt32: [UInt32]]) {
        self.kind = kind
        self.train = train
        self.validation = validation
        self.test = test
    }
}

extension CatalogReading where Self: ~Copyable {
    /// A `hygenrec` generation's blender, decoded once per generation; `corrupted` when it does not decode or its
    /// weights do not match its parts.
    func hygenrecBlender(_ record: ModelRecord) throws -> HyGenRecBlender {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "blender") {
            let key = ModelSchema.dataKey(record.name, record.generation, .blender, index: 0)
            let what = "hygenrec model '\(record.name)' generation \(record.generation)"
            guard let bytes = try modelSchema.data.withValue(key, in: txn, { Data($0) }) else {
                throw RecDBError(.corrupted, "\(what) has no blender")
            }
            let blender: HyGenRecBlender
            do {
                blender = try JSONDecoder().decode(HyGenRecBlender.self, from: bytes)
            } catch {
                throw RecDBError(.corrupted, "\(what): the blender does not decode: \(error)", cause: error)
            }
            let weightsValid = (blender.warmWeights + blender.coldWeights).allSatisfy { $0.isFinite && $0 >= 0 }
            guard blender.warmWeights.count == blender.parts.count, blender.coldWeights.count == blender.parts.count,
                weightsValid, blender.coldLimit >= 0
            else {
                throw RecDBError(.corrupted, "\(what): the blender's weights do not match its \(blender.parts.count) parts")
            }
            return blender
        }
    }
}

extension RecDatabase {
    /// `spec` ready to train in this database: a `hygenrec` spec (alone or inside a blend or chain) gets the trained
    /// models among ``StoredHyGenRec/defaultParts`` as its components, each with its recorded parameters; other specs
    /// are returned as they are. `forRefresh` marks the components as serving from their own generations. Throws
    /// `notFound` when none of them is trained.
    func composedSpec(_ spec: ModelSpec, forRefresh: Bool = false) throws -> ModelSpec {
        switch spec.shape {
        case .blend(let parts, let weights):
            return .blend(try parts.map { try composedSpec($0, forRefresh: forRefresh) }, weights: weights)
        case .chain(let parts):
            return .chain(try parts.map { try composedSpec($0, forRefresh: forRefresh) })
        case .single(let model):
            guard var hygenrec = model as? StoredHyGenRec else { return spec }
            let records = try read { r in try StoredHyGenRec.defaultParts.compactMap { try r.model($0) } }
            hygenrec.components = records.filter { $0.generation > 0 && $0.kind != .hygenrec }.compactMap { record in
                ModelSpec(record: record).map { HyGenRecComponent(name: record.name, spec: $0) }
            }
            guard !hygenrec.components.isEmpty else {
                throw RecDBError(
                    .notFound,
                    "hygenrec blends trained models; refresh some of \(StoredHyGenRec.defaultParts.joined(separator: ", ")) first")
            }
            for component in hygenrec.components { try component.spec.requireTextEncoder() }
            hygenrec.partsServedFromStore = forRefresh
            return ModelSpec(hygenrec)
        }
    }
}

extension ModelSpec {
    /// Whether a HyGenRec in the spec blends a model that needs the text encoder (so its stored vectors are read).
    var blendsText: Bool {
        if let hygenrec = stored as? StoredHyGenRec { return hygenrec.components.contains { $0.spec.needsText } }
        return parts.contains { $0.blendsText }
    }
}
