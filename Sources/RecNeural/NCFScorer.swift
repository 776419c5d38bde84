import COpenBLAS

/// Scores every item for one user with the weights of a trained ``NCFNetwork``, without a tape: what ranking,
/// validation and serving use. A value (copies of the weights), so it is `Sendable` and never sees later training.
///
/// GMF's part is one matrix–vector product over the item table (q_i · (h ⊙ p_u)). The tower's first layer splits
/// into a user half and an item half; the item half (`items × width`) is computed once here, so a user costs one
/// vector for the user half, then the remaining layers as matrix products over all items.
public struct NCFScorer: Sendable {
    /// The network's configuration.
    public let configuration: NCFConfiguration
    private let gmfUser: [Float], gmfItem: [Float], mlpUser: [Float]
    /// The first tower layer's item half applied to every item: `[items, towerWidths[1]]`, row-major.
    private let itemHidden: [Float]
    private let towerWeights: [[Float]], towerBiases: [[Float]]
    private let outputWeight: [Float]
    private let outputBias: Float

    /// A scorer with `network`'s current weights (precomputes the tower's item half).
    public init(network: NCFNetwork) {
        let c = network.configuration
        configuration = c
        gmfUser = network.gmfUser.map { Array($0.value) } ?? []
        gmfItem = network.gmfItem.map { Array($0.value) } ?? []
        mlpUser = network.mlpUser.map { Array($0.value) } ?? []
        towerWeights = network.tower.map { Array($0.weight.value) }
        towerBiases = network.tower.map { Array($0.bias.value) }
        outputWeight = Array(network.outputWeight.value)
        outputBias = network.outputBias.value[0]
        guard let mlpItem = network.mlpItem, let first = network.tower.first else {
            itemHidden = []
            return
        }
        let e = c.mlpEmbeddingWidth, h = c.towerWidths[1], n = c.itemCount
        var hidden = [Float](repeating: 0, count: n * h)
        hidden.withUnsafeMutableBufferPointer { out in
            // [n, e] · (W[:, e..<2e])ᵀ, W is [h, 2e].
            gemm(false, true, n, h, e, mlpItem.value.baseAddress!, e, first.weight.value.baseAddress! + e, 2 * e,
                beta: 0, out.baseAddress!, h)
        }
        itemHidden = hidden
    }

    /// Whether `user` has a trained embedding: trainers zero the rows of users without interactions, so an all-zero
    /// row (or an id past the table) is a user the network never met.
    public func knows(user: Int) -> Bool {
        guard user >= 0, user < configuration.userCount else { return false }
        if configuration.hasGMF {
            let f = configuration.factors
            if gmfUser[user * f..<(user + 1) * f].contains(where: { $0 != 0 }) { return true }
        }
        if configuration.hasMLP {
            let e = configuration.mlpEmbeddingWidth
            if mlpUser[user * e..<(user + 1) * e].contains(where: { $0 != 0 }) { return true }
        }
        return false
    }

    /// Writes the logit of every item `0..<itemCount` for `user` (in `0..<userCount`) into the start of `scores`.
    public func scores(user: Int, into scores: UnsafeMutableBufferPointer<Float>) {
        let c = configuration
        let n = c.itemCount, f = c.factors
        precondition(user >= 0 && user < c.userCount, "NCF scores: user \(user) outside 0..<\(c.userCount)")
        precondition(scores.count >= n, "NCF scores: \(scores.count) slots for \(n) items")
        let out = scores.baseAddress!
        out.update(repeating: outputBias, count: n)
        if c.hasGMF {
            let w = (0..<f).map { outputWeight[$0] * gmfUser[user * f + $0] }
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(f), 1, gmfItem, Int32(f), w, 1, 1, out, 1)
        }
        guard c.hasMLP else { return }
        let widths = c.towerWidths, e = c.mlpEmbeddingWidth, width = widths[1]
        var userHidden = towerBiases[0]
        mlpUser.withUnsafeBufferPointer { users in
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(width), Int32(e), 1, towerWeights[0], Int32(2 * e),
                users.baseAddress! + user * e, 1, 1, &userHidden, 1)
        }
        var x = [Float](repeating: 0, count: n * width)
        var y = [Float](repeating: 0, count: n * width)
        for i in 0..<n {
            for k in 0..<width { x[i * width + k] = max(itemHidden[i * width + k] + userHidden[k], 0) }
        }
        for layer in 1..<c.layers {
            let input = widths[layer], output = widths[layer + 1]
            let bias = towerBiases[layer]
            x.withUnsafeBufferPointer { xs in
                y.withUnsafeMutableBufferPointer { ys in
                    gemm(false, true, n, output, input, xs.baseAddress!, input, towerWeights[layer], input,
                        beta: 0, ys.baseAddress!, output)
                    for i in 0..<n {
                        for k in 0..<output { ys[i * output + k] = max(ys[i * output + k] + bias[k], 0) }
                    }
                }
            }
            swap(&x, &y)
        }
        let offset = c.hasGMF ? f : 0
        outputWeight.withUnsafeBufferPointer { h in
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(f), 1, x, Int32(f), h.baseAddress! + offset, 1,
                1, out, 1)
        }
    }
}
