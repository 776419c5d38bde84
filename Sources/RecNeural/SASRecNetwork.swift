import Foundation

/// The weights of one SASRec block: pre-norm causal self-attention and a point-wise feed-forward, both residual.
/// Linear weights are stored `[out, in]` as PyTorch's `nn.Linear`.
struct SASRecBlock {
    /// A block's weights in their fixed order (the order of `parameters` and of stored weights).
    enum Slot: Int, CaseIterable {
        case attentionNormScale, attentionNormShift, queryWeight, queryBias, keyWeight, keyBias, valueWeight,
            valueBias, outputWeight, outputBias, feedForwardNormScale, feedForwardNormShift, innerWeight, innerBias,
            outerWeight, outerBias

        /// The weight's name in weight files (after `block<i>.`).
        var name: String {
            switch self {
            case .attentionNormScale: "attention_norm.weight"
            case .attentionNormShift: "attention_norm.bias"
            case .queryWeight: "attention.query.weight"
            case .queryBias: "attention.query.bias"
            case .keyWeight: "attention.key.weight"
            case .keyBias: "attention.key.bias"
            case .valueWeight: "attention.value.weight"
            case .valueBias: "attention.value.bias"
            case .outputWeight: "attention.output.weight"
            case .outputBias: "attention.output.bias"
            case .feedForwardNormScale: "feed_forward_norm.weight"
            case .feedForwardNormShift: "feed_forward_norm.bias"
            case .innerWeight: "feed_forward.inner.weight"
            case .innerBias: "feed_forward.inner.bias"
            case .outerWeight: "feed_forward.outer.weight"
            case .outerBias: "feed_forward.outer.bias"
            }
        }
    }

    /// The weights in `Slot` order.
    let parameters: [Parameter]

    init(index: Int, dimension d: Int, generator: inout SeededGenerator) {
        parameters = Slot.allCases.map { slot in
            let name = "block\(index).\(slot.name)"
            switch slot {
            case .attentionNormScale, .feedForwardNormScale:
                let p = Parameter(name, shape: Shape(d), decays: false)
                p.fill(1)
                return p
            case .queryWeight, .keyWeight, .valueWeight, .outputWeight, .innerWeight, .outerWeight:
                let p = Parameter(name, shape: Shape(d, d))
                p.initializeXavierUniform(using: &generator)
                return p
            default:
                return Parameter(name, shape: Shape(d), decays: false)
            }
        }
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
        let blocks = (0..<configuration.blocks).map { SASRecBlock(index: $0, dimension: d, generator: &generator) }
        let finalNormScale = Parameter("final_norm.weight", shape: Shape(d), decays: false)
        finalNormScale.fill(1)
        let finalNormShift = Parameter("final_norm.bias", shape: Shape(d), decays: false)
        parameters = [itemEmbedding, positionEmbedding] + blocks.flatMap(\.parameters) + [finalNormScale, finalNormShift]
    }

    /// The hidden states `[batch, maxLength, dimension]` of left-padded `items` (`batch · maxLength` ids, 0 for
    /// padding), recorded on `tape`; dropout follows `tape.isTraining`.
    public func hidden(_ tape: Tape, items: UnsafeBufferPointer<Int32>, batch: Int) -> Variable {
        forward(tape).hidden(items: items, batch: batch)
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
        forward(tape).hidden(packedItems: items, positions: positions, segments: segments, rows: rows)
    }

    /// The hidden states `[1, n, dimension]` of one history of `n` items (1 ≤ n ≤ `maxLength`, oldest first, no
    /// padding), at the positions they take when left-padded (the newest at `maxLength − 1`). Equal, up to
    /// rounding, to the last `n` rows of ``hidden(_:items:batch:)`` for the padded history (attention never reads a
    /// pad), at `n / maxLength` of its work: what serving a request needs.
    public func hidden(_ tape: Tape, recentItems items: UnsafeBufferPointer<Int32>) -> Variable {
        forward(tape).hidden(recentItems: items)
    }

    private func forward(_ tape: Tape) -> SASRecForward {
        SASRecForward(configuration: configuration, tape: tape, weights: .parameters(parameters))
    }
}
