/// Stops training when a validation metric (higher is better, such as NDCG@10) has not improved for `patience`
/// evaluations, keeping a copy of the parameters at the best one.
/// ```swift
/// let stopping = EarlyStopping(parameters: model.parameters, patience: 3)
/// for epoch in 0..<100 {
///     train()
///     if stopping.record(validationNDCG(), epoch: epoch) { break }
/// }
/// stopping.restoreBest()
/// ```
public final class EarlyStopping {
    /// The parameters watched and restored.
    public let parameters: [Parameter]
    /// Evaluations without improvement tolerated before stopping.
    public let patience: Int
    /// Improvements smaller than this do not count.
    public let minimumImprovement: Float
    /// The best metric so far.
    public private(set) var bestMetric = -Float.infinity
    /// The epoch of the best metric, nil before the first record.
    public private(set) var bestEpoch: Int?
    private var sinceBest = 0
    private var snapshot: [[Float]]

    /// A helper over `parameters`.
    public init(parameters: [Parameter], patience: Int, minimumImprovement: Float = 0) {
        self.parameters = parameters
        self.patience = patience
        self.minimumImprovement = minimumImprovement
        snapshot = parameters.map { [Float](repeating: 0, count: $0.shape.count) }
    }

    /// Records an evaluation; copies the parameters when it is the best so far. Returns true when training should
    /// stop.
    public func record(_ metric: Float, epoch: Int) -> Bool {
        if metric > bestMetric + minimumImprovement || bestEpoch == nil {
            bestMetric = metric
            bestEpoch = epoch
            sinceBest = 0
            for (i, p) in parameters.enumerated() {
                snapshot[i].withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: p.value) }
            }
            return false
        }
        sinceBest += 1
        return sinceBest >= patience
    }

    /// Copies the best parameters back (no change when nothing was recorded).
    public func restoreBest() {
        guard bestEpoch != nil else { return }
        for (i, p) in parameters.enumerated() { _ = p.value.update(fromContentsOf: snapshot[i]) }
    }
}
