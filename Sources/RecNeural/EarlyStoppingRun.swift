/// One epoch of an early-stopped run, as `EarlyStopping.run` hands it to its observer.
public struct EpochOutcome: Sendable, Equatable {
    /// The epoch just trained, from 1.
    public var epoch: Int
    /// Its mean training loss.
    public var loss: Float
    /// The validation metric measured after it; nil when this epoch was not evaluated (or there is no validation).
    public var validationMetric: Double?
    /// The epoch (from 1) with the best validation metric so far; nil before the first evaluation.
    public var bestEpoch: Int?
}

/// What an early-stopped run did: how far it went and which epoch it kept.
public struct EarlyStoppedRun: Sendable, Equatable {
    /// Epochs trained.
    public var epochs: Int
    /// The epoch (from 1) whose weights were kept; nil without validation.
    public var bestEpoch: Int?
    /// That epoch's validation metric.
    public var bestMetric: Double?
}

extension EarlyStopping {
    /// The epoch loop shared by the trainers: trains up to `maxEpochs` epochs, measures `validate` (higher is
    /// better, such as NDCG@10) after every `evaluateEvery`-th epoch and after the last, stops when it has not
    /// improved for `patience` evaluations, then restores the best epoch's `parameters`. Without `validate` every
    /// epoch is trained and the last weights are kept. `onEpoch` sees each epoch and may end the run early by
    /// returning true (a time cap, say); the weights kept are still the best evaluated ones.
    /// ```swift
    /// let run = EarlyStopping.run(parameters: network.parameters, maxEpochs: 200, patience: 5,
    ///     trainEpoch: { trainer.trainEpoch() }, validate: { validationNDCG(network) })
    /// ```
    public static func run(
        parameters: [Parameter], maxEpochs: Int, patience: Int, evaluateEvery: Int = 1,
        trainEpoch: () -> Float, validate: (() -> Double)?,
        onEpoch: (EpochOutcome) -> Bool = { _ in false }
    ) -> EarlyStoppedRun {
        let stopping = EarlyStopping(parameters: parameters, patience: patience)
        var result = EarlyStoppedRun(epochs: 0, bestEpoch: nil, bestMetric: nil)
        for epoch in stride(from: 1, through: maxEpochs, by: 1) {
            let loss = trainEpoch()
            result.epochs = epoch
            var metric: Double?
            if let validate, epoch % max(evaluateEvery, 1) == 0 || epoch == maxEpochs {
                metric = validate()
            }
            let stop = metric.map { stopping.record(Float($0), epoch: epoch) } ?? false
            if let metric, stopping.bestEpoch == epoch {
                result.bestEpoch = epoch
                result.bestMetric = metric
            }
            let outcome = EpochOutcome(epoch: epoch, loss: loss, validationMetric: metric, bestEpoch: result.bestEpoch)
            if onEpoch(outcome) || stop { break }
        }
        if validate != nil { stopping.restoreBest() }
        return result
    }
}
