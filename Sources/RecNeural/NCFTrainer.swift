/// Trains an ``NCFNetwork`` on implicit feedback as the paper does: every observed (user, item) pair is a positive,
/// and each epoch draws `negatives` items per positive uniformly from the items that user has not met, all scored
/// by binary cross-entropy on the logits, with Adam on shuffled mini-batches. One tape is reused across steps.
/// ```swift
/// let trainer = NCFTrainer(network: network, users: users, items: items, settings: .init())
/// for _ in 0..<epochs { trainer.trainEpoch() }
/// ```
public final class NCFTrainer {
    /// Optimisation settings.
    public struct Settings: Sendable {
        /// Examples (positives and negatives together) per batch (default 256).
        public var batchSize = 256
        /// Adam's learning rate, constant (default 0.001).
        public var learningRate: Float = 0.001
        /// Negatives drawn per positive each epoch (default 4, the paper's).
        public var negatives = 4
        /// L2 weight decay added to the tower's and output's gradients (Adam's coupled form; default 0).
        public var weightDecay: Float = 0
        /// Seed of shuffling and negatives.
        public var seed: UInt64 = 1

        /// The defaults above.
        public init() {}
    }

    /// The network trained (updated in place).
    public let network: NCFNetwork
    /// The settings.
    public let settings: Settings
    private let positiveUsers: [Int32], positiveItems: [Int32]
    private let seen: Set<UInt64>
    private var exampleUsers: [Int32] = [], exampleItems: [Int32] = [], exampleLabels: [Float] = []
    private let optimizer: AdamOptimizer
    private let tape: Tape
    private var generator: SeededGenerator
    /// Optimizer steps taken.
    public private(set) var step = 0

    /// A trainer over the positive pairs `(users[i], items[i])` (duplicates count once). The embedding rows of
    /// users with no positive are zeroed, which is how ``NCFScorer/knows(user:)`` tells users never met.
    public init(network: NCFNetwork, users: [Int32], items: [Int32], settings: Settings) {
        precondition(users.count == items.count, "NCFTrainer: \(users.count) users for \(items.count) items")
        let c = network.configuration
        var seen = Set<UInt64>(minimumCapacity: users.count)
        var us: [Int32] = [], its: [Int32] = []
        for (u, i) in zip(users, items) {
            precondition(u >= 0 && Int(u) < c.userCount && i >= 0 && Int(i) < c.itemCount, "NCFTrainer: pair out of range")
            if seen.insert(UInt64(UInt32(u)) << 32 | UInt64(UInt32(i))).inserted {
                us.append(u)
                its.append(i)
            }
        }
        self.network = network
        self.settings = settings
        positiveUsers = us
        positiveItems = its
        self.seen = seen
        optimizer = AdamOptimizer(parameters: network.parameters, variant: .adam, weightDecay: settings.weightDecay)
        tape = Tape(seed: settings.seed)
        generator = SeededGenerator(seed: settings.seed ^ 0xC0FFEE)
        Self.zeroUnmetUsers(network, users: Set(us))
    }

    private static func zeroUnmetUsers(_ network: NCFNetwork, users: Set<Int32>) {
        for table in [network.gmfUser, network.mlpUser].compactMap({ $0 }) {
            let width = table.shape.last
            for u in 0..<table.shape[0] where !users.contains(Int32(u)) {
                (table.value.baseAddress! + u * width).update(repeating: 0, count: width)
            }
        }
    }

    /// Distinct positive pairs.
    public var positiveCount: Int { positiveUsers.count }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        (positiveCount * (1 + settings.negatives) + settings.batchSize - 1) / settings.batchSize
    }

    /// One pass: fresh negatives, a new shuffled order, an Adam step per batch; returns the mean loss per batch.
    @discardableResult
    public func trainEpoch() -> Float {
        drawExamples()
        var total: Double = 0
        var batches = 0
        let count = exampleUsers.count
        for start in stride(from: 0, to: count, by: settings.batchSize) {
            total += Double(trainStep(start..<min(count, start + settings.batchSize)))
            batches += 1
        }
        return Float(total / Double(max(batches, 1)))
    }

    /// The positives and `negatives` fresh negatives per positive, shuffled (Fisher–Yates, seeded).
    private func drawExamples() {
        let itemCount = network.configuration.itemCount
        let perPositive = 1 + settings.negatives
        let count = positiveCount * perPositive
        exampleUsers.removeAll(keepingCapacity: true)
        exampleItems.removeAll(keepingCapacity: true)
        exampleLabels.removeAll(keepingCapacity: true)
        exampleUsers.reserveCapacity(count)
        exampleItems.reserveCapacity(count)
        exampleLabels.reserveCapacity(count)
        for p in 0..<positiveCount {
            let u = positiveUsers[p]
            exampleUsers.append(u)
            exampleItems.append(positiveItems[p])
            exampleLabels.append(1)
            for _ in 0..<settings.negatives {
                var j = Int32(truncatingIfNeeded: generator.next() % UInt64(itemCount))
                var tries = 0
                while seen.contains(UInt64(UInt32(u)) << 32 | UInt64(UInt32(j))) && tries < 50 {
                    j = Int32(truncatingIfNeeded: generator.next() % UInt64(itemCount))
                    tries += 1
                }
                exampleUsers.append(u)
                exampleItems.append(j)
                exampleLabels.append(0)
            }
        }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            exampleUsers.swapAt(i, j)
            exampleItems.swapAt(i, j)
            exampleLabels.swapAt(i, j)
        }
    }

    /// One Adam step on the examples in `range` of this epoch's order; returns the loss.
    private func trainStep(_ range: Range<Int>) -> Float {
        tape.reset()
        let users = tape.scratchIntegers(range.count), items = tape.scratchIntegers(range.count)
        let labels = tape.scratchFloats(range.count)
        for (k, e) in range.enumerated() {
            users[k] = exampleUsers[e]
            items[k] = exampleItems[e]
            labels[k] = exampleLabels[e]
        }
        let logits = network.logits(tape, users: UnsafeBufferPointer(users), items: UnsafeBufferPointer(items))
        let loss = tape.binaryCrossEntropy(logits: logits, targets: UnsafeBufferPointer(labels))
        tape.backward(loss)
        optimizer.step(learningRate: settings.learningRate)
        optimizer.zeroGradients()
        step += 1
        return tape.scalar(loss)
    }
}
