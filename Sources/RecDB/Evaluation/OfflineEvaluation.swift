import Foundation

/// One model's row of an evaluation table: its metrics and how long it trained.
public struct ModelEvaluation: Sendable {
    /// The model as it was asked for: kind, name and parameters.
    public var spec: ModelSpec
    /// Its metrics on the split's test (or validation) part.
    public var result: EvaluationResult
    /// Wall-clock seconds training on the split's training part took (evaluating not included; see `result.seconds`).
    public var trainingSeconds: Double
}

extension RecDatabase {
    /// Splits this database's interactions, trains each model on the training part and evaluates it on the test
    /// part with full ranking, all from one read snapshot. The text model takes the item vectors a refreshed text
    /// model stored (it trains on item text, not events) and encodes only the items without one.
    ///
    /// `stored` names stored ALS models whose active generation is scored as it is, without training (factors
    /// imported from Spark, ``storedFactorModel(_:)``): fair only when that generation was trained on this split's
    /// training part (`recctl export events --split`). `testHistory` says what a user's history holds when the test
    /// part is scored (``Evaluator/TestHistory``).
    public func evaluate(
        _ models: [ModelSpec], stored: [String] = [], split kind: EvaluationSplit.Kind, k: Int = 10,
        threads: Int = 2, onValidation: Bool = false, testHistory: Evaluator.TestHistory = .withValidation
    ) throws -> (split: EvaluationSplit, rows: [ModelEvaluation]) {
        try evaluate(
            models, stored: stored, split: kind, k: k, threads: threads, onValidation: onValidation,
            testHistory: testHistory, continueAfter: nil)
    }

    /// ``evaluate(_:stored:split:k:threads:onValidation:testHistory:)``, calling `continueAfter` with each row as it
    /// is scored: the models after a row for which it returns false are not trained.
    func evaluate(
        _ models: [ModelSpec], stored: [String] = [], split kind: EvaluationSplit.Kind, k: Int, threads: Int,
        onValidation: Bool, testHistory: Evaluator.TestHistory = .withValidation,
        continueAfter: ((ModelEvaluation) -> Bool)?
    ) throws -> (split: EvaluationSplit, rows: [ModelEvaluation]) {
        let storedModels = try stored.map { name in (name, try storedFactorModel(name)) }
        let models = try models.map { try composedSpec($0) }
        let wantItems = models.contains { $0.needsItems }
        let wantText = models.contains { $0.needsText || $0.blendsText }
        let (log, items, features, catalog, textVectors) = try evaluationSnapshot(items: wantItems, text: wantText)
        guard log.count > 0 else { throw RecDBError(.notFound, "the database has no events to evaluate on") }
        let split = EvaluationSplit(log, kind: kind)
        let evaluator = Evaluator(
            split: split, k: k, catalogItems: items, itemFeatures: features, sessionGap: sessionGap,
            testHistory: testHistory)
        var rows: [ModelEvaluation] = []
        for spec in models { try spec.checkTrainable(on: split.train) }
        for spec in models {
            let started = Date()
            let model = spec.train(
                on: split.train, threads: threads, items: catalog, sessionGap: sessionGap, textVectors: textVectors)
            let trainingSeconds = Date().timeIntervalSince(started)
            let row = ModelEvaluation(
                spec: spec, result: evaluator.evaluate(model, onValidation: onValidation, threads: threads),
                trainingSeconds: trainingSeconds)
            rows.append(row)
            if let continueAfter, !continueAfter(row) { break }
        }
        for (_, model) in storedModels {
            rows.append(
                ModelEvaluation(
                    spec: .als(model.parameters),
                    result: evaluator.evaluate(model, onValidation: onValidation, threads: threads),
                    trainingSeconds: model.trainingSeconds))
        }
        return (split, rows)
    }

    /// What evaluation reads from one snapshot: the interaction log, the catalog's item count, category and tag
    /// sets per item (for diversity), the items themselves when `items` (content and text models train on them),
    /// and, when `text`, a stored text model's vectors; the encoder is loaded when some item still needs one.
    func evaluationSnapshot(items wantItems: Bool, text wantText: Bool) throws
        -> (InteractionLog, Int, [UInt32: Set<String>], [Item], StoredTextVectors?)
    {
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
        let toEncode = ItemText.itemsToEncode(catalog, itemLimit: log.itemLimit, stored: textVectors?.vectors ?? [:])
        if wantText, !toEncode.isEmpty {
            _ = try SharedTextEncoder.get()
        }
        return (log, items, features, catalog, textVectors)
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
