import Foundation
import RecNeural

/// SASRec (Kang & McAuley 2018), the sequential transformer of the training core (`RecNeural`), as a RecDB model.
///
/// Each user's events in time order (ties by sequence; every event type counts as a step) are a sequence of items;
/// the network learns to predict each next item. Refresh holds out each user's last item (users with at least three
/// events) for validation, trains epoch by epoch, measures NDCG@10 on those items after each epoch, stops when it has
/// not improved for `patience` epochs and keeps the best epoch's weights; `finalPass` then runs one more epoch over
/// the whole sequences (held-out items included) at a tenth of the learning rate. At request time a history's latest
/// `maxLength` items are encoded by one forward pass into a query vector, scored against the item embeddings.
public final class SASRecModel: Recommender, Sendable {
    /// Training hyperparameters; `init()` gives the defaults listed on each field.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Embedding and hidden width (default 64).
        public var dimension = 64
        /// Transformer blocks (default 2).
        public var blocks = 2
        /// Attention heads; must divide `dimension` (default 1).
        public var heads = 1
        /// The most recent items of a history that are read, 1 to ``UserHistory/window`` (default 50).
        public var maxLength = 50
        /// Dropout rate in training, in [0, 1) (default 0.2).
        public var dropout: Float = 0.2
        /// Dropout on the attention probabilities in training, in [0, 1) (default 0).
        public var attentionDropout: Float = 0
        /// Negatives of the sampled softmax, drawn by popularity with logQ correction; 0 trains with the full
        /// softmax over every item (default 256).
        public var negatives = 256
        /// The most epochs a refresh trains (default 200; early stopping usually ends it sooner).
        public var epochs = 200
        /// Adam's learning rate (default 0.001): constant, or with ``cosineDecay`` its peak.
        public var learningRate: Float = 0.001
        /// Whether the learning rate falls along half a cosine to 0 over `epochs` epochs instead of staying constant
        /// (default off). On Amazon Sports the validated best SASRec trained this way (README, *SASRec on Amazon
        /// Sports*).
        public var cosineDecay = false
        /// Sequences per batch (default 128).
        public var batchSize = 128
        /// Decoupled weight decay (AdamW) on the blocks' matrices; 0 for plain Adam (default 0).
        public var weightDecay: Float = 0
        /// Epochs without a better validation NDCG@10 before training stops (default 5).
        public var patience = 5
        /// After restoring the best epoch, one more epoch over the whole sequences at a tenth of the learning rate
        /// (default off: the held-out items still reach serving as input).
        public var finalPass = false
        /// Seed of initialisation, shuffling, dropout and negatives (default 42).
        public var seed: UInt64 = 42

        /// The defaults.
        public init() {}

        /// Throws `invalidArgument` naming the first parameter out of range.
        public func validate() throws {
            func check(_ ok: Bool, _ name: String, _ value: Any, _ range: String) throws {
                guard ok else {
                    throw RecDBError(.invalidArgument, "sasrec parameter \(name) is \(value); it must be \(range)")
                }
            }
            try check((1...1024).contains(dimension), "dimension", dimension, "1 to 1024")
            try check((1...16).contains(blocks), "blocks", blocks, "1 to 16")
            let divides = heads >= 1 && heads <= dimension && dimension % heads == 0
            try check(divides, "heads", heads, "a divisor of the dimension")
            let window = UserHistory.window
            try check((1...window).contains(maxLength), "max_length", maxLength, "1 to \(window)")
            try check(dropout >= 0 && dropout < 1, "dropout", dropout, "in [0, 1)")
            try check(attentionDropout >= 0 && attentionDropout < 1, "attention_dropout", attentionDropout, "in [0, 1)")
            try check((0...100_000).contains(negatives), "negatives", negatives, "0 (full softmax) to 100,000")
            try check((1...100_000).contains(epochs), "epochs", epochs, "1 to 100,000")
            try check(learningRate > 0 && learningRate <= 1, "learning_rate", learningRate, "in (0, 1]")
            try check((1...65_536).contains(batchSize), "batch_size", batchSize, "1 to 65,536")
            try check(weightDecay >= 0 && weightDecay <= 1, "weight_decay", weightDecay, "in [0, 1]")
            try check((1...100_000).contains(patience), "patience", patience, "1 to 100,000")
        }

        /// The network's configuration for `itemCount` items.
        func configuration(itemCount: Int) -> SASRecConfiguration {
            var c = SASRecConfiguration(itemCount: itemCount)
            c.dimension = dimension
            c.blocks = blocks
            c.heads = heads
            c.maxLength = maxLength
            c.dropout = dropout
            c.attentionDropout = attentionDropout
            c.loss = negatives > 0 ? .sampledSoftmax(negatives: negatives) : .fullSoftmax
            c.seed = seed
            return c
        }
    }

    /// The model's name in reports.
    public let name: String
    /// The parameters it was trained with (serving: those of the record).
    public let parameters: Parameters
    /// Epochs trained before early stopping (0 when loaded from storage).
    public let epochsTrained: Int
    /// The epoch (from 1) whose weights were kept; nil without validation.
    public let bestEpoch: Int?
    /// That epoch's validation NDCG@10.
    public let bestValidationNDCG: Double?
    /// The trained network, frozen: shared by every request, each encoding on its own `SASRecEncoder`.
    let weights: SASRecWeights

    /// The network's item count: internal item ids `0..<itemCount` are rows `1...itemCount` of its tables.
    var itemCount: Int { weights.configuration.itemCount }

    /// Trains on `log` with `threads` threads, calling `onEpoch` after each epoch. Parameters out of range (see
    /// ``Parameters/validate()``) are brought into range here; refresh rejects them before.
    init(
        log: InteractionLog, parameters requested: Parameters, threads: Int = 2, name: String = "sasrec",
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)? = nil
    ) {
        let parameters = Self.clamped(requested)
        self.name = name
        self.parameters = parameters
        let itemCount = max(log.itemLimit, 1)
        let network = SASRecNetwork(parameters.configuration(itemCount: itemCount))
        let previousThreads = Parallel.threadCount
        Parallel.setThreadCount(max(1, threads))
        defer { Parallel.setThreadCount(previousThreads) }
        let run = Self.train(
            network, Self.sequences(log, itemCount: itemCount), parameters: parameters, name: name, onEpoch: onEpoch)
        (epochsTrained, bestEpoch, bestValidationNDCG) = (run.epochs, run.bestEpoch, run.bestMetric)
        weights = SASRecWeights(network)
    }

    /// A model serving `network` (a stored generation).
    init(name: String, parameters: Parameters, network: SASRecNetwork) {
        self.name = name
        self.parameters = parameters
        weights = SASRecWeights(network)
        (epochsTrained, bestEpoch, bestValidationNDCG) = (0, nil, nil)
    }

    // MARK: - Training

    /// Each user's items in time order, as network ids (internal id + 1); items past `itemCount` are skipped.
    static func sequences(_ log: InteractionLog, itemCount: Int) -> [[Int32]] {
        var sequences: [[Int32]] = []
        for (_, range) in log.userRanges() {
            var sequence: [Int32] = []
            sequence.reserveCapacity(range.count)
            for i in range where Int(log.items[i]) < itemCount { sequence.append(Int32(log.items[i]) + 1) }
            if !sequence.isEmpty { sequences.append(sequence) }
        }
        return sequences
    }

    /// The most validation users scored per epoch (evenly spread over all), which bounds an epoch's validation cost.
    static let validationLimit = 10_000

    /// Trains `network` with early stopping on the users' last items, then the optional final pass.
    private static func train(
        _ network: SASRecNetwork, _ sequences: [[Int32]], parameters: Parameters, name: String,
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)?
    ) -> EarlyStoppedRun {
        var training: [[Int32]] = []
        var validation: [(input: [Int32], target: Int32)] = []
        for sequence in sequences {
            if sequence.count >= 3 {
                training.append(Array(sequence.dropLast()))
                validation.append((Array(sequence.dropLast()), sequence[sequence.count - 1]))
            } else {
                training.append(sequence)
            }
        }
        if validation.count > Self.validationLimit {
            let step = Double(validation.count) / Double(Self.validationLimit)
            validation = (0..<Self.validationLimit).map { validation[Int(Double($0) * step)] }
        }
        let trainer = makeTrainer(network, training, parameters: parameters, learningRate: parameters.learningRate)
        let evaluationTape = Tape(isTraining: false)
        let started = Date()
        let run = EarlyStopping.run(
            parameters: network.parameters, maxEpochs: trainer.batchesPerEpoch > 0 ? parameters.epochs : 0,
            patience: parameters.patience, trainEpoch: { trainer.trainEpoch() },
            validate: validation.isEmpty ? nil : { validationNDCG(network, validation, tape: evaluationTape) },
            onEpoch: { epoch in
                let elapsed = Date().timeIntervalSince(started)
                onEpoch?(
                    TrainingEpochReport(
                        model: name, epoch: epoch.epoch, epochs: parameters.epochs, loss: Double(epoch.loss),
                        validationNDCG: epoch.validationMetric, bestEpoch: epoch.bestEpoch ?? epoch.epoch,
                        elapsedSeconds: elapsed,
                        etaSeconds: elapsed / Double(epoch.epoch) * Double(parameters.epochs - epoch.epoch)))
                return false
            })
        if parameters.finalPass, !validation.isEmpty {
            let final = makeTrainer(
                network, sequences, parameters: parameters, learningRate: parameters.learningRate / 10)
            if final.batchesPerEpoch > 0 { final.trainEpoch() }
        }
        return run
    }

    private static func makeTrainer(
        _ network: SASRecNetwork, _ sequences: [[Int32]], parameters: Parameters, learningRate: Float
    ) -> SASRecTrainer {
        let batches = max(1, (sequences.count + parameters.batchSize - 1) / parameters.batchSize)
        var settings = SASRecTrainer.Settings(
            schedule: LearningRateSchedule(
                peak: learningRate, totalSteps: batches * parameters.epochs,
                decay: parameters.cosineDecay ? .cosine : .constant))
        settings.batchSize = parameters.batchSize
        settings.weightDecay = parameters.weightDecay
        settings.seed = parameters.seed
        return SASRecTrainer(network: network, sequences: sequences, settings: settings)
    }

    /// Mean NDCG@10 of the held-out `target`s, each ranked against every item not in its `input` (the items the
    /// user met, which serving leaves out), scored in batches by one forward pass without dropout.
    static func validationNDCG(
        _ network: SASRecNetwork, _ cases: [(input: [Int32], target: Int32)], tape: Tape
    ) -> Double {
        let configuration = network.configuration
        let length = configuration.maxLength, d = configuration.dimension, rows = configuration.itemCount + 1
        let batch = 128
        var total = 0.0
        for start in stride(from: 0, to: cases.count, by: batch) {
            let part = cases[start..<min(cases.count, start + batch)]
            tape.reset()
            let ids = tape.scratchIntegers(part.count * length)
            ids.update(repeating: 0)
            for (b, c) in part.enumerated() {
                let recent = c.input.suffix(length)
                for (t, item) in recent.enumerated() { ids[b * length + length - recent.count + t] = item }
            }
            let hidden = tape.values(of: network.hidden(tape, items: UnsafeBufferPointer(ids), batch: part.count))
            let last = tape.constant(shape: Shape(part.count, d)) { out in
                for b in 0..<part.count {
                    for k in 0..<d { out[b * d + k] = hidden[(b * length + length - 1) * d + k] }
                }
            }
            let scores = tape.values(of: tape.matmul(last, tape.parameter(network.itemEmbedding), transposeB: true))
            for (b, c) in part.enumerated() {
                let row = scores.baseAddress! + b * rows
                let target = row[Int(c.target)]
                var seen: Set<Int32>?
                var rank = 0
                for item in 1..<rows where row[item] > target {
                    if seen == nil { seen = Set(c.input) }
                    if !seen!.contains(Int32(item)) { rank += 1 }
                    if rank >= 10 { break }
                }
                if rank < 10 { total += 1 / log2(Double(rank) + 2) }
            }
        }
        return total / Double(max(cases.count, 1))
    }

    /// `parameters` brought into the ranges ``Parameters/validate()`` checks (for callers that cannot throw).
    static func clamped(_ parameters: Parameters) -> Parameters {
        var p = parameters
        p.dimension = min(max(p.dimension, 1), 1024)
        p.blocks = min(max(p.blocks, 1), 16)
        if p.heads < 1 || p.dimension % p.heads != 0 { p.heads = 1 }
        p.maxLength = min(max(p.maxLength, 1), UserHistory.window)
        if !(p.dropout >= 0 && p.dropout < 1) { p.dropout = 0 }
        p.negatives = min(max(p.negatives, 0), 100_000)
        p.epochs = min(max(p.epochs, 1), 100_000)
        if !(p.learningRate > 0 && p.learningRate <= 1) { p.learningRate = 0.001 }
        p.batchSize = min(max(p.batchSize, 1), 65_536)
        if !(p.weightDecay >= 0 && p.weightDecay <= 1) { p.weightDecay = 0 }
        p.patience = min(max(p.patience, 1), 100_000)
        return p
    }

    // MARK: - Scoring

    /// The network input for a history given newest first: the newest `maxLength` items the network knows, oldest
    /// first, as network ids.
    static func input(newestFirst items: some Sequence<UInt32>, maxLength: Int, itemCount: Int) -> [Int32] {
        var input: [Int32] = []
        for item in items where Int(item) < itemCount {
            input.append(Int32(item) + 1)
            if input.count >= maxLength { break }
        }
        return input.reversed()
    }

    /// The query vector of `input` (network ids, oldest first) and the final position's attention over its items.
    func encode(_ input: [Int32]) -> (query: [Float], attention: [Float]) {
        let encoder = SASRecEncoder(weights: weights)
        let query = encoder.encode(input)
        return (query, Array(encoder.finalAttention().suffix(input.count)))
    }

    /// Scores every item for the user's newest events (the query · each item's embedding); −∞ for items the
    /// network does not know, and for every item when the history is empty (a cold user gets nothing).
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        let input = Self.input(
            newestFirst: history.recent.lazy.map(\.itemID), maxLength: weights.configuration.maxLength,
            itemCount: itemCount)
        guard !input.isEmpty else {
            scores.update(repeating: -.infinity)
            return
        }
        let query = encode(input).query
        let d = query.count, table = weights.itemEmbeddings
        for item in 0..<scores.count {
            guard item < itemCount else {
                scores[item] = -.infinity
                continue
            }
            var dot: Float = 0
            for k in 0..<d { dot += query[k] * table[(item + 1) * d + k] }
            scores[item] = dot
        }
    }

    /// The item's output embedding.
    public func itemVector(_ item: UInt32) -> [Float]? {
        guard Int(item) < itemCount else { return nil }
        let d = parameters.dimension
        return Array(weights.values[(Int(item) + 1) * d..<(Int(item) + 2) * d])
    }

    /// The item embeddings of internal ids `0..<itemCount`, row-major (the space's vectors).
    var itemEmbeddings: [Float] {
        let d = parameters.dimension
        return Array(weights.itemEmbeddings[d...])
    }


    /// Floats of every weight except the item table's, for a network of this shape.
    static func fixedWeightCount(dimension d: Int, blocks: Int, maxLength: Int) -> Int {
        maxLength * d + blocks * (6 * d * d + 10 * d) + 2 * d
    }
}
