import Testing
@testable import RecNeural

/// Packed rows (several sequences end to end, attention kept within each) give what one left-padded row per
/// sequence gives: the same hidden states, loss and gradients, and the same query vectors at request time.
@Suite struct PackingTests {
    static let sequences: [[Int32]] = [[3, 7, 2, 9], [5, 1], [8, 8, 4, 6, 2, 1, 3], [4], [2, 6, 9]]

    static func configuration() -> SASRecConfiguration {
        var c = SASRecConfiguration(itemCount: 10)
        c.dimension = 8
        c.heads = 2
        c.maxLength = 8
        c.dropout = 0
        c.seed = 4
        return c
    }

    /// Σ over real positions of hidden · r(sequence, t), for a fixed random r; returns the loss and every gradient.
    static func lossAndGradients(_ network: SASRecNetwork, packed: Bool) -> (Float, [[Float]]) {
        let length = network.configuration.maxLength, d = network.configuration.dimension
        var packer = SequencePacker()
        let rows = packed ? packer.pack(lengths: sequences.map(\.count), rowLength: length) : sequences.count
        var items = [Int32](repeating: 0, count: rows * length), positions = items, segments = items
        var projection = [Float](repeating: 0, count: rows * length * d)
        var g = SeededGenerator(seed: 12)
        for (s, sequence) in sequences.enumerated() {
            let n = sequence.count
            let place = packed ? packer.places[s] : (row: s, slot: length - n, segment: 1)
            for t in 0..<n {
                let slot = place.row * length + place.slot + t
                items[slot] = sequence[t]
                positions[slot] = Int32(length - n + t)
                segments[slot] = Int32(place.segment)
                for k in 0..<d { projection[slot * d + k] = g.nextNormal() }
            }
        }
        for p in network.parameters { p.gradient.update(repeating: 0) }
        let tape = Tape(seed: 1)
        func scratch(_ values: [Int32]) -> UnsafeBufferPointer<Int32> {
            let buffer = tape.scratchIntegers(values.count)
            _ = buffer.update(fromContentsOf: values)
            return UnsafeBufferPointer(buffer)
        }
        let hidden = packed
            ? network.hidden(tape, packedItems: scratch(items), positions: scratch(positions),
                segments: scratch(segments), rows: rows)
            : network.hidden(tape, items: scratch(items), batch: rows)
        let loss = tape.sum(tape.multiply(hidden, tape.constant(projection, shape: Shape(rows, length, d))))
        tape.backward(loss)
        return (tape.scalar(loss), network.parameters.map { Array($0.gradient) })
    }

    @Test func packedRowsGiveThePaddedLossAndGradients() {
        let network = SASRecNetwork(Self.configuration())
        let (paddedLoss, paddedGradients) = Self.lossAndGradients(network, packed: false)
        let (packedLoss, packedGradients) = Self.lossAndGradients(network, packed: true)
        #expect(abs(paddedLoss - packedLoss) <= 1e-4 * max(1, abs(paddedLoss)), "\(paddedLoss) vs \(packedLoss)")
        for (p, (a, b)) in zip(network.parameters, zip(paddedGradients, packedGradients)) {
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            let scale = a.map { abs($0) }.max() ?? 0
            #expect(worst <= 1e-4 * max(scale, 1), "\(p.name): gradients differ by \(worst) (scale \(scale))")
        }
    }

    @Test func packingFillsRowsAndKeepsSequencesWhole() {
        var packer = SequencePacker()
        let lengths = [5, 3, 8, 2, 4, 1]
        let rows = packer.pack(lengths: lengths, rowLength: 8)
        #expect(rows == 3, "23 slots fit in 3 rows of 8")
        var used = Set<Int>()
        for (s, place) in packer.places.enumerated() {
            #expect(place.slot + lengths[s] <= 8)
            for t in 0..<lengths[s] { #expect(used.insert(place.row * 8 + place.slot + t).inserted) }
        }
    }

    @Test func trainerLossIsTheSamePackedOrPadded() {
        func firstLoss(packs: Bool) -> Float {
            var c = Self.configuration()
            c.loss = .sampledSoftmax(negatives: 6)
            var settings = SASRecTrainer.Settings(schedule: LearningRateSchedule(peak: 1e-3, totalSteps: 10))
            settings.batchSize = 5
            settings.packsSequences = packs
            let trainer = SASRecTrainer(network: SASRecNetwork(c), sequences: Self.sequences, settings: settings)
            return trainer.trainStep(Array(0..<4)[...])
        }
        let padded = firstLoss(packs: false), packed = firstLoss(packs: true)
        #expect(abs(padded - packed) <= 1e-5 * max(1, abs(padded)), "\(padded) vs \(packed)")
    }

    @Test func batchEncodingMatchesOneAtATime() {
        let network = SASRecNetwork(Self.configuration())
        let encoder = SASRecEncoder(network: network)
        let histories = Self.sequences.map { $0[...] } + [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1][...]]
        let d = network.configuration.dimension
        var queries = [Float](repeating: 0, count: histories.count * d)
        queries.withUnsafeMutableBufferPointer { encoder.encode(histories: histories, into: $0, rowsPerPass: 2) }
        for (h, history) in histories.enumerated() {
            let one = encoder.encode(Array(history))
            let worst = (0..<d).map { abs(one[$0] - queries[h * d + $0]) }.max()!
            #expect(worst <= 1e-4, "history \(h): differs by \(worst)")
        }
    }
}
