/// The shape and training loss of a SASRec network (Kang & McAuley 2018).
public struct SASRecConfiguration: Sendable {
    /// How next-item prediction is scored during training.
    public enum Loss: Sendable, Equatable {
        /// Softmax over the positive and `negatives` items shared by the batch, drawn in proportion to item
        /// popularity, with logQ correction (the default; Yi et al. 2019, as in eSASRec).
        case sampledSoftmax(negatives: Int)
        /// Softmax over every item.
        case fullSoftmax
        /// Binary cross-entropy on the positive and one uniformly drawn negative per position (the original paper).
        case binaryCrossEntropy
    }

    /// The point-wise feed-forward activation.
    public enum Activation: Sendable {
        /// max(0, x), as the paper.
        case relu
        /// Gaussian error linear unit.
        case gelu
    }

    /// Items, excluding the padding id 0: ids run 1...itemCount.
    public var itemCount: Int
    /// Embedding and hidden width.
    public var dimension: Int = 64
    /// Transformer blocks.
    public var blocks: Int = 2
    /// Attention heads (must divide `dimension`).
    public var heads: Int = 1
    /// The longest history read; shorter ones are left-padded with 0.
    public var maxLength: Int = 50
    /// Dropout on embeddings, attention output and feed-forward layers.
    public var dropout: Float = 0.2
    /// Dropout on the attention probabilities (the original SASRec and PyTorch's `MultiheadAttention` use the
    /// `dropout` rate there too; 0, the default, leaves them undropped).
    public var attentionDropout: Float = 0
    /// The feed-forward activation.
    public var activation: Activation = .relu
    /// The training loss.
    public var loss: Loss = .sampledSoftmax(negatives: 256)
    /// Seed for initialisation, dropout and sampling.
    public var seed: UInt64 = 1

    /// A configuration for `itemCount` items with the defaults above.
    public init(itemCount: Int) {
        self.itemCount = itemCount
    }
}
