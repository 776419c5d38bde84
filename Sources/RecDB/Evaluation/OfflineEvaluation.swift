import Foundation

/// A model to train and its parameters, as `recctl eval`, `recctl tune` and `recctl refresh` name them.
public indirect enum ModelSpec: Sendable, Hashable {
    case popularity(halfLifeDays: Double)
    case itemKNN(neighbours: Int, similarity: ItemKNNModel.Similarity = .cosine)
    case als(ALSModel.Parameters)
    case bpr(BPRModel.Parameters)
    /// TF-IDF + SVD over item text (trained on the catalog's items, not on events).
    case content(ContentModel.Parameters)
    /// MiniLM sentence embeddings of item text (needs `recctl models install minilm`).
    case text
    /// Next item in a visit: session kNN with sequential rules.
    case session(SessionKNNModel.Parameters)
    /// The plain item-transition baseline for sessions.
    case transition
    /// Scores of several models, each normalised to [0, 1] over its own candidates for the request, mixed with
    /// weights (`USING BLEND(…)`).
    case blend([ModelSpec], weights: [Float])
    /// The fallback chain as serving fills it: the first model's candidates, then each later model's new ones.
    case chain([ModelSpec])

    public var name: String {
        switch self {
        case .popularity: "popularity"
        case .itemKNN: "itemknn"
        case .als: "als"
        case .bpr: "bpr"
        case .content: "content"
        case .text: "text"
        case .session: "session"
        case .transition: "transition"
        case .blend, .chain: expression.description
        }
    }

    /// The models by name with default parameters: popularity, itemknn, als, bpr, content, session, transition; a
    /// model expression of the query language (``ModelExpression``) mixes or chains them:
    /// `BLEND(als 0.7, content 0.3)`, `CHAIN(als, content, popularity)`.
    public static func named(_ name: String) throws -> ModelSpec {
        let expression = try ModelExpression.parse(name)
        guard case .model(let single) = expression else { return try ModelSpec(expression) }
        let lowered = single.lowercased()
        switch lowered {
        case "popularity", "pop": return .popularity(halfLifeDays: 30)
        case "itemknn", "item-knn", "knn": return .itemKNN(neighbours: 100, similarity: .cosine)
        case "als": return .als(ALSModel.Parameters())
        case "bpr": return .bpr(BPRModel.Parameters())
        case "content", "tfidf": return .content(ContentModel.Parameters())
        case "text", "minilm": return .text
        case "session", "sknn", "vsknn": return .session(SessionKNNModel.Parameters())
        case "transition", "transitions": return .transition
        default:
            throw RecDBError(
                .invalidArgument,
                "unknown model '\(name)' (known: popularity, itemknn, als, bpr, content, text, session, transition, "
                    + "BLEND(A 0.7, B 0.3), CHAIN(A, B, C))")
        }
    }

    /// Trains the model on `log`. `items` (the catalog's items) feed the content and text models; `sessionGap`
    /// splits sessions for the session models; `textVectors` (a stored text model's item vectors, see
    /// ``StoredTextVectors``) spare the text model the encoder for the items they cover.
    public func train(
        on log: InteractionLog, threads: Int = 2, items: [Item] = [], sessionGap: Int64 = 30 * 60 * 1000,
        textVectors: StoredTextVectors? = nil, progress: (@Sendable (Double) -> Void)? = nil
    ) -> any Recommender {
        switch self {
        case .popularity(let halfLife): PopularityModel(log: log, halfLifeDays: halfLife)
        case .itemKNN(let neighbours, let similarity):
            ItemKNNModel(log: log, neighbours: neighbours, similarity: similarity, threads: threads)
        case .als(let parameters): ALSModel(log: log, parameters: parameters, threads: threads, progress: progress)
        case .bpr(let parameters): BPRModel(log: log, parameters: parameters, threads: threads, progress: progress)
        case .content(let parameters): ContentModel(items: items, itemLimit: log.itemLimit, parameters: parameters)
        case .text:
            // Callers check the encoder first (`requireTextEncoder`) when stored vectors do not cover every item;
            // without it the model knows only the stored vectors.
            TextModel(
                items: items, itemLimit: log.itemLimit, stored: textVectors?.vectors ?? [:],
                dimension: textVectors?.dimension ?? 384,
                encoder: TextModel.itemsToEncode(items, itemLimit: log.itemLimit, stored: textVectors?.vectors ?? [:])
                    .isEmpty ? nil : try? SharedTextEncoder.get(),
                threads: threads, progress: progress)
        case .session(let parameters): SessionKNNModel(sessions: SessionLog(log, gap: sessionGap), parameters: parameters)
        case .transition: TransitionModel(sessions: SessionLog(log, gap: sessionGap))
        case .blend(let parts, let weights):
            BlendModel(
                name: name,
                parts: parts.map {
                    $0.train(on: log, threads: threads, items: items, sessionGap: sessionGap, textVectors: textVectors)
                },
                weights: weights)
        case .chain(let parts):
            FallbackChainModel(
                name: name,
                parts: parts.map {
                    $0.train(on: log, threads: threads, items: items, sessionGap: sessionGap, textVectors: textVectors)
                },
                pool: RankingBlocks.firstPool)
        }
    }

    /// Throws `notFound` naming `recctl models install minilm` when the spec needs the text encoder and it is absent.
    func requireTextEncoder() throws {
        if needsText { _ = try SharedTextEncoder.get() }
    }

    /// Whether the spec is or contains the text model.
    var needsText: Bool {
        switch self {
        case .text: true
        case .blend(let parts, _), .chain(let parts): parts.contains { $0.needsText }
        default: false
        }
    }

    /// Whether training reads the catalog's items.
    var needsItems: Bool {
        switch self {
        case .content, .text: true
        case .blend(let parts, _), .chain(let parts): parts.contains { $0.needsItems }
        default: false
        }
    }
}

/// Several models mixed as `RECOMMEND … USING BLEND(…)` mixes them: each model's best ``pool`` candidates (items
/// the user met left out) are min–max normalised over themselves (all 1 when their scores are equal), weighted and
/// summed per item; an item no model puts in its pool is no candidate. Replays serving exactly for lists of up to
/// ``RankingBlocks/block`` items (serving ranks deeper pages from larger pools).
public struct BlendModel: Recommender {
    public let name: String
    public let parts: [any Recommender]
    public let weights: [Float]
    /// Candidates per model.
    public let pool: Int

    public init(name: String, parts: [any Recommender], weights: [Float], pool: Int = RankingBlocks.firstPool) {
        self.name = name
        self.parts = parts
        self.weights = weights
        self.pool = pool
    }

    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: scores.count)
        defer { buffer.deallocate() }
        var blended: [UInt32: Float] = [:]
        for (part, weight) in zip(parts, weights) where weight > 0 {
            let found = Self.candidates(part, user: user, history: history, pool: pool, buffer: buffer)
            guard let high = found.first.map({ buffer[Int($0)] }), let low = found.last.map({ buffer[Int($0)] }) else {
                continue
            }
            let span = high - low
            for item in found {
                let contribution = weight * (span > 0 ? (buffer[Int(item)] - low) / span : 1)
                if let sum = blended[item] { blended[item] = sum + contribution } else { blended[item] = contribution }
            }
        }
        scores.update(repeating: -.infinity)
        for (item, score) in blended { scores[Int(item)] = score }
    }

    /// `part`'s best `pool` items for the user, best first (ties by lower id), leaving out the items the user met;
    /// their scores stay in `buffer`.
    static func candidates(
        _ part: any Recommender, user: UInt32, history: UserHistory, pool: Int,
        buffer: UnsafeMutableBufferPointer<Float>
    ) -> [UInt32] {
        buffer.update(repeating: 0)
        part.score(user: user, history: history, into: buffer)
        for item in history.met where Int(item) < buffer.count { buffer[Int(item)] = -.infinity }
        return Evaluator.topK(buffer, k: pool)
    }

    public func itemVector(_ item: UInt32) -> [Float]? { parts.lazy.compactMap { $0.itemVector(item) }.first }
}

/// The fallback chain as `RECOMMEND` fills it: the first model's best ``pool`` candidates in its order, then each
/// later model's best ones not yet listed, until ``pool`` are listed; nothing else is a candidate. A model that
/// cannot serve a user (no visit, no profile) gives nothing and the next one fills. Replays serving exactly for
/// lists of up to ``RankingBlocks/block`` items.
public struct FallbackChainModel: Recommender {
    public let name: String
    public let parts: [any Recommender]
    /// Candidates listed in all.
    public let pool: Int

    public init(name: String, parts: [any Recommender], pool: Int = RankingBlocks.firstPool) {
        self.name = name
        self.parts = parts
        self.pool = pool
    }

    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: scores.count)
        defer { buffer.deallocate() }
        var listed: [UInt32] = []
        var taken = Set<UInt32>()
        for part in parts where listed.count < pool {
            for item in BlendModel.candidates(part, user: user, history: history, pool: pool, buffer: buffer)
            where taken.insert(item).inserted {
                listed.append(item)
                if listed.count >= pool { break }
            }
        }
        // Scores that fall with the position keep the chain's order.
        scores.update(repeating: -.infinity)
        for (position, item) in listed.enumerated() { scores[Int(item)] = Float(listed.count - position) }
    }

    public func itemVector(_ item: UInt32) -> [Float]? { parts.lazy.compactMap { $0.itemVector(item) }.first }
}

/// One model's row of an evaluation table: its metrics and how long it trained.
public struct ModelEvaluation: Sendable {
    public var spec: ModelSpec
    public var result: EvaluationResult
    public var trainingSeconds: Double
}

extension RecDatabase {
    /// Splits this database's interactions, trains each model on the training part and evaluates it on the test
    /// part with full ranking, all from one read snapshot. The text model takes the item vectors a refreshed text
    /// model stored (it trains on item text, not events) and encodes only the items without one.
    public func evaluate(
        _ models: [ModelSpec], split kind: EvaluationSplit.Kind, k: Int = 10, threads: Int = 2,
        onValidation: Bool = false
    ) throws -> (split: EvaluationSplit, rows: [ModelEvaluation]) {
        let wantItems = models.contains { $0.needsItems }, wantText = models.contains { $0.needsText }
        let (log, items, features, catalog, textVectors) = try read {
            r -> (InteractionLog, Int, [UInt32: Set<String>], [Item], StoredTextVectors?) in
            var features: [UInt32: Set<String>] = [:]
            var catalog: [Item] = []
            try r.forEachItem { item in
                var set = Set(item.tags.map { "tag:" + $0 })
                if let category = item.category { set.insert("category:" + category) }
                if !set.isEmpty { features[item.internalID] = set }
                if wantItems { catalog.append(item) }
                return .next
            }
            let textVectors = wantText ? try r.storedTextVectors(of: catalog) : nil
            return (try r.interactionLog(), try r.itemCount, features, catalog, textVectors)
        }
        guard log.count > 0 else { throw RecDBError(.notFound, "the database has no events to evaluate on") }
        let toEncode = TextModel.itemsToEncode(catalog, itemLimit: log.itemLimit, stored: textVectors?.vectors ?? [:])
        if wantText, !toEncode.isEmpty {
            _ = try SharedTextEncoder.get()
        }
        let split = EvaluationSplit(log, kind: kind)
        let evaluator = Evaluator(
            split: split, k: k, catalogItems: items, itemFeatures: features, sessionGap: sessionGap)
        var rows: [ModelEvaluation] = []
        for spec in models {
            let started = Date()
            let model = spec.train(
                on: split.train, threads: threads, items: catalog, sessionGap: sessionGap, textVectors: textVectors)
            let trainingSeconds = Date().timeIntervalSince(started)
            rows.append(
                ModelEvaluation(
                    spec: spec, result: evaluator.evaluate(model, onValidation: onValidation, threads: threads),
                    trainingSeconds: trainingSeconds))
        }
        return (split, rows)
    }
}

/// The item vectors of the stored text model, for evaluation: what a refresh encoded, so evaluation need not run
/// the encoder again.
public struct StoredTextVectors: Sendable {
    /// Vectors by internal item id.
    public var vectors: [UInt32: [Float]]
    public var dimension: Int
}

extension CatalogReading where Self: ~Copyable {
    /// The vectors the active text model holds for `items`, or nil when no text model has been refreshed.
    func storedTextVectors(of items: [Item]) throws -> StoredTextVectors? {
        guard let record = try model(TextModel.storedName), record.kind == "text", record.generation > 0,
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

extension ModelSpec {
    /// A small grid around the defaults, for `recctl tune`.
    public var tuningGrid: [ModelSpec] {
        switch self {
        case .popularity: return [7.0, 30, 90, 365].map { .popularity(halfLifeDays: $0) }
        case .itemKNN:
            return [20, 50, 100, 200].flatMap { n in
                [ItemKNNModel.Similarity.cosine, .conditionalProbability].map { .itemKNN(neighbours: n, similarity: $0) }
            }
        case .als(let base):
            var grid: [ModelSpec] = []
            for factors in [32, 64, 128] {
                for regularization: Float in [0.01, 0.1, 1, 10] {
                    for alpha: Float in [1, 5, 20] {
                        var p = base
                        p.factors = factors
                        p.regularization = regularization
                        p.alpha = alpha
                        grid.append(.als(p))
                    }
                }
            }
            return grid
        case .bpr(let base):
            var grid: [ModelSpec] = []
            for rate: Float in [0.005, 0.01, 0.05] {
                for regularization: Float in [0.001, 0.01, 0.1] {
                    var p = base
                    p.learningRate = rate
                    p.regularization = regularization
                    grid.append(.bpr(p))
                }
            }
            return grid
        case .content(let base):
            return [32, 64, 128, 256].flatMap { dimensions in
                [true, false].map { stemming in
                    var p = base
                    p.dimensions = dimensions
                    p.stemming = stemming
                    return ModelSpec.content(p)
                }
            }
        case .session(let base):
            return [50, 100, 200].flatMap { neighbours in
                [Float(0), 0.5, 1, 2].map { ruleWeight in
                    var p = base
                    p.neighbours = neighbours
                    p.ruleWeight = ruleWeight
                    return ModelSpec.session(p)
                }
            }
        case .transition: return [.transition]
        case .text: return [.text]
        case .blend(let parts, let weights):
            // The first part's weight from 0.1 to 0.9, the rest sharing the remainder as given.
            let rest = weights.dropFirst().reduce(0, +)
            return [Float(0.1), 0.3, 0.5, 0.7, 0.9].map { first in
                .blend(parts, weights: [first] + weights.dropFirst().map { rest > 0 ? $0 / rest * (1 - first) : 0 })
            }
        case .chain: return [self]
        }
    }
}

extension RecDatabase {
    /// Light hyperparameter search: trains every setting of `spec`'s grid on the training part and ranks them by
    /// NDCG@K on the validation part (the test part stays unseen). Best first.
    public func tune(_ spec: ModelSpec, split kind: EvaluationSplit.Kind, k: Int = 10, threads: Int = 2) throws
        -> [ModelEvaluation]
    {
        let (_, rows) = try evaluate(spec.tuningGrid, split: kind, k: k, threads: threads, onValidation: true)
        return rows.sorted { $0.result.ndcg > $1.result.ndcg }
    }
}
