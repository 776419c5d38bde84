import Foundation
import RecNeural

/// NCF (He et al. 2017: GMF, MLP or NeuMF), the training core's (`RecNeural`) neural collaborative filtering, as a
/// RecDB model.
///
/// Every (user, item) pair with positive weight in the snapshot is a positive; each epoch draws `negatives` unmet
/// items per positive (binary cross-entropy, Adam). Refresh holds out each user's latest item (users with at least
/// three distinct items) for validation, measures NDCG@10 on those after each epoch (full ranking over the items the
/// user has not met), stops when it has not improved for `patience` epochs and keeps the best epoch's weights; with
/// `refit` it then trains a fresh network with the same seed on every pair for that many epochs, so serving knows
/// the latest items too. Users without a positive pair are unknown to the network: it scores nothing for them.
public struct NCFModel: Recommender {
    /// Training hyperparameters; `init()` gives the defaults listed on each field.
    public struct Parameters: Sendable, Hashable, Codable {
        /// GMF, MLP or NeuMF (default NeuMF).
        public var variant: NCFConfiguration.Variant = .neumf
        /// Predictive factors: GMF's width and the MLP tower's last layer (default 16).
        public var factors = 16
        /// ReLU layers of the MLP tower, each twice as wide as the next (default 3).
        public var layers = 3
        /// Negatives per positive per epoch (default 4, the paper's).
        public var negatives = 4
        /// The most epochs (default 50; early stopping usually ends sooner).
        public var epochs = 50
        /// Adam's learning rate (default 0.001).
        public var learningRate: Float = 0.001
        /// Examples per batch (default 256).
        public var batchSize = 256
        /// L2 weight decay on the tower and output weights (default 0).
        public var weightDecay: Float = 0
        /// Epochs without a better validation NDCG@10 before training stops (default 3).
        public var patience = 3
        /// NeuMF only: pre-train GMF and MLP (each with early stopping) and start NeuMF from them, as the paper does
        /// (default off).
        public var pretrain = false
        /// After early stopping, retrain on every pair (held-out items included) for the best epoch count (default
        /// on; costs up to twice the training).
        public var refit = true
        /// Seed of initialisation, shuffling and negatives (default 42).
        public var seed: UInt64 = 42

        /// The defaults.
        public init() {}

        /// Sets ``variant`` from its name (`gmf`, `mlp`, `neumf`, any case); throws `invalidArgument` for another.
        public mutating func setVariant(named name: String) throws {
            guard let v = NCFConfiguration.Variant(rawValue: name.lowercased()) else {
                throw RecDBError(.invalidArgument, "ncf parameter variant is '\(name)'; it must be gmf, mlp or neumf")
            }
            variant = v
        }

        /// Throws `invalidArgument` naming the first parameter out of range.
        public func validate() throws {
            func check(_ ok: Bool, _ name: String, _ value: Any, _ range: String) throws {
                guard ok else {
                    throw RecDBError(.invalidArgument, "ncf parameter \(name) is \(value); it must be \(range)")
                }
            }
            try check((1...256).contains(factors), "factors", factors, "1 to 256")
            try check((1...6).contains(layers), "layers", layers, "1 to 6")
            try check(factors << layers <= 4096, "layers", layers, "at most 4,096 / factors wide at the tower's input")
            try check((1...100).contains(negatives), "negatives", negatives, "1 to 100")
            try check((1...10_000).contains(epochs), "epochs", epochs, "1 to 10,000")
            try check(learningRate > 0 && learningRate <= 1, "learning_rate", learningRate, "in (0, 1]")
            try check((1...65_536).contains(batchSize), "batch_size", batchSize, "1 to 65,536")
            try check(weightDecay >= 0 && weightDecay <= 1, "weight_decay", weightDecay, "in [0, 1]")
            try check((1...10_000).contains(patience), "patience", patience, "1 to 10,000")
        }

        /// `self` brought into the ranges ``validate()`` checks (for callers that cannot throw).
        var clamped: Parameters {
            var p = self
            p.factors = min(max(p.factors, 1), 256)
            p.layers = min(max(p.layers, 1), 6)
            while p.factors << p.layers > 4096 { p.layers -= 1 }
            p.negatives = min(max(p.negatives, 1), 100)
            p.epochs = min(max(p.epochs, 1), 10_000)
            if !(p.learningRate > 0 && p.learningRate <= 1) { p.learningRate = 0.001 }
            p.batchSize = min(max(p.batchSize, 1), 65_536)
            if !(p.weightDecay >= 0 && p.weightDecay <= 1) { p.weightDecay = 0 }
            p.patience = min(max(p.patience, 1), 10_000)
            return p
        }

        /// The network's configuration for these users and items, as `variant`.
        func configuration(users: Int, items: Int, variant: NCFConfiguration.Variant) -> NCFConfiguration {
            var c = NCFConfiguration(userCount: max(users, 1), itemCount: max(items, 1))
            c.variant = variant
            c.factors = factors
            c.layers = layers
            c.seed = seed
            return c
        }

        var settings: NCFTrainer.Settings {
            var s = NCFTrainer.Settings()
            s.batchSize = batchSize
            s.learningRate = learningRate
            s.negatives = negatives
            s.weightDecay = weightDecay
            s.seed = seed
            return s
        }
    }

    /// The model's name in reports.
    public let name: String
    /// The parameters it was trained with.
    public let parameters: Parameters
    /// Epochs trained, the last run (0 when loaded from storage).
    public private(set) var epochsTrained = 0
    /// The epoch (from 1) whose weights were kept; nil without validation.
    public private(set) var bestEpoch: Int?
    /// That epoch's validation NDCG@10.
    public private(set) var bestValidationNDCG: Double?
    /// The trained weights as a scorer.
    let scorer: NCFScorer

    /// Every weight in ``NCFNetwork/parameters`` order: what the generation stores.
    let weights: [Float]

    /// Trains on `log` with `threads` threads, calling `onEpoch` after each epoch. Parameters out of range are
    /// brought into range here; refresh rejects them before.
    init(
        log: InteractionLog, parameters requested: Parameters, threads: Int = 2, name: String = "ncf",
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)? = nil
    ) {
        let p = requested.clamped
        self.name = name
        parameters = p
        let previousThreads = Parallel.threadCount
        Parallel.setThreadCount(max(1, threads))
        defer { Parallel.setThreadCount(previousThreads) }
        let data = TrainingPairs(log)
        var progress = EpochProgress(name: name, onEpoch: onEpoch)
        let network: NCFNetwork
        if p.variant == .neumf, p.pretrain {
            let gmf = Self.trainWithStopping(data, p, variant: .gmf, progress: &progress)
            let mlp = Self.trainWithStopping(data, p, variant: .mlp, progress: &progress)
            network = NCFNetwork(neuMFFrom: gmf.network, mlp: mlp.network, alpha: 0.5, seed: p.seed)
            let run = Self.trainWithStopping(data, p, variant: .neumf, start: network, progress: &progress)
            (epochsTrained, bestEpoch, bestValidationNDCG) = (run.epochs, run.best, run.ndcg)
        } else {
            let run = Self.trainWithStopping(data, p, variant: p.variant, progress: &progress)
            (epochsTrained, bestEpoch, bestValidationNDCG) = (run.epochs, run.best, run.ndcg)
            if p.refit, let best = run.best, !data.validation.isEmpty {
                // A fresh network, same seed, every pair, for the epochs that validated best.
                let fresh = NCFNetwork(p.configuration(users: data.userCount, items: data.itemCount, variant: p.variant))
                let trainer = NCFTrainer(network: fresh, users: data.allUsers, items: data.allItems, settings: p.settings)
                for _ in 0..<best { trainer.trainEpoch() }
                network = fresh
            } else {
                network = run.network
            }
        }
        scorer = NCFScorer(network: network)
        weights = network.weights
    }

    /// A model serving stored `weights` (a generation), nil when they do not fit `configuration`.
    init?(name: String, parameters: Parameters, configuration: NCFConfiguration, weights: [Float]) {
        let network = NCFNetwork(configuration)
        guard network.load(weights: weights) else { return nil }
        self.name = name
        self.parameters = parameters
        scorer = NCFScorer(network: network)
        self.weights = weights
    }

    // MARK: - Training

    /// A run of one variant with early stopping: the best epoch's network.
    private static func trainWithStopping(
        _ data: TrainingPairs, _ p: Parameters, variant: NCFConfiguration.Variant, start: NCFNetwork? = nil,
        progress: inout EpochProgress
    ) -> (network: NCFNetwork, epochs: Int, best: Int?, ndcg: Double?) {
        let network = start ?? NCFNetwork(p.configuration(users: data.userCount, items: data.itemCount, variant: variant))
        var settings = p.settings
        // The paper fine-tunes a pre-trained NeuMF more gently.
        if start != nil { settings.learningRate /= 10 }
        let trainer = NCFTrainer(network: network, users: data.trainUsers, items: data.trainItems, settings: settings)
        let run = EarlyStopping.run(
            parameters: network.parameters, maxEpochs: trainer.positiveCount > 0 ? p.epochs : 0, patience: p.patience,
            trainEpoch: { trainer.trainEpoch() },
            validate: data.validation.isEmpty ? nil : { data.validationNDCG(NCFScorer(network: network)) },
            onEpoch: { epoch in
                progress.report(
                    variant: variant, epoch: epoch.epoch, epochs: p.epochs, loss: epoch.loss,
                    ndcg: epoch.validationMetric, best: epoch.bestEpoch ?? epoch.epoch)
                return false
            })
        return (network, run.epochs, run.bestEpoch, run.bestMetric)
    }

    // MARK: - Scoring

    /// Scores every item for `user` (the network's logit); −∞ past the network's items, and for every item when
    /// the user is unknown to the network (a cold user gets nothing, so a chain falls through).
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        guard scorer.knows(user: Int(user)) else {
            scores.update(repeating: -.infinity)
            return
        }
        let n = scorer.configuration.itemCount
        if scores.count >= n {
            scorer.scores(user: Int(user), into: scores)
            if scores.count > n { UnsafeMutableBufferPointer(rebasing: scores[n...]).update(repeating: -.infinity) }
        } else {
            var all = [Float](repeating: 0, count: n)
            all.withUnsafeMutableBufferPointer { scorer.scores(user: Int(user), into: $0) }
            _ = scores.update(fromContentsOf: all[..<scores.count])
        }
    }
}

/// The positive pairs of a snapshot, split for validation: each user with at least three distinct items has the
/// item of their latest event held out.
struct TrainingPairs {
    var userCount = 0, itemCount = 0
    var allUsers: [Int32] = [], allItems: [Int32] = []
    var trainUsers: [Int32] = [], trainItems: [Int32] = []
    /// Held-out cases: the user, the held-out item, the items met in training (sorted).
    var validation: [(user: Int, target: Int, met: [Int32])] = []

    /// The most validation users scored per epoch (evenly spread), which bounds an epoch's validation cost.
    static let validationLimit = 2_000

    init(_ log: InteractionLog) {
        userCount = max(log.userLimit, 1)
        itemCount = max(log.itemLimit, 1)
        for (user, range) in log.userRanges() {
            var distinct: [Int32] = []
            var seen = Set<UInt32>()
            var latest: UInt32?
            for i in range where log.weights[i] > 0 {
                latest = log.items[i]
                if seen.insert(log.items[i]).inserted { distinct.append(Int32(log.items[i])) }
            }
            for item in distinct {
                allUsers.append(Int32(user))
                allItems.append(item)
            }
            if distinct.count >= 3, let latest {
                let met = distinct.filter { $0 != Int32(latest) }
                for item in met {
                    trainUsers.append(Int32(user))
                    trainItems.append(item)
                }
                validation.append((Int(user), Int(latest), met.sorted()))
            } else {
                for item in distinct {
                    trainUsers.append(Int32(user))
                    trainItems.append(item)
                }
            }
        }
        if validation.count > Self.validationLimit {
            let step = Double(validation.count) / Double(Self.validationLimit)
            validation = (0..<Self.validationLimit).map { validation[Int(Double($0) * step)] }
        }
    }

    /// Mean NDCG@10 of the held-out items, each ranked against every item the user did not meet in training.
    func validationNDCG(_ scorer: NCFScorer) -> Double {
        var scores = [Float](repeating: 0, count: scorer.configuration.itemCount)
        var total = 0.0
        for c in validation {
            scores.withUnsafeMutableBufferPointer { scorer.scores(user: c.user, into: $0) }
            let target = scores[c.target]
            var rank = 0
            for item in 0..<scores.count where scores[item] > target {
                if c.met.withUnsafeBufferPointer({ binarySearch($0, Int32(item)) }) { continue }
                rank += 1
                if rank >= 10 { break }
            }
            if rank < 10 { total += 1 / log2(Double(rank) + 2) }
        }
        return total / Double(max(validation.count, 1))
    }

    private func binarySearch(_ sorted: UnsafeBufferPointer<Int32>, _ value: Int32) -> Bool {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < sorted.count && sorted[low] == value
    }
}

/// Epoch reports across the runs of one refresh (pre-training runs included), named `ncf/gmf`, `ncf/mlp`… when a
/// refresh trains several.
struct EpochProgress {
    let name: String
    let onEpoch: (@Sendable (TrainingEpochReport) -> Void)?
    let started = Date()
    var epochsSoFar = 0

    mutating func report(
        variant: NCFConfiguration.Variant, epoch: Int, epochs: Int, loss: Float, ndcg: Double?, best: Int
    ) {
        epochsSoFar += 1
        let elapsed = Date().timeIntervalSince(started)
        onEpoch?(
            TrainingEpochReport(
                model: "\(name)/\(variant.rawValue)", epoch: epoch, epochs: epochs, loss: Double(loss),
                validationNDCG: ndcg, bestEpoch: best, elapsedSeconds: elapsed,
                etaSeconds: elapsed / Double(epochsSoFar) * Double(epochs - epoch)))
    }
}
