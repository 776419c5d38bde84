/// Encodes one history into SASRec's query vector at request time: the final hidden state at the most recent
/// position, with dropout off and no gradient bookkeeping, over frozen `SASRecWeights` that any number of encoders
/// share. One history runs the tape-free ``SASRecServingPass`` in the encoder's own scratch (reused, so after the
/// first call an encode allocates nothing); many histories at once run packed on an evaluation tape. Scores for items
/// are dot products with `weights.itemEmbeddings` rows. One encoder per thread.
public final class SASRecEncoder {
    /// The weights read.
    public let weights: SASRecWeights
    /// The evaluation tape of packed and empty-history passes, made on first use.
    lazy var tape = Tape(isTraining: false)
    /// The serving pass's scratch, grown to the longest history seen.
    private var scratch: [Float] = []
    /// The history's network ids the last one-history encode read.
    private var recentItems: [Int32] = []
    /// Positions the last `encode(_:into:)` ran over (its history's length, at most `maxLength`; `maxLength` for an
    /// empty history, which runs padded).
    var encodedLength = 0
    /// The newest row's last-block attention weights of the last `encode(_:into:)` (`heads × encodedLength`), empty
    /// after the padded pass.
    var newestAttention: [Float] = []

    /// An encoder over `weights`.
    public init(weights: SASRecWeights) {
        self.weights = weights
    }

    /// An encoder over a frozen copy of `network`'s current weights (later training does not reach it).
    public convenience init(network: SASRecNetwork) {
        self.init(weights: SASRecWeights(network))
    }

    /// Writes the query vector (`dimension` floats) for `history` (oldest first; the last `maxLength` are read)
    /// into `query`.
    public func encode(_ history: some Collection<Int32>, into query: UnsafeMutableBufferPointer<Float>) {
        let configuration = weights.configuration
        let length = configuration.maxLength, d = configuration.dimension
        precondition(query.count == d, "encode: query must hold \(d) floats")
        let n = min(history.count, length)
        encodedLength = n
        newestAttention.removeAll(keepingCapacity: true)
        guard n > 0 else {
            // No items: the padded pass gives the vector of an empty history.
            tape.reset()
            let items = tape.scratchIntegers(length)
            items.update(repeating: 0)
            let hidden = weights.withForward(on: tape) { $0.hidden(items: UnsafeBufferPointer(items), batch: 1) }
            let values = tape.values(of: hidden)
            for k in 0..<d { query[k] = values[(length - 1) * d + k] }
            return
        }
        // Only the history's own rows (pads are never attended to, so they need no work), and in the last block only
        // the newest row, the one the query vector is.
        let needed = SASRecServingPass.scratchCount(n: n, dimension: d)
        if scratch.count < needed { scratch = [Float](repeating: 0, count: needed) }
        recentItems.removeAll(keepingCapacity: true)
        recentItems.append(contentsOf: history.suffix(n))
        newestAttention.append(contentsOf: repeatElement(0, count: configuration.heads * n))
        weights.withServingPass { pass in
            recentItems.withUnsafeBufferPointer { items in
                newestAttention.withUnsafeMutableBufferPointer { attention in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        pass.newestHidden(items: items, query: query, attention: attention, scratch: scratch)
                    }
                }
            }
        }
    }

    /// Writes the query vectors of many histories (each oldest first; the last `maxLength` items of each are read)
    /// into `queries` (`histories.count × dimension`, in order), packing the histories into full rows so short ones
    /// cost little: one forward pass per `rowsPerPass` rows. Same vectors as `encode(_:into:)` one at a time, up to
    /// rounding. An empty history gets the vector of no items (zeros before the final norm).
    public func encode(
        histories: [ArraySlice<Int32>], into queries: UnsafeMutableBufferPointer<Float>, rowsPerPass: Int = 256
    ) {
        let configuration = weights.configuration
        let length = configuration.maxLength, d = configuration.dimension
        precondition(queries.count == histories.count * d, "encode: queries must hold \(histories.count) × \(d) floats")
        newestAttention.removeAll(keepingCapacity: true)
        var packer = SequencePacker()
        var first = 0
        while first < histories.count {
            // Take histories until their packed rows would exceed rowsPerPass (about rowsPerPass · length slots).
            var end = first, slots = 0
            while end < histories.count && (end == first || slots + max(histories[end].count, 1) <= rowsPerPass * length) {
                slots += min(max(histories[end].count, 1), length)
                end += 1
            }
            let chunk = histories[first..<end]
            let rows = packer.pack(lengths: chunk.lazy.map { min(max($0.count, 1), length) }, rowLength: length)
            tape.reset()
            let items = tape.scratchIntegers(rows * length), positions = tape.scratchIntegers(rows * length)
            let segments = tape.scratchIntegers(rows * length)
            items.update(repeating: 0)
            positions.update(repeating: 0)
            segments.update(repeating: 0)
            var lastSlots: [Int] = []
            lastSlots.reserveCapacity(chunk.count)
            for (c, history) in chunk.enumerated() {
                let place = packer.places[c]
                let n = min(history.count, length)
                for (t, item) in history.suffix(n).enumerated() {
                    let slot = place.row * length + place.slot + t
                    items[slot] = item
                    positions[slot] = Int32(length - n + t)
                    segments[slot] = Int32(place.segment)
                }
                lastSlots.append(place.row * length + place.slot + max(n, 1) - 1)
            }
            let hidden = weights.withForward(on: tape) {
                $0.hidden(packedItems: UnsafeBufferPointer(items), positions: UnsafeBufferPointer(positions),
                    segments: UnsafeBufferPointer(segments), rows: rows)
            }
            let values = tape.values(of: hidden)
            for (c, slot) in lastSlots.enumerated() {
                for k in 0..<d { queries[(first + c) * d + k] = values[slot * d + k] }
            }
            first = end
        }
    }

    /// The query vector for `history` as an array.
    public func encode(_ history: some Collection<Int32>) -> [Float] {
        var query = [Float](repeating: 0, count: weights.configuration.dimension)
        query.withUnsafeMutableBufferPointer { encode(history, into: $0) }
        return query
    }

    /// The item (1...itemCount) with the highest score for `query`, excluding none: for tests and evaluation.
    public func topItem(for query: [Float]) -> Int32 {
        let d = weights.configuration.dimension, table = weights.itemEmbeddings
        var best: Int32 = 1, bestScore = -Float.infinity
        for item in 1...weights.configuration.itemCount {
            var s: Float = 0
            for k in 0..<d { s += query[k] * table[item * d + k] }
            if s > bestScore { bestScore = s; best = Int32(item) }
        }
        return best
    }
}
