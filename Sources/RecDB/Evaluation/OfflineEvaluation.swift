import Foundation

/// A model to train and its parameters, as `recctl eval` and `recctl tune` name them.
public enum ModelSpec: Sendable, Hashable {
    case popularity(halfLifeDays: Double)
    case itemKNN(neighbours: Int)
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
        case "itemknn", "item-knn", "knn": return .itemKNN(neighbours: 100)
        case "als": return .als(ALSModel.Parameters())
        case "bpr": return .bpr(BPRModel.Parameters())
        default:
            throw RecDBError(.invalidArgument, "unknown model '\(name)' (known: popularity, itemknn, als, bpr)")
        }
    }

    /// Trains the model on `log`.
    public func train(on log: InteractionLog, threads: Int = 2) -> any Recommender {
        switch self {
        case .popularity(let halfLife): PopularityModel(log: log, halfLifeDays: halfLife)
        case .itemKNN(let neighbours): ItemKNNModel(log: log, neighbours: neighbours, threads: threads)
        case .als(let parameters): ALSModel(log: log, parameters: parameters, threads: threads)
        case .bpr(let parameters): BPRModel(log: log, parameters: parameters, threads: threads)
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
