/// The shape of an NCF network (He et al. 2017, "Neural Collaborative Filtering").
///
/// `factors` is the paper's "predictive factors": GMF's embedding width and the width of the MLP tower's last layer.
/// The tower has `layers` ReLU layers, each twice as wide as the next (the paper's halving tower), so its input — a
/// user's and an item's MLP embeddings side by side — is `factors · 2^layers` wide: factors 8 with 3 layers is the
/// paper's `[64, 32, 16, 8]`.
public struct NCFConfiguration: Sendable, Hashable {
    /// Which of the paper's three models.
    public enum Variant: String, Sendable, Hashable, CaseIterable, Codable {
        /// Generalised matrix factorisation: the elementwise product of the user's and item's embeddings, weighted.
        case gmf
        /// A ReLU tower over the user's and item's embeddings side by side.
        case mlp
        /// GMF's product and the MLP's last layer side by side, into one output (the paper's NeuMF).
        case neumf
    }

    /// Users: ids `0..<userCount`.
    public var userCount: Int
    /// Items: ids `0..<itemCount`.
    public var itemCount: Int
    /// GMF, MLP or NeuMF.
    public var variant: Variant = .neumf
    /// Predictive factors: GMF's width and the tower's last layer (default 8).
    public var factors: Int = 8
    /// ReLU layers in the MLP tower, at least 1 (default 3).
    public var layers: Int = 3
    /// Seed of the initialisation.
    public var seed: UInt64 = 1

    /// A configuration for `userCount` users and `itemCount` items with the defaults above.
    public init(userCount: Int, itemCount: Int) {
        self.userCount = userCount
        self.itemCount = itemCount
    }

    /// Whether the network has GMF embeddings.
    public var hasGMF: Bool { variant != .mlp }
    /// Whether the network has the MLP tower.
    public var hasMLP: Bool { variant != .gmf }
    /// The MLP embedding width per side: half the tower's input.
    public var mlpEmbeddingWidth: Int { factors << (layers - 1) }
    /// The tower's widths from its input to its last layer: `[factors · 2^layers, …, factors]`.
    public var towerWidths: [Int] { (0...layers).map { factors << (layers - $0) } }
    /// The width of what the output layer reads.
    public var outputWidth: Int { (hasGMF ? factors : 0) + (hasMLP ? factors : 0) }
}
