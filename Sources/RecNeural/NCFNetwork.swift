import Foundation

/// NCF's network (He et al. 2017) on the training core: GMF (user and item embeddings, their elementwise product),
/// an MLP (separate embeddings side by side through a halving ReLU tower), or NeuMF (both, their last layers side by
/// side), then one linear output whose value is the logit of "the user interacts with the item". Linear weights are
/// stored `[out, in]` as PyTorch's `nn.Linear`.
public final class NCFNetwork {
    /// The configuration it was built with.
    public let configuration: NCFConfiguration
    /// GMF's user embeddings `[users, factors]` (nil for the MLP variant).
    public let gmfUser: Parameter?
    /// GMF's item embeddings `[items, factors]` (nil for the MLP variant).
    public let gmfItem: Parameter?
    /// The MLP's user embeddings `[users, mlpEmbeddingWidth]` (nil for GMF).
    public let mlpUser: Parameter?
    /// The MLP's item embeddings `[items, mlpEmbeddingWidth]` (nil for GMF).
    public let mlpItem: Parameter?
    /// The tower's layers, weight `[out, in]` and bias `[out]` each (empty for GMF).
    public let tower: [(weight: Parameter, bias: Parameter)]
    /// The output layer `[1, outputWidth]`: GMF's part first, then the MLP's.
    public let outputWeight: Parameter
    /// The output bias `[1]`.
    public let outputBias: Parameter
    /// Every trainable parameter in a fixed order (GMF embeddings, MLP embeddings, tower, output): the order weights
    /// are stored in.
    public let parameters: [Parameter]

    /// A network initialised from `configuration.seed`: embeddings normal with standard deviation 0.01 (as the
    /// paper's code), tower and output Xavier-uniform, biases zero.
    public init(_ configuration: NCFConfiguration) {
        precondition(configuration.userCount >= 1 && configuration.itemCount >= 1, "NCF needs users and items")
        precondition(configuration.factors >= 1 && configuration.layers >= 1, "NCF needs factors and layers")
        self.configuration = configuration
        var generator = SeededGenerator(seed: configuration.seed)
        let c = configuration
        func table(_ name: String, _ rows: Int, _ width: Int) -> Parameter {
            let p = Parameter(name, shape: Shape(rows, width), decays: false)
            p.initializeNormal(std: 0.01, using: &generator)
            return p
        }
        gmfUser = c.hasGMF ? table("gmf.user_embedding", c.userCount, c.factors) : nil
        gmfItem = c.hasGMF ? table("gmf.item_embedding", c.itemCount, c.factors) : nil
        mlpUser = c.hasMLP ? table("mlp.user_embedding", c.userCount, c.mlpEmbeddingWidth) : nil
        mlpItem = c.hasMLP ? table("mlp.item_embedding", c.itemCount, c.mlpEmbeddingWidth) : nil
        let widths = c.towerWidths
        tower = !c.hasMLP ? [] : (0..<c.layers).map { k in
            let weight = Parameter("mlp.layer\(k).weight", shape: Shape(widths[k + 1], widths[k]))
            weight.initializeXavierUniform(using: &generator)
            return (weight, Parameter("mlp.layer\(k).bias", shape: Shape(widths[k + 1]), decays: false))
        }
        outputWeight = Parameter("output.weight", shape: Shape(1, c.outputWidth))
        outputWeight.initializeXavierUniform(using: &generator)
        outputBias = Parameter("output.bias", shape: Shape(1), decays: false)
        parameters = [gmfUser, gmfItem, mlpUser, mlpItem].compactMap { $0 } + tower.flatMap { [$0.weight, $0.bias] }
            + [outputWeight, outputBias]
    }

    /// NeuMF initialised from a trained GMF and a trained MLP of the same users, items, factors and layers, as the
    /// paper pre-trains it: their embeddings and tower copied, the output the two outputs weighted `alpha` (GMF)
    /// and `1 − alpha` (MLP).
    public convenience init(neuMFFrom gmf: NCFNetwork, mlp: NCFNetwork, alpha: Float = 0.5, seed: UInt64 = 1) {
        precondition(gmf.configuration.variant == .gmf && mlp.configuration.variant == .mlp, "GMF and MLP expected")
        var c = gmf.configuration
        c.variant = .neumf
        c.layers = mlp.configuration.layers
        c.seed = seed
        precondition(c.userCount == mlp.configuration.userCount && c.itemCount == mlp.configuration.itemCount
            && c.factors == mlp.configuration.factors, "GMF and MLP must have the same users, items and factors")
        self.init(c)
        func copy(_ from: Parameter?, _ to: Parameter?) { if let from, let to { _ = to.value.update(fromContentsOf: from.value) } }
        copy(gmf.gmfUser, gmfUser)
        copy(gmf.gmfItem, gmfItem)
        copy(mlp.mlpUser, mlpUser)
        copy(mlp.mlpItem, mlpItem)
        for (source, target) in zip(mlp.tower, tower) {
            copy(source.weight, target.weight)
            copy(source.bias, target.bias)
        }
        let f = c.factors
        for k in 0..<f {
            outputWeight.value[k] = alpha * gmf.outputWeight.value[k]
            outputWeight.value[f + k] = (1 - alpha) * mlp.outputWeight.value[k]
        }
        outputBias.value[0] = alpha * gmf.outputBias.value[0] + (1 - alpha) * mlp.outputBias.value[0]
    }

    /// The logits `[count]` of the pairs `(users[i], items[i])`, recorded on `tape`.
    public func logits(_ tape: Tape, users: UnsafeBufferPointer<Int32>, items: UnsafeBufferPointer<Int32>) -> Variable {
        precondition(users.count == items.count, "logits: \(users.count) users for \(items.count) items")
        var parts: [Variable] = []
        if let gmfUser, let gmfItem {
            parts.append(tape.multiply(tape.gather(gmfUser, rows: users), tape.gather(gmfItem, rows: items)))
        }
        if let mlpUser, let mlpItem {
            var x = tape.concatenate(tape.gather(mlpUser, rows: users), tape.gather(mlpItem, rows: items))
            for layer in tower {
                x = tape.relu(tape.add(tape.matmul(x, tape.parameter(layer.weight), transposeB: true),
                    tape.parameter(layer.bias)))
            }
            parts.append(x)
        }
        let joined = parts.count == 2 ? tape.concatenate(parts[0], parts[1]) : parts[0]
        let out = tape.add(tape.matmul(joined, tape.parameter(outputWeight), transposeB: true),
            tape.parameter(outputBias))
        return tape.reshape(out, Shape(users.count))
    }

    /// Every weight in ``parameters`` order, row-major: what a stored model keeps.
    public var weights: [Float] {
        var all: [Float] = []
        all.reserveCapacity(parameters.reduce(0) { $0 + $1.shape.count })
        for p in parameters { all.append(contentsOf: p.value) }
        return all
    }

    /// Loads weights in ``parameters`` order; false (nothing changed) when the count does not fit the network.
    public func load(weights: [Float]) -> Bool {
        guard weights.count == parameters.reduce(0, { $0 + $1.shape.count }) else { return false }
        var offset = 0
        for p in parameters {
            let n = p.shape.count
            weights.withUnsafeBufferPointer { source in
                p.value.baseAddress!.update(from: source.baseAddress! + offset, count: n)
            }
            offset += n
        }
        return true
    }
}
