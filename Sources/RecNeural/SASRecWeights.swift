/// A trained SASRec network frozen for serving: every weight copied once into an immutable array, so one instance
/// is shared by any number of threads (`Sendable`, checked). A forward pass reads the weights in place on the
/// caller's own tape (see `SASRecEncoder`); nothing here changes after `init`.
/// ```swift
/// let weights = SASRecWeights(network)          // after training or loading
/// let query = SASRecEncoder(weights: weights).encode(history)
/// ```
public final class SASRecWeights: Sendable {
    /// The configuration of the network copied.
    public let configuration: SASRecConfiguration
    /// Every weight in `SASRecNetwork.parameters` order, row-major: the item table `[itemCount + 1, dimension]` first.
    public let values: [Float]
    /// Where each weight starts in `values`, and its shape.
    let offsets: [Int]
    let shapes: [Shape]

    /// A frozen copy of `network`'s current weights.
    public init(_ network: SASRecNetwork) {
        configuration = network.configuration
        var values: [Float] = [], offsets: [Int] = []
        values.reserveCapacity(network.parameters.reduce(0) { $0 + $1.shape.count })
        for p in network.parameters {
            offsets.append(values.count)
            values.append(contentsOf: p.value)
        }
        self.values = values
        self.offsets = offsets
        shapes = network.parameters.map(\.shape)
    }

    /// The item table's values: row `item` (1...itemCount) is that item's embedding, row 0 the padding item.
    public var itemEmbeddings: ArraySlice<Float> { values[0..<shapes[0].count] }

    /// Runs `body` with the tape-free serving pass over these weights (read in place meanwhile).
    func withServingPass<R>(_ body: (SASRecServingPass) -> R) -> R {
        values.withUnsafeBufferPointer { buffer in
            body(SASRecServingPass(configuration: configuration, values: buffer, offsets: offsets))
        }
    }

    /// Runs `body` with the forward pass over these weights on `tape` (the weights are read in place meanwhile).
    func withForward<R>(on tape: Tape, _ body: (SASRecForward) -> R) -> R {
        values.withUnsafeBufferPointer { buffer in
            body(SASRecForward(configuration: configuration, tape: tape,
                weights: .frozen(values: buffer, offsets: offsets, shapes: shapes)))
        }
    }
}
