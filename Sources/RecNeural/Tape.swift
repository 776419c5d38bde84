import Foundation

/// A value on a tape: the index of the node that computed it. Cheap to copy; valid until the tape's `reset()`.
public struct Variable: Hashable, Sendable {
    /// The node's position on its tape.
    public let index: Int
}

/// What a node computed, with what backward needs (inputs and arena pointers to saved values). No closures, so
/// recording a node allocates nothing.
enum Operation {
    case leaf
    case parameter(Parameter)
    case view(Int)
    case matmul(a: Int, b: Int, transposeA: Bool, transposeB: Bool)
    case batchedMatmul(a: Int, b: Int, transposeA: Bool, transposeB: Bool)
    case add(Int, Int)
    case multiply(Int, Int)
    case scale(Int, Float)
    case relu(Int)
    case gelu(Int)
    case dropout(Int, mask: UnsafeMutablePointer<Float>)
    case sum(Int)
    case concatenate(Int, Int)
    case gather(Parameter, rows: UnsafeMutablePointer<Int32>)
    case rowwiseDot(Int, Int)
    case layerNorm(x: Int, gamma: Int, beta: Int, normalized: UnsafeMutablePointer<Float>,
        inverseDeviation: UnsafeMutablePointer<Float>)
    case softmax(Int)
    case logSoftmax(Int)
    case attention(AttentionRecord)
    case binaryCrossEntropy(logits: Int, targets: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>,
        totalWeight: Float)
    case bpr(positive: Int, negative: Int, weights: UnsafeMutablePointer<Float>, totalWeight: Float)
    case softmaxCrossEntropy(logits: Int, targets: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>,
        probabilities: UnsafeMutablePointer<Float>, totalWeight: Float)
    case sampledSoftmax(SampledSoftmaxRecord)
}

/// One recorded computation: its output's shape and storage, and how it was made.
struct Node {
    var shape: Shape
    var value: UnsafeMutablePointer<Float>
    var gradient: UnsafeMutablePointer<Float>? = nil
    var requiresGradient: Bool
    var operation: Operation
}

/// Records operations on Float32 tensors and differentiates them in reverse mode.
///
/// A training step builds the forward pass with the tape's ops (`matmul`, `add`, `layerNorm`, `attention`, losses…),
/// calls `backward(loss)`, which accumulates gradients into the `Parameter`s used, then `reset()` for the next step.
/// Intermediates live in the tape's arena and are reused from step to step.
/// ```swift
/// let tape = Tape(seed: 7)
/// let y = tape.matmul(tape.constant(x, shape: Shape(4, 3)), tape.parameter(w))
/// let loss = tape.sum(tape.relu(y))
/// tape.backward(loss)          // w.gradient now holds d loss / d w
/// tape.reset()
/// ```
/// A tape is used from one thread at a time; its large ops spread work over cores internally.
public final class Tape {
    var nodes: [Node] = []
    let floats = Arena<Float>()
    let integers = Arena<Int32>(initialCapacity: 1 << 12)
    /// Whether dropout is active (training) or the identity (evaluation).
    public var isTraining: Bool
    /// The generator dropout draws from.
    public var generator: SeededGenerator

    /// An empty tape; `seed` fixes dropout masks.
    public init(seed: UInt64 = 0, isTraining: Bool = true) {
        self.generator = SeededGenerator(seed: seed)
        self.isTraining = isTraining
        nodes.reserveCapacity(512)
    }

    /// How many times the arenas took memory from the system since the tape was made; steady across steps once warm.
    public var systemAllocations: Int { floats.systemAllocations + integers.systemAllocations }

    /// Forgets every node and releases the arena for the next step (parameter gradients are kept).
    public func reset() {
        nodes.removeAll(keepingCapacity: true)
        floats.reset()
        integers.reset()
    }

    // MARK: - Reading values

    /// The shape of `v`.
    public func shape(of v: Variable) -> Shape { nodes[v.index].shape }

    /// The values of `v`, valid until `reset()`.
    public func values(of v: Variable) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: nodes[v.index].value, count: nodes[v.index].shape.count)
    }

    /// The first value of `v` (a loss).
    public func scalar(_ v: Variable) -> Float { nodes[v.index].value[0] }

    /// The gradient of the last `backward` with respect to `v`, nil when `v` needed none.
    public func gradient(of v: Variable) -> UnsafeMutableBufferPointer<Float>? {
        guard let g = nodes[v.index].gradient else { return nil }
        return UnsafeMutableBufferPointer(start: g, count: nodes[v.index].shape.count)
    }

    // MARK: - Leaves

    /// A parameter as a variable: no copy; its gradient accumulates into `parameter.gradient` (dense).
    public func parameter(_ parameter: Parameter) -> Variable {
        record(Node(shape: parameter.shape, value: parameter.value.baseAddress!, requiresGradient: true,
            operation: .parameter(parameter)))
    }

    /// A constant copied into the arena.
    public func constant(_ values: some Collection<Float>, shape: Shape) -> Variable {
        precondition(values.count == shape.count, "\(values.count) values for shape \(shape)")
        let p = floats.allocate(shape.count)
        _ = UnsafeMutableBufferPointer(start: p, count: shape.count).initialize(from: values)
        return leaf(p, shape: shape)
    }

    /// Values read in place (no copy) as a constant: frozen weights. The caller keeps them alive and unchanged
    /// until `reset()`.
    public func borrowedConstant(_ values: UnsafeBufferPointer<Float>, shape: Shape) -> Variable {
        precondition(values.count == shape.count, "\(values.count) values for shape \(shape)")
        return leaf(UnsafeMutablePointer(mutating: values.baseAddress!), shape: shape)
    }

    /// A constant whose values `fill` writes in place (no intermediate array).
    public func constant(shape: Shape, fill: (UnsafeMutableBufferPointer<Float>) -> Void) -> Variable {
        let p = floats.allocate(shape.count)
        fill(UnsafeMutableBufferPointer(start: p, count: shape.count))
        return leaf(p, shape: shape)
    }

    /// Scratch floats in the arena, valid until `reset()` (masks, targets, weights for losses).
    public func scratchFloats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: floats.allocate(count), count: count)
    }

    /// Scratch integers in the arena, valid until `reset()` (row ids for `gather`, class targets).
    public func scratchIntegers(_ count: Int) -> UnsafeMutableBufferPointer<Int32> {
        UnsafeMutableBufferPointer(start: integers.allocate(count), count: count)
    }

    /// The same values under another shape of equal count: a view, no copy; gradients flow through unchanged.
    public func reshape(_ x: Variable, _ shape: Shape) -> Variable {
        let n = nodes[x.index]
        precondition(n.shape.count == shape.count, "cannot reshape \(n.shape) to \(shape)")
        return record(Node(shape: shape, value: n.value, requiresGradient: n.requiresGradient, operation: .view(x.index)))
    }

    // MARK: - Recording

    func leaf(_ value: UnsafeMutablePointer<Float>, shape: Shape) -> Variable {
        record(Node(shape: shape, value: value, requiresGradient: false, operation: .leaf))
    }

    /// A new node whose value the caller fills; it needs a gradient when any input does.
    func output(
        _ shape: Shape, _ a: Variable, _ b: Variable? = nil, _ c: Variable? = nil, _ d: Variable? = nil,
        operation: Operation
    ) -> (Variable, UnsafeMutablePointer<Float>) {
        let p = floats.allocate(Swift.max(shape.count, 1))
        var needs = nodes[a.index].requiresGradient
        if let b { needs = needs || nodes[b.index].requiresGradient }
        if let c { needs = needs || nodes[c.index].requiresGradient }
        if let d { needs = needs || nodes[d.index].requiresGradient }
        return (record(Node(shape: shape, value: p, requiresGradient: needs, operation: operation)), p)
    }

    /// Replaces the operation of a node recorded by `output` once its saved values exist.
    func setOperation(_ v: Variable, _ operation: Operation) {
        nodes[v.index].operation = operation
    }

    @discardableResult
    func record(_ node: Node) -> Variable {
        nodes.append(node)
        return Variable(index: nodes.count - 1)
    }

    func value(_ i: Int) -> UnsafeMutablePointer<Float> { nodes[i].value }
    func shape(_ i: Int) -> Shape { nodes[i].shape }
    /// The gradient buffer of node `i` when it needs one.
    func gradientBuffer(_ i: Int) -> UnsafeMutablePointer<Float>? {
        nodes[i].requiresGradient ? nodes[i].gradient : nil
    }

    // MARK: - Backward

    /// Differentiates the scalar `loss` with respect to everything it depends on, accumulating into the parameters'
    /// gradients (sparse rows for gathered tables). Seeds d loss / d loss = `seed`.
    public func backward(_ loss: Variable, seed: Float = 1) {
        precondition(nodes[loss.index].shape.count == 1, "backward needs a scalar, got \(nodes[loss.index].shape)")
        for i in 0...loss.index where nodes[i].requiresGradient {
            switch nodes[i].operation {
            case .parameter(let p):
                nodes[i].gradient = p.gradient.baseAddress!
                p.gradientIsDense = true
            case .view(let source):
                nodes[i].gradient = nodes[source].gradient
            default:
                let g = floats.allocate(Swift.max(nodes[i].shape.count, 1))
                g.update(repeating: 0, count: nodes[i].shape.count)
                nodes[i].gradient = g
            }
        }
        guard nodes[loss.index].requiresGradient, let seedGradient = nodes[loss.index].gradient else { return }
        seedGradient[0] += seed
        for i in stride(from: loss.index, through: 0, by: -1) where nodes[i].requiresGradient {
            backwardNode(i)
        }
    }

    private func backwardNode(_ i: Int) {
        let node = nodes[i]
        guard let g = node.gradient else { return }
        switch node.operation {
        case .leaf, .parameter, .view: break
        case .matmul(let a, let b, let ta, let tb): matmulBackward(i, g, a, b, ta, tb)
        case .batchedMatmul(let a, let b, let ta, let tb): batchedMatmulBackward(i, g, a, b, ta, tb)
        case .add(let a, let b): addBackward(i, g, a, b)
        case .multiply(let a, let b): multiplyBackward(i, g, a, b)
        case .scale(let a, let s): scaleBackward(i, g, a, s)
        case .relu(let a): reluBackward(i, g, a)
        case .gelu(let a): geluBackward(i, g, a)
        case .dropout(let a, let mask): dropoutBackward(i, g, a, mask)
        case .sum(let a): sumBackward(g, a)
        case .concatenate(let a, let b): concatenateBackward(i, g, a, b)
        case .gather(let table, let rows): gatherBackward(i, g, table, rows)
        case .rowwiseDot(let a, let b): rowwiseDotBackward(i, g, a, b)
        case .layerNorm(let x, let gamma, let beta, let normalized, let inverse):
            layerNormBackward(i, g, x, gamma, beta, normalized, inverse)
        case .softmax(let a): softmaxBackward(i, g, a)
        case .logSoftmax(let a): logSoftmaxBackward(i, g, a)
        case .attention(let record): attentionBackward(i, g, record)
        case .binaryCrossEntropy(let logits, let targets, let weights, let total):
            binaryCrossEntropyBackward(g, logits, targets, weights, total)
        case .bpr(let positive, let negative, let weights, let total):
            bprBackward(g, positive, negative, weights, total)
        case .softmaxCrossEntropy(let logits, let targets, let weights, let probabilities, let total):
            softmaxCrossEntropyBackward(g, logits, targets, weights, probabilities, total)
        case .sampledSoftmax(let record): sampledSoftmaxBackward(g, record)
        }
    }
}
