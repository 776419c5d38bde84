import Foundation

/// What ``RecDatabase/refreshTuned(_:budgetSeconds:k:threads:onSetting:progress:onEpoch:)`` did: the settings it
/// scored on the validation split, the one it chose and the refresh that stored it.
public struct TunedRefreshReport: Sendable {
    /// Every setting scored, in the order tried, with its validation metrics and training time.
    public var settings: [ModelEvaluation]
    /// Settings of the grid left untried because the time budget ran out.
    public var untried: Int
    /// The setting with the best validation NDCG@K (the first of equals), the one refreshed.
    public var chosen: ModelSpec
    /// The refresh of the chosen setting on every event.
    public var refresh: RefreshReport
}

extension RecDatabase {
    /// Picks `spec`'s parameters on the validation split, then refreshes the model with them.
    ///
    /// Each setting of the kind's grid (``ModelSpec/tuningGrid``, the grid `recctl tune` searches: EASE's λ, ALS's
    /// factors, regularisation and confidence scale, BPR's epochs, factors, learning rate, λ and negatives, item-kNN's
    /// neighbours and similarity) trains on the leave-last-out training part and is scored by NDCG@`k` on the
    /// validation items; the test items stay unseen. Settings are tried in grid order; once `budgetSeconds` have
    /// passed no new one starts (at least one always runs). The best setting is then trained on every event and
    /// stored as a normal ``refresh(_:threads:progress:onEpoch:)`` would. `onSetting` hears each scored setting.
    @discardableResult
    public func refreshTuned(
        _ spec: ModelSpec, budgetSeconds: Double? = nil, k: Int = 10, threads: Int = 2,
        onSetting: (@Sendable (ModelEvaluation) -> Void)? = nil, progress: (@Sendable (String) -> Void)? = nil,
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)? = nil
    ) throws -> TunedRefreshReport {
        guard spec.stored != nil else {
            throw RecDBError(
                .invalidArgument, "'\(spec.name)' is combined at query time from its parts; tune each part instead")
        }
        if let budgetSeconds, !(budgetSeconds > 0) {
            throw RecDBError(
                .invalidArgument, "the tuning budget must be a positive number of seconds, not \(budgetSeconds)")
        }
        let grid = spec.tuningGrid
        let started = Date()
        progress?("tuning \(spec.name): \(grid.count) settings on the validation split")
        let (_, rows) = try evaluate(grid, split: .leaveLastOut, k: k, threads: threads, onValidation: true) { row in
            onSetting?(row)
            return budgetSeconds.map { Date().timeIntervalSince(started) < $0 } ?? true
        }
        // `evaluate` scores at least the first setting of a non-empty grid.
        var best = rows[0]
        for row in rows.dropFirst() where row.result.ndcg > best.result.ndcg { best = row }
        let report = try refresh(best.spec, threads: threads, progress: progress, onEpoch: onEpoch)
        return TunedRefreshReport(settings: rows, untried: grid.count - rows.count, chosen: best.spec, refresh: report)
    }
}
