import Foundation

/// The weights of one SASRec block: pre-norm causal self-attention and a point-wise feed-forward, both residual.
/// Linear weights are stored `[out, in]` as PyTorch's `nn.Linear`.
struct SASRecBlock {
    let attentionNormScale, attentionNormShift: Parameter
    let queryWeight, queryBias, keyWeight, keyBias, valueWeight, valueBias, outputWeight, outputBias: Parameter
    let feedForwardNormScale, feedForwardNormShift: Parameter
    let innerWeight, innerBias, outerWeight, outerBias: Parameter

    init(index: Int, dimension d: Int, generator: inout SeededGenerator) {
        func name(_ s: String) -> String { "block\(index).\(s)" }
        func norm(_ s: String, _ v: Float) -> Parameter {
            let p = Parameter(name(s), shape: Shape(d), decays: false)
            p.fill(v)
            return p
        }
        func weight(_ s: String) -> Parameter {
            let p = Parameter(name(s), shape: Shape(d, d))
            p.initializeXavierUniform(using: &generator)
            return p
        }
        func bias(_ s: String) -> Parameter { Parameter(name(s), shape: Shape(d), decays: false) }
        attentionNormScale = norm("attention_norm.weight", 1)
        attentionNormShift = norm("attention_norm.bias", 0)
        queryWeight = weight("attention.query.weight")
        queryBias = bias("attention.query.bias")
        keyWeight = weight("attention.key.weight")
        keyBias = bias("attention.key.bias")
        valueWeight = weight("attention.value.weight")
        valueBias = bias("attention.value.bias")
        outputWeight = weight("attention.output.weight")
        outputBias = bias("attention.output.bias")
        feedForwardNormScale = norm("feed_forward_norm.weight", 1)
        feedForwardNormShift = norm("feed_forward_norm.bias", 0)
        innerWeight = weight("feed_forward.inner.weight")
        innerBias = bias("feed_forward.inner.bias")
        outerWeight = weight("feed_forward.outer.weight")
        outerBias = bias("feed_forward.outer.bias")
    }

    var parameters: [Parameter] {
        [attentionNormScale, attentionNormShift, queryWeight, queryBias, keyWeight, keyBias, valueWeight, valueBias,
         outputWeight, outputBias, feedForwardNormScale, feedForwardNormShift, innerWeight, innerBias, outerWeight,
         outerBias]
    }
}

/// SASRec's network (Kang & McAuley 2018) on the training core: item embeddings (id 0 is padding) scaled by √d plus
/// learned position embeddings, dropout, `blocks` pre-norm transformer blocks
/// [LN → causal multi-head self-attention → residual → LN → feed-forward → residual], a final LN. An item's score
/// at a position is the hidden state there · the item's embedding (shared with the input side).
public final class SASRecNetwork {
    /// The configuration it was built with.
    public let configuration: SASRecConfiguration
    /// `[itemCount + 1, dimension]`, row 0 the padding item.
    public let itemEmbedding: Parameter
    /// `[maxLength, dimension]`, row `maxLength − 1` the most recent position.
    public let positionEmbedding: Parameter
    let blocks: [SASRecBlock]
    let finalNormScale: Parameter
    let finalNormShift: Parameter
    /// Every trainable parameter, in a fixed order (embeddings, blocks, final norm).
    public let parameters: [Parameter]

    /// A network initialised from `configuration.seed` (Xavier-uniform matrices, as the reference implementations).
    public init(_ configuration: SASRecConfiguration) {
        precondition(configuration.dimension % configuration.heads == 0, "heads must divide the dimension")
        self.configuration = configuration
        var generator = SeededGenerator(seed: configuration.seed)
        let d = configuration.dimension
        itemEmbedding = Parameter("item_embedding", shape: Shape(configuration.itemCount + 1, d), decays: false)
        itemEmbedding.initializeXavierUniform(using: &generator)
        for k in 0..<d { itemEmbedding.value[k] = 0 }
        positionEmbedding = Parameter("position_embedding", shape: Shape(configuration.maxLength, d), decays: false)
        positionEmbedding.initializeXavierUniform(using: &generator)
        blocks = (0..<configuration.blocks).map { SASRecBlock(index: $0, dimension: d, generator: &generator) }
        finalNormScale = Parameter("final_norm.weight", shape: Shape(d), decays: false)
        finalNormScale.fill(1)
        finalNormShift = Parameter("final_norm.bias", shape: Shape(d), decays: false)
        parameters = [itemEmbedding, positionEmbedding] + blocks.flatMap(\.parameters) + [finalNormScale, finalNormShift]
    }

    /// The hidden states `[batch, maxLength, dimension]` of left-padded `items` (`batch · maxLength` ids, 0 for
    /// padding), recorded on `tape`; dropout follows `tape.isTraining`.
    public func hidden(_ tape: Tape, items: UnsafeBufferPointer<Int32>, batch: Int) -> Variable {
        let length = configuration.maxLength
        precondition(items.count == batch * length, "hidden: \(items.count) ids for \(batch) × \(length)")
        return hidden(tape, items: items, rows: batch, length: length, positions: nil, segments: nil)
    }

    /// The hidden states `[rows, maxLength, dimension]` of packed rows: each row holds several sequences one after
    /// another (no padding between them, 0 ids after the last), `positions` gives each slot's row of the position
    /// table (a sequence of n items ends at `maxLength − 1`, as when left-padded) and `segments` which sequence of the
    /// row it belongs to (1, 2, …; 0 for an empty slot). Attention stays within a sequence, so each sequence's hidden
    /// states equal those it gets alone, left-padded, at a fraction of the padded work.
    public func hidden(
        _ tape: Tape, packedItems items: UnsafeBufferPointer<Int32>, positions: UnsafeBufferPointer<Int32>,
        segments: UnsafeBufferPointer<Int32>, rows: Int
    ) -> Variable {
        let length = configuration.maxLength
        precondition(items.count == rows * length && positions.count == items.count && segments.count == items.count,
            "hidden: packed rows need \(rows) × \(length) ids, positions and segments")
        return hidden(tape, items: items, rows: rows, length: length, positions: positions, segments: segments)
    }

    /// The hidden states `[1, n, dimension]` of one history of `n` items (1 ≤ n ≤ `maxLength`, oldest first, no
    /// padding), at the positions they take when left-padded (the newest at `maxLength − 1`). Equal, up to
    /// rounding, to the last `n` rows of ``hidden(_:items:batch:)`` for the padded history (attention never reads a
    /// pad), at `n / maxLength` of its work: what serving a request needs.
    public func hidden(_ tape: Tape, recentItems items: UnsafeBufferPointer<Int32>) -> Variable {
        let n = items.count, length = configuration.maxLength
        precondition(n >= 1 && n <= length, "hidden: \(n) items, not 1 to \(length)")
        let positions = tape.scratchIntegers(n)
        for t in 0..<n { positions[t] = Int32(length - n + t) }
        return hidden(tape, items: items, rows: 1, length: n, positions: UnsafeBufferPointer(positions), segments: nil)
    }

    private func hidden(
        _ tape: Tape, items: UnsafeBufferPointer<Int32>, rows: Int, length: Int,
        positions: UnsafeBufferPointer<Int32>?, segments: UnsafeBufferPointer<Int32>?
    ) -> Variable {
        let d = configuration.dimension
        let keyMask = tape.scratchFloats(rows * length)
        for i in 0..<items.count { keyMask[i] = items[i] == 0 ? 0 : 1 }
        let embedded = tape.scale(tape.gather(itemEmbedding, rows: items), Float(d).squareRoot())
        var x: Variable
        if let positions {
            x = tape.reshape(tape.add(embedded, tape.gather(positionEmbedding, rows: positions)), Shape(rows, length, d))
        } else {
            x = tape.add(tape.reshape(embedded, Shape(rows, length, d)), tape.parameter(positionEmbedding))
        }
        x = tape.multiply(tape.dropout(x, rate: configuration.dropout),
            tape.constant(shape: Shape(rows, length, 1)) { _ = $0.update(fromContentsOf: keyMask) })
        for block in blocks {
            x = self.block(block, x, tape: tape, keyMask: segments == nil ? UnsafeBufferPointer(keyMask) : nil,
                segments: segments)
        }
        return tape.layerNorm(x, gamma: tape.parameter(finalNormScale), beta: tape.parameter(finalNormShift))
    }

    private func linear(_ tape: Tape, _ x: Variable, _ weight: Parameter, _ bias: Parameter) -> Variable {
        tape.add(tape.matmul(x, tape.parameter(weight), transposeB: true), tape.parameter(bias))
    }

    private func block(
        _ b: SASRecBlock, _ x: Variable, tape: Tape, keyMask: UnsafeBufferPointer<Float>?,
        segments: UnsafeBufferPointer<Int32>?
    ) -> Variable {
        let rate = configuration.dropout
        let normed = tape.layerNorm(x, gamma: tape.parameter(b.attentionNormScale),
            beta: tape.parameter(b.attentionNormShift))
        let attended = tape.attention(
            query: linear(tape, normed, b.queryWeight, b.queryBias),
            key: linear(tape, normed, b.keyWeight, b.keyBias),
            value: linear(tape, normed, b.valueWeight, b.valueBias),
            heads: configuration.heads, causal: true, keyMask: keyMask, segments: segments)
        let projected = tape.dropout(linear(tape, attended, b.outputWeight, b.outputBias), rate: rate)
        let afterAttention = tape.add(x, projected)
        let normed2 = tape.layerNorm(afterAttention, gamma: tape.parameter(b.feedForwardNormScale),
            beta: tape.parameter(b.feedForwardNormShift))
        var inner = linear(tape, normed2, b.innerWeight, b.innerBias)
        inner = configuration.activation == .relu ? tape.relu(inner) : tape.gelu(inner)
        let outer = linear(tape, tape.dropout(inner, rate: rate), b.outerWeight, b.outerBias)
        return tape.add(afterAttention, tape.dropout(outer, rate: rate))
    }
}
