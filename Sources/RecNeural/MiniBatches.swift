/// Mini-batches of example indices, reshuffled every epoch from a seeded generator.
/// ```swift
/// var batches = MiniBatches(count: examples.count, batchSize: 128, seed: 1)
/// for epoch in 0..<epochs {
///     batches.shuffle()
///     for b in 0..<batches.batchCount { train(on: batches.batch(b)) }
/// }
/// ```
public struct MiniBatches: Sendable {
    /// The indices in this epoch's order.
    public private(set) var order: [Int]
    /// Examples per batch (the last batch may be shorter unless `dropsLast`).
    public let batchSize: Int
    /// Whether a short last batch is skipped.
    public let dropsLast: Bool
    private var generator: SeededGenerator

    /// Batches over `0..<count`, in order until the first `shuffle()`.
    public init(count: Int, batchSize: Int, seed: UInt64, dropsLast: Bool = false) {
        precondition(batchSize > 0, "batch size must be positive")
        order = Array(0..<count)
        self.batchSize = batchSize
        self.dropsLast = dropsLast
        generator = SeededGenerator(seed: seed)
    }

    /// Reorders the indices for a new epoch (Fisher–Yates, in place).
    public mutating func shuffle() {
        order.shuffle(using: &generator)
    }

    /// Batches in an epoch.
    public var batchCount: Int {
        dropsLast ? order.count / batchSize : (order.count + batchSize - 1) / batchSize
    }

    /// The indices of batch `b` of this epoch.
    public func batch(_ b: Int) -> ArraySlice<Int> {
        order[(b * batchSize)..<Swift.min((b + 1) * batchSize, order.count)]
    }
}
