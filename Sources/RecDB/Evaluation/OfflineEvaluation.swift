import Foundation

/// A model to train and its parameters, as `recctl eval` and `recctl tune` name them.
public enum ModelSpec: Sendable, Hashable {
    case popularity(halfLifeDays: Double)
    case itemKNN(neighbours: Int, similarity: ItemKNNModel.Similarity = .cosine)
    case als(ALSModel.Parameters)
    case bpr(BPRModel.Parameters)

    public var name: String {
        switch self {
        case .popularity: "popularity"
        case .itemKNN: "itemknn"
        case .als: "als"
        case .bpr: "bpr"
        }
    }

    /// The models by name with default parameters: popularity, itemknn, als, bpr.
    public static func named(_ name: String) throws -> ModelSpec {
        switch name.lowercased() {
        case "popularity", "pop": return .popularity(halfLifeDays: 30)
        case "itemknn", "item-knn", "knn": return .itemKNN(neighbours: 100, similarity: .cosine)
        case "als": return .als(ALSModel.Parameters())
        case "bpr": return .bpr(BPRModel.Parameters())
        default:
            throw RecDBError(.invalidArgument, "unknown model '\(name)' (known: popularity, itemknn, als, bpr)")
        }
    }

    /// Trains the model on `log`.
    public func train(on log: InteractionLog, threads: Int = 2, progress: (@Sendable (Double) -> Void)? = nil)
        -> any Recommender
    {
        switch self {
        case .popularity(let halfLife): PopularityModel(log: log, halfLifeDays: halfLife)
        case .itemKNN(let neighbours, let similarity):
            ItemKNNModel(log: log, neighbours: neighbours, similarity: similarity, threads: threads)
        case .als(let parameters): ALSModel(log: log, parameters: parameters, threads: threads, progress: progress)
        case .bpr(let parameters): BPRModel(log: log, parameters: parameters, threads: threads, progress: progress)
        }
    }
}

/// One model's row of an evaluation table: its metrics and how long it trained.
public struct ModelEvaluation: Sendable {
    public var spec: ModelSpec
    public var result: EvaluationResult
    public var trainingSeconds: Double
}

extension RecDatabase {
    /// Splits this database's interactions, trains each model on the training part and evaluates it on the test
    /// part with full ranking, all from one read snapshot.
    public func evaluate(
        _ models: [ModelSpec], split kind: EvaluationSplit.Kind, k: Int = 10, threads: Int = 2,
        onValidation: Bool = false
    ) throws -> (split: EvaluationSplit, rows: [ModelEvaluation]) {
        let (log, items, features) = try read { r -> (InteractionLog, Int, [UInt32: Set<String>]) in
            var features: [UInt32: Set<String>] = [:]
            try r.forEachItem { item in
                var set = Set(item.tags.map { "tag:" + $0 })
                if let category = item.category { set.insert("category:" + category) }
                if !set.isEmpty { features[item.internalID] = set }
                return .next
            }
            return (try r.interactionLog(), try r.itemCount, features)
        }
        guard log.count > 0 else { throw RecDBError(.notFound, "the database has no events to evaluate on") }
        let split = EvaluationSplit(log, kind: kind)
        let evaluator = Evaluator(split: split, k: k, catalogItems: items, itemFeatures: features)
        var rows: [ModelEvaluation] = []
        for spec in models {
            let started = Date()
            let model = spec.train(on: split.train, threads: threads)
            let trainingSeconds = Date().timeIntervalSince(started)
            rows.append(
                ModelEvaluation(
                    spec: spec, result: evaluator.evaluate(model, onValidation: onValidation, threads: threads),
                    trainingSeconds: trainingSeconds))
        }
        return (split, rows)
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
