/// A trainable tensor: its values and its gradient, both owned here and allocated once.
///
/// Gradients accumulate across `Tape.backward` calls until `zeroGradient()`. An embedding table read only through
/// `Tape.gather` gets a sparse gradient: only the rows used are written, and only those are cleared again.
public final class Parameter {
    /// A name for messages and weight files (`block0.attention.query.weight`).
    public let name: String
    /// The shape of the values and of the gradient.
    public let shape: Shape
    /// The values, row-major.
    public let value: UnsafeMutableBufferPointer<Float>
    /// The accumulated gradient, row-major, same shape.
    public let gradient: UnsafeMutableBufferPointer<Float>
    /// Whether decoupled weight decay applies (false for biases, norms and, by choice, embeddings).
    public var decays: Bool

    /// Rows of a table written by sparse gradients since the last `zeroGradient()` (may repeat).
    var touchedRows: [Int32] = []
    /// Whether some dense op wrote the whole gradient since the last `zeroGradient()`.
    var gradientIsDense = false

    /// A parameter of `shape` with every value zero.
    public init(_ name: String, shape: Shape, decays: Bool = true) {
        self.name = name
        self.shape = shape
        self.decays = decays
        value = .allocate(capacity: shape.count)
        value.initialize(repeating: 0)
        gradient = .allocate(capacity: shape.count)
        gradient.initialize(repeating: 0)
        touchedRows.reserveCapacity(1024)
    }

    deinit {
        value.deallocate()
        gradient.deallocate()
    }

    /// Fills the values with normal samples of standard deviation `std`.
    public func initializeNormal(std: Float, using generator: inout SeededGenerator) {
        for i in value.indices { value[i] = generator.nextNormal() * std }
    }

    /// Fills the values uniformly in ±sqrt(6 / (fanIn + fanOut)) (Xavier/Glorot), fans from the last two dimensions.
    public func initializeXavierUniform(using generator: inout SeededGenerator) {
        let fanOut = shape.rank >= 2 ? shape[-2] : shape.last
        let fanIn = shape.last
        let bound = (6 / Float(fanIn + fanOut)).squareRoot()
        for i in value.indices { value[i] = (generator.nextUniform() * 2 - 1) * bound }
    }

    /// Sets every value to `constant`.
    public func fill(_ constant: Float) {
        value.update(repeating: constant)
    }

    /// Copies `values` (row-major, `shape.count` of them) in.
    public func load(_ values: [Float]) {
        precondition(values.count == shape.count, "\(name): \(values.count) values for shape \(shape)")
        _ = value.update(fromContentsOf: values)
    }

    /// Clears the gradient: only the rows written when it is sparse, everything when a dense op wrote it.
    public func zeroGradient() {
        if gradientIsDense || shape.rank < 2 {
            gradient.update(repeating: 0)
        } else {
            let width = shape.last
            for row in touchedRows {
                (gradient.baseAddress! + Int(row) * width).update(repeating: 0, count: width)
            }
        }
        touchedRows.removeAll(keepingCapacity: true)
        gradientIsDense = false
    }
}
