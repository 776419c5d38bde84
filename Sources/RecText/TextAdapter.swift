import Foundation
import RecDB
import RecNeural

/// A learned linear adapter on frozen MiniLM item vectors: `adapted(x) = (x + x·W) / ‖x + x·W‖`, with `W` (d × d,
/// zero at the start, so an untrained adapter is the identity) trained so that items one user met one after the
/// other come out closer than the other items of the batch (InfoNCE with in-batch negatives, on the training
/// tape with Adam). Trained on the training log only; items without a vector keep none.
struct TextAdapter: Sendable, Equatable {
    /// The vectors' dimension.
    let dimension: Int
    /// `W`, row-major d × d.
    let weights: [Float]

    /// How the adapter trains.
    struct Settings: Sendable, Hashable {
        var epochs = 3
        var batchSize = 256
        var learningRate: Float = 1e-3
        var temperature: Float = 0.05
        var weightDecay: Float = 1e-4
        var seed: UInt64 = 42
        /// The most co-interaction pairs read (the first ones per user order, before shuffling).
        var maxPairs = 500_000
        /// Pairs join items at most this many places apart in a user's sequence (1: consecutive items only).
        var window = 1
        /// Hard negatives per anchor: one of the anchor's nearest items by the frozen vectors that the anchor never
        /// met in a pair, added to the batch's in-batch negatives (0: in-batch negatives only).
        var hardNegatives = 0
    }

    /// Frozen-vector neighbours searched per item for hard negatives.
    static let hardNeighbours = 10

    /// The adapted unit vector of `x` (`dimension` floats).
    func adapt(_ x: [Float]) -> [Float] {
        let d = dimension
        guard x.count == d, weights.count == d * d else { return x }
        var y = x
        for i in 0..<d where x[i] != 0 {
            let xi = x[i], row = i * d
            for j in 0..<d { y[j] += xi * weights[row + j] }
        }
        let norm = sqrt(y.reduce(0) { $0 + $1 * $1 })
        return norm > 0 ? y.map { $0 / norm } : y
    }

    /// Row-major `itemVectors` adapted row by row (zero rows stay zero).
    func adaptAll(_ itemVectors: [Float]) -> [Float] {
        let d = dimension
        var out = itemVectors
        for row in 0..<(itemVectors.count / max(d, 1)) {
            let x = Array(itemVectors[row * d..<(row + 1) * d])
            guard x.contains(where: { $0 != 0 }) else { continue }
            out.replaceSubrange(row * d..<(row + 1) * d, with: adapt(x))
        }
        return out
    }

    /// Positive pairs: per user in `log`, each item (with a vector) and each of the next `window` items after it in
    /// the user's order (consecutive repeats collapsed; never an item with itself).
    static func pairs(_ log: InteractionLog, hasVector: [Bool], limit: Int, window: Int = 1) -> [(UInt32, UInt32)] {
        var pairs: [(UInt32, UInt32)] = []
        for (_, range) in log.userRanges() {
            var sequence: [UInt32] = []
            for index in range where log.weights[index] > 0 {
                let item = log.items[index]
                guard Int(item) < hasVector.count, hasVector[Int(item)], sequence.last != item else { continue }
                sequence.append(item)
            }
            for (i, anchor) in sequence.enumerated() {
                for j in (i + 1)..<min(sequence.count, i + 1 + max(1, window)) where sequence[j] != anchor {
                    pairs.append((anchor, sequence[j]))
                    if pairs.count >= limit { return pairs }
                }
            }
        }
        return pairs
    }

    /// Each item's ``hardNeighbours`` nearest items by inner product of the frozen row-major `itemVectors` that it
    /// never met in `pairs` (either order); empty for items without a vector.
    static func hardCandidates(
        itemVectors: [Float], hasVector: [Bool], dimension d: Int, pairs: [(UInt32, UInt32)]
    ) -> [[UInt32]] {
        var partners = [Set<UInt32>](repeating: [], count: hasVector.count)
        for (a, b) in pairs {
            partners[Int(a)].insert(b)
            partners[Int(b)].insert(a)
        }
        let rows = (0..<hasVector.count).filter { $0 * d + d <= itemVectors.count && hasVector[$0] }
        var result = [[UInt32]](repeating: [], count: hasVector.count)
        itemVectors.withUnsafeBufferPointer { v in
            for a in rows {
                var best: [(score: Float, item: Int)] = []
                for b in rows where b != a && !partners[a].contains(UInt32(b)) {
                    let score = VectorKernels.dot(v.baseAddress! + a * d, v.baseAddress! + b * d, d)
                    if best.count < hardNeighbours || score > best[best.count - 1].score {
                        let at = best.firstIndex { $0.score < score } ?? best.count
                        best.insert((score, b), at: at)
                        if best.count > hardNeighbours { best.removeLast() }
                    }
                }
                result[a] = best.map { UInt32($0.item) }
            }
        }
        return result
    }

    /// Trains `W` on the co-interaction pairs of `log` over row-major `itemVectors`; returns the adapter and the
    /// mean loss of each epoch.
    static func train(
        itemVectors: [Float], hasVector: [Bool], dimension d: Int, log: InteractionLog, settings: Settings
    ) -> (adapter: TextAdapter, losses: [Float]) {
        var pairs = Self.pairs(log, hasVector: hasVector, limit: settings.maxPairs, window: settings.window)
        let hard = settings.hardNegatives > 0
            ? hardCandidates(itemVectors: itemVectors, hasVector: hasVector, dimension: d, pairs: pairs) : []
        let w = Parameter("text_adapter.weight", shape: Shape(d, d))
        let optimizer = AdamOptimizer(parameters: [w], variant: .adamW, weightDecay: settings.weightDecay)
        let tape = Tape(seed: settings.seed)
        var generator = SeededGenerator(seed: settings.seed)
        var losses: [Float] = []
        let batchSize = max(2, settings.batchSize)
        for _ in 0..<max(0, settings.epochs) where pairs.count >= 2 {
            pairs.shuffle(using: &generator)
            var total: Float = 0, batches = 0
            for start in stride(from: 0, to: pairs.count, by: batchSize) {
                let batch = pairs[start..<min(pairs.count, start + batchSize)]
                guard batch.count >= 2 else { continue }
                tape.reset()
                let b = batch.count
                func rows(_ side: (UInt32, UInt32) -> UInt32) -> Variable {
                    tape.constant(shape: Shape(b, d)) { buffer in
                        for (r, pair) in batch.enumerated() {
                            let offset = Int(side(pair.0, pair.1)) * d
                            for k in 0..<d { buffer[r * d + k] = itemVectors[offset + k] }
                        }
                    }
                }
                let anchors = rows { a, _ in a }, positives = rows { _, p in p }
                let weight = tape.parameter(w)
                let adaptedAnchors = tape.add(anchors, tape.matmul(anchors, weight))
                let adaptedPositives = tape.add(positives, tape.matmul(positives, weight))
                var similarities = tape.matmul(adaptedAnchors, adaptedPositives, transposeB: true)
                for _ in 0..<max(0, settings.hardNegatives) {
                    // One hard negative per anchor, drawn among its nearest never-met items; every anchor sees them all.
                    let negatives = batch.map { pair -> UInt32 in
                        let candidates = hard[Int(pair.0)]
                        return candidates.isEmpty ? pair.1 : candidates[Int.random(in: 0..<candidates.count, using: &generator)]
                    }
                    let negativeRows = tape.constant(shape: Shape(b, d)) { buffer in
                        for (r, item) in negatives.enumerated() {
                            let offset = Int(item) * d
                            for k in 0..<d { buffer[r * d + k] = itemVectors[offset + k] }
                        }
                    }
                    let adapted = tape.add(negativeRows, tape.matmul(negativeRows, weight))
                    similarities = tape.concatenate(similarities, tape.matmul(adaptedAnchors, adapted, transposeB: true))
                }
                let logits = tape.scale(similarities, 1 / settings.temperature)
                let targets = tape.scratchIntegers(b)
                for r in 0..<b { targets[r] = Int32(r) }
                let loss = tape.softmaxCrossEntropy(logits: logits, targets: UnsafeBufferPointer(targets))
                total += tape.scalar(loss)
                batches += 1
                tape.backward(loss)
                optimizer.step(learningRate: settings.learningRate)
                optimizer.zeroGradients()
            }
            losses.append(total / Float(max(batches, 1)))
        }
        return (TextAdapter(dimension: d, weights: Array(w.value)), losses)
    }
}
