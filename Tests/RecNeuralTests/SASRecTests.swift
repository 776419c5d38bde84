import Foundation
import Testing
@testable import RecNeural

/// SASRec learns a synthetic next-item task, deterministically, and encodes histories at request time.
@Suite struct SASRecTests {
    static let itemCount = 20

    /// Cyclic sequences: each user starts at a random item and steps +1 (mod 20); 10 % of items are random noise.
    static func cyclicSequences(users: Int, seed: UInt64) -> [[Int32]] {
        var g = SeededGenerator(seed: seed)
        return (0..<users).map { _ in
            let start = Int(g.next() % UInt64(itemCount))
            let length = 8 + Int(g.next() % 10)
            return (0..<length).map { t in
                g.nextUniform() < 0.1 ? Int32(1 + g.next() % UInt64(itemCount)) : Int32(1 + (start + t) % itemCount)
            }
        }
    }

    static func configuration(_ loss: SASRecConfiguration.Loss) -> SASRecConfiguration {
        var c = SASRecConfiguration(itemCount: itemCount)
        c.dimension = 32
        c.heads = 2
        c.maxLength = 10
        c.dropout = 0.1
        c.loss = loss
        c.seed = 11
        return c
    }

    static func train(
        _ loss: SASRecConfiguration.Loss, epochs: Int, check: ((SASRecTrainer) -> Void)? = nil
    ) -> (SASRecNetwork, [Float]) {
        let sequences = cyclicSequences(users: 256, seed: 5)
        let network = SASRecNetwork(configuration(loss))
        var settings = SASRecTrainer.Settings(
            schedule: LearningRateSchedule(peak: 5e-3, warmupSteps: 5, totalSteps: epochs * 8, decay: .cosine))
        settings.batchSize = 32
        settings.weightDecay = 0.01
        let trainer = SASRecTrainer(network: network, sequences: sequences, settings: settings)
        let clock = ContinuousClock()
        let start = clock.now
        let losses = (0..<epochs).map { _ in trainer.trainEpoch() }
        let seconds = (clock.now - start) / .seconds(1)
        print("SASRec toy \(loss): \(trainer.step) steps, \(Int(Double(trainer.step) / seconds)) steps/s")
        check?(trainer)
        return (network, losses)
    }

    /// Top-1 accuracy of the next item after clean cyclic histories; chance is 1/20.
    static func accuracy(_ network: SASRecNetwork) -> Double {
        let encoder = SASRecEncoder(network: network)
        var correct = 0
        for start in 0..<itemCount {
            let history = (0..<7).map { Int32(1 + (start + $0) % itemCount) }
            if encoder.topItem(for: encoder.encode(history)) == Int32(1 + (start + 7) % itemCount) { correct += 1 }
        }
        return Double(correct) / Double(itemCount)
    }

    @Test(arguments: [SASRecConfiguration.Loss.sampledSoftmax(negatives: 8), .fullSoftmax, .binaryCrossEntropy])
    func learnsCyclicSequences(loss: SASRecConfiguration.Loss) {
        let (network, losses) = Self.train(loss, epochs: 8)
        let accuracy = Self.accuracy(network)
        print("SASRec toy \(loss): top-1 accuracy \(accuracy) (chance 0.05), losses \(losses.first!) → \(losses.last!)")
        #expect(losses.last! < losses.first!, "losses \(losses)")
        #expect(accuracy >= 0.8, "top-1 accuracy \(accuracy) (chance 0.05), losses \(losses)")
    }

    @Test func trainingIsDeterministicUnderASeed() {
        let (a, lossesA) = Self.train(.sampledSoftmax(negatives: 8), epochs: 2)
        let (b, lossesB) = Self.train(.sampledSoftmax(negatives: 8), epochs: 2)
        #expect(lossesA == lossesB)
        #expect(Array(a.itemEmbedding.value) == Array(b.itemEmbedding.value))
    }

    @Test func trainingStepsReuseTheArena() {
        _ = Self.train(.sampledSoftmax(negatives: 8), epochs: 1) { trainer in
            let warm = trainer.arenaAllocations
            trainer.trainEpoch()
            #expect(trainer.arenaAllocations == warm, "the arena grew after the first epoch")
        }
    }

    @Test func encodingReadsOnlyTheLastMaxLengthItemsAndAllocatesNothingWhenWarm() {
        let network = SASRecNetwork(Self.configuration(.fullSoftmax))
        let encoder = SASRecEncoder(network: network)
        let long: [Int32] = (0..<30).map { Int32(1 + $0 % 20) }
        #expect(encoder.encode(long) == encoder.encode(long.suffix(10)))
        #expect(encoder.encode(long) != encoder.encode(long.suffix(9)))
        let short: [Int32] = [3]
        #expect(encoder.encode(short).allSatisfy { $0.isFinite })
    }

    /// Serving encodes only a history's own rows; the padded pass over `maxLength` rows is the reference, for the
    /// query vector and for the final position's attention weights.
    @Test(arguments: [1, 4, 9, 10, 25])
    func encodingTheHistoryAloneMatchesThePaddedPass(historyLength: Int) {
        let (network, _) = Self.train(.fullSoftmax, epochs: 1)
        let history: [Int32] = (0..<historyLength).map { Int32(1 + ($0 * 7) % Self.itemCount) }
        Self.expectServingMatchesThePaddedPass(network, history: history)
    }

    /// The tape-free serving pass holds for other shapes too: GELU, three blocks, four heads, a width that is not
    /// a multiple of eight (the scalar layer norm), one block.
    @Test(arguments: [(24, 3, 4, true), (32, 1, 1, false), (16, 2, 2, true)])
    func theServingPassMatchesThePaddedPassForOtherShapes(shape: (dimension: Int, blocks: Int, heads: Int, gelu: Bool)) {
        var c = SASRecConfiguration(itemCount: Self.itemCount)
        c.dimension = shape.dimension
        c.blocks = shape.blocks
        c.heads = shape.heads
        c.maxLength = 12
        c.activation = shape.gelu ? .gelu : .relu
        c.seed = 3
        let network = SASRecNetwork(c)
        for historyLength in [1, 7, 12, 15] {
            let history: [Int32] = (0..<historyLength).map { Int32(1 + ($0 * 5) % Self.itemCount) }
            Self.expectServingMatchesThePaddedPass(network, history: history)
        }
    }

    /// `SASRecEncoder`'s query and final attention for `history` equal the last row of the padded tape pass.
    static func expectServingMatchesThePaddedPass(_ network: SASRecNetwork, history: [Int32]) {
        let configuration = network.configuration
        let length = configuration.maxLength, d = configuration.dimension, heads = configuration.heads
        let recent = Array(history.suffix(length))
        let tape = Tape(isTraining: false)
        let padded = [Int32](repeating: 0, count: length - recent.count) + recent
        let reference = padded.withUnsafeBufferPointer { ids in
            Array(tape.values(of: network.hidden(tape, items: ids, batch: 1))[((length - 1) * d)...].prefix(d))
        }
        let probabilities = tape.lastAttentionProbabilities()!
        var referenceAttention = [Float](repeating: 0, count: length)
        for h in 0..<heads {
            for j in 0..<length {
                referenceAttention[j] += probabilities[h * length * length + (length - 1) * length + j] / Float(heads)
            }
        }
        let encoder = SASRecEncoder(network: network)
        let query = encoder.encode(history)
        let attention = encoder.finalAttention()
        let scale = reference.map(abs).max()!
        #expect(zip(query, reference).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        #expect(zip(attention, referenceAttention).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(attention.prefix(length - recent.count).allSatisfy { $0 == 0 })
        #expect(abs(attention.reduce(0, +) - 1) < 1e-4)
    }

    /// Frozen weights are one shared, `Sendable` value: encoders on concurrent tasks, each with its own tape, give
    /// exactly the vectors of one encoder used alone, and training the network afterwards does not reach them.
    @Test func frozenWeightsServeConcurrentEncodersUnchangedByLaterTraining() async {
        let (network, _) = Self.train(.fullSoftmax, epochs: 2)
        let weights = SASRecWeights(network)
        var histories: [[Int32]] = []
        for first in 0..<16 {
            let length = 3 + first % 8
            histories.append((0..<length).map { t -> Int32 in Int32(1 + (first + t) % 20) })
        }
        let alone = SASRecEncoder(weights: weights)
        let expected = histories.map { alone.encode($0) }
        network.parameters[0].value[network.configuration.dimension] += 1
        let results = await withTaskGroup(of: (Int, [Float]).self) { group in
            for (i, history) in histories.enumerated() {
                group.addTask { (i, SASRecEncoder(weights: weights).encode(history)) }
            }
            var results = [[Float]](repeating: [], count: histories.count)
            for await (i, query) in group { results[i] = query }
            return results
        }
        #expect(results == expected)
        // histories[0] is [1, 2, 3]: the changed row is item 1's.
        #expect(SASRecEncoder(network: network).encode(histories[0]) != expected[0])
    }
}
