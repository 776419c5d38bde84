import Foundation
import RecDB
import SportsSplit

/// RecDB's session model (V-SKNN + sequential rules, `SessionKNNModel` at its defaults) on the same split, through
/// the library API: each user's known items form one session; the visit scored is the user's history for the target.
struct SessionRun {
    let split: SequenceSplit

    /// Validation scored from the training parts; test scored twice: statistics from the training parts only, and
    /// with every user's validation item added to their session (as a database holding those events would).
    func run() -> [String: Any] {
        let start = ContinuousClock.now
        let trainingOnly = model(includingValidation: false)
        let validation = evaluate(trainingOnly, .validation)
        let test = evaluate(trainingOnly, .test)
        let withValidation = evaluate(model(includingValidation: true), .test)
        return ["side": "session", "val_ndcg10": validation.ndcg, "val_hr10": validation.hitRate,
            "test_ndcg10": test.ndcg, "test_hr10": test.hitRate,
            "test_ndcg10_with_validation_events": withValidation.ndcg,
            "test_hr10_with_validation_events": withValidation.hitRate,
            "wall_seconds": (ContinuousClock.now - start) / .seconds(1)]
    }

    private func model(includingValidation: Bool) -> SessionKNNModel {
        var log = SessionLog()
        log.itemLimit = split.itemCount + 1
        for user in 0..<split.userCount {
            let items = includingValidation ? split.training[user] + [split.validation[user]] : split.training[user]
            log.sessions.append(items.map { UInt32($0) })
            log.ends.append(0)
        }
        return SessionKNNModel(sessions: log)
    }

    private func evaluate(_ model: SessionKNNModel, _ target: SequenceSplit.Target) -> RankingEvaluator {
        var evaluator = RankingEvaluator()
        var scores = [Float](repeating: 0, count: split.itemCount + 1)
        for user in 0..<split.userCount {
            let history = split.history(user, for: target)
            scores.withUnsafeMutableBufferPointer { buffer in
                buffer.update(repeating: 0)
                model.scoreNext(after: history.map { UInt32($0) }, into: buffer)
                evaluator.add(scores: buffer, history: history, target: split.targetItem(user, target))
            }
        }
        return evaluator
    }
}
