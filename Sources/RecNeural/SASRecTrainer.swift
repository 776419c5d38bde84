import Foundation

/// Trains a `SASRecNetwork` on item sequences: each sequence's last `maxLength + 1` items, where every position
/// predicts the next item, with the configured loss, AdamW, global-norm clipping and a learning-rate schedule.
/// Sequences of a batch are packed several to a row (see `Settings.packsSequences`) or left-padded one per row. One
/// tape is reused across steps, so a steady-state step allocates nothing in the arena.
public final class SASRecTrainer {
    /// Optimisation settings.
    public struct Settings: Sendable {
        /// Sequences per batch.
        public var batchSize = 128
        /// The learning-rate schedule over all steps of the run.
        public var schedule: LearningRateSchedule
        /// Decoupled weight decay (AdamW) on matrices; 0 for plain Adam.
        public var weightDecay: Float = 0
        /// The global gradient norm is clipped to this (nil: no clipping).
        public var maxGradientNorm: Float? = 5
        /// Seed for shuffling, dropout and negatives.
        public var seed: UInt64 = 1
        /// Whether a batch's sequences are packed end to end into rows of `maxLength` (attention kept within each
        /// sequence) instead of one left-padded row each: the same loss and gradients without the padding's work,
        /// which dominates on short histories (default on).
        public var packsSequences = true

        /// Settings with `schedule` and the defaults above.
        public init(schedule: LearningRateSchedule) {
            self.schedule = schedule
        }
    }

    /// The network trained (updated in place).
    public let network: SASRecNetwork
    /// The settings.
    public let settings: Settings
    let sequences: [[Int32]]
    let optimizer: AdamOptimizer
    let tape: Tape
    var batches: MiniBatches
    var sampler: PopularitySampler
    var generator: SeededGenerator
    /// Optimizer steps taken.
    public private(set) var step = 0
    private var packer = SequencePacker()

    /// A trainer over `sequences` (item ids 1...itemCount, oldest first); sequences of one item teach nothing and
    /// are skipped.
    public init(network: SASRecNetwork, sequences: [[Int32]], settings: Settings) {
        self.network = network
        self.settings = settings
        self.sequences = sequences.filter { $0.count >= 2 }
        optimizer = AdamOptimizer(parameters: network.parameters, variant: .adamW, beta1: 0.9, beta2: 0.98,
            weightDecay: settings.weightDecay)
        tape = Tape(seed: settings.seed)
        batches = MiniBatches(count: self.sequences.count, batchSize: settings.batchSize, seed: settings.seed)
        sampler = PopularitySampler(sequences: self.sequences, itemCount: network.configuration.itemCount)
        generator = SeededGenerator(seed: settings.seed ^ 0x5A5A)
    }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int { batches.batchCount }

    /// How many times the tape's arena took memory from the system (steady once warm).
    public var arenaAllocations: Int { tape.systemAllocations }

    /// One pass over the sequences in a new shuffled order; returns the mean training loss.
    @discardableResult
    public func trainEpoch() -> Float {
        batches.shuffle()
        var total: Double = 0
        for b in 0..<batches.batchCount {
            total += Double(trainStep(batches.batch(b)))
        }
        return Float(total / Double(max(batches.batchCount, 1)))
    }

    /// One optimizer step on the sequences at `indices`; returns the loss.
    @discardableResult
    public func trainStep(_ indices: ArraySlice<Int>) -> Float {
        let configuration = network.configuration
        let length = configuration.maxLength, d = configuration.dimension
        tape.reset()
        tape.isTraining = true
        let rows = settings.packsSequences
            ? packer.pack(lengths: indices.lazy.map { min(self.sequences[$0].count - 1, length) }, rowLength: length)
            : indices.count
        let slots = rows * length
        let inputs = tape.scratchIntegers(slots), targets = tape.scratchIntegers(slots)
        let positions = tape.scratchIntegers(slots), segments = tape.scratchIntegers(slots)
        let weights = tape.scratchFloats(slots)
        inputs.update(repeating: 0)
        targets.update(repeating: 0)
        positions.update(repeating: 0)
        segments.update(repeating: 0)
        // Each sequence goes to (row, first slot): its own row, right-aligned, or the packed place found above.
        for (b, index) in indices.enumerated() {
            let sequence = sequences[index]
            let n = min(sequence.count - 1, length)
            let start = sequence.count - 1 - n
            let place = settings.packsSequences ? packer.places[b] : (row: b, slot: length - n, segment: 1)
            for t in 0..<n {
                let slot = place.row * length + place.slot + t
                inputs[slot] = sequence[start + t]
                targets[slot] = sequence[start + t + 1]
                positions[slot] = Int32(length - n + t)
                segments[slot] = Int32(place.segment)
            }
        }
        for i in 0..<slots { weights[i] = targets[i] == 0 ? 0 : 1 }
        let states = settings.packsSequences
            ? network.hidden(tape, packedItems: UnsafeBufferPointer(inputs), positions: UnsafeBufferPointer(positions),
                segments: UnsafeBufferPointer(segments), rows: rows)
            : network.hidden(tape, items: UnsafeBufferPointer(inputs), batch: rows)
        let hidden = tape.reshape(states, Shape(slots, d))
        let loss = self.loss(hidden, rows: slots, targets: targets, weights: weights)
        tape.backward(loss)
        if let maxNorm = settings.maxGradientNorm { clipGradientNorm(network.parameters, maxNorm: maxNorm) }
        optimizer.step(learningRate: settings.schedule.rate(atStep: step))
        optimizer.zeroGradients()
        step += 1
        return tape.scalar(loss)
    }

    private func loss(
        _ hidden: Variable, rows: Int, targets: UnsafeMutableBufferPointer<Int32>,
        weights: UnsafeMutableBufferPointer<Float>
    ) -> Variable {
        let table = network.itemEmbedding
        let itemCount = network.configuration.itemCount
        switch network.configuration.loss {
        case .fullSoftmax:
            let logits = tape.matmul(hidden, tape.parameter(table), transposeB: true)
            return tape.softmaxCrossEntropy(logits: logits, targets: UnsafeBufferPointer(targets),
                weights: UnsafeBufferPointer(weights))
        case .binaryCrossEntropy:
            let negatives = tape.scratchIntegers(rows)
            for i in 0..<rows {
                var n = Int32.random(in: 1...Int32(itemCount), using: &generator)
                while n == targets[i] && itemCount > 1 { n = Int32.random(in: 1...Int32(itemCount), using: &generator) }
                negatives[i] = n
            }
            let positive = tape.rowwiseDot(hidden, tape.gather(table, rows: UnsafeBufferPointer(targets)))
            let negative = tape.rowwiseDot(hidden, tape.gather(table, rows: UnsafeBufferPointer(negatives)))
            let ones = tape.scratchFloats(rows), zeros = tape.scratchFloats(rows)
            ones.update(repeating: 1)
            zeros.update(repeating: 0)
            return tape.add(
                tape.binaryCrossEntropy(logits: positive, targets: UnsafeBufferPointer(ones),
                    weights: UnsafeBufferPointer(weights)),
                tape.binaryCrossEntropy(logits: negative, targets: UnsafeBufferPointer(zeros),
                    weights: UnsafeBufferPointer(weights)))
        case .sampledSoftmax(let count):
            let negativeIDs = tape.scratchIntegers(count), negativeLogQ = tape.scratchFloats(count)
            for s in 0..<count {
                let item = sampler.sample(using: &generator)
                negativeIDs[s] = item
                negativeLogQ[s] = sampler.logProbability(item)
            }
            let positiveLogQ = tape.scratchFloats(rows)
            for i in 0..<rows { positiveLogQ[i] = sampler.logProbability(targets[i]) }
            let positive = tape.rowwiseDot(hidden, tape.gather(table, rows: UnsafeBufferPointer(targets)))
            let negatives = tape.matmul(hidden, tape.gather(table, rows: UnsafeBufferPointer(negativeIDs)),
                transposeB: true)
            return tape.sampledSoftmax(positive: positive, negatives: negatives,
                positiveIDs: UnsafeBufferPointer(targets), negativeIDs: UnsafeBufferPointer(negativeIDs),
                positiveLogQ: UnsafeBufferPointer(positiveLogQ), negativeLogQ: UnsafeBufferPointer(negativeLogQ),
                weights: UnsafeBufferPointer(weights))
        }
    }
}

/// Draws items in proportion to their count in the training sequences (each item counted at least once), and gives
/// log q(item) for the logQ correction.
struct PopularitySampler {
    private var cumulative: [Double]
    private var logProbabilities: [Float]

    init(sequences: [[Int32]], itemCount: Int) {
        var counts = [Double](repeating: 1, count: itemCount + 1)
        counts[0] = 0
        for sequence in sequences { for item in sequence where item > 0 && Int(item) <= itemCount { counts[Int(item)] += 1 } }
        let total = counts.reduce(0, +)
        logProbabilities = counts.map { $0 > 0 ? Float(log($0 / total)) : -.infinity }
        var running: Double = 0
        cumulative = counts.map { running += $0 / total; return running }
    }

    func sample(using generator: inout SeededGenerator) -> Int32 {
        let u = Double(generator.next() >> 11) * 0x1p-53
        var low = 1, high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > u { high = mid } else { low = mid + 1 }
        }
        return Int32(low)
    }

    func logProbability(_ item: Int32) -> Float { logProbabilities[Int(item)] }
}
