import Foundation
import RecNeural

/// CFGAN (Chae et al., CIKM 2018): a conditional GAN whose generator writes a user's whole purchase vector.
///
/// The generator reads the user's training items `c_u` (a multi-hot condition) through one ReLU layer and writes a
/// probability per item, `r̂_u = σ(W₂ relu(W₁ c_u + b₁) + b₂)`. The discriminator reads a purchase vector beside its
/// condition, `[x ⊙ m, c_u]`, through one ReLU layer and says whether it is real (`x = c_u`) or generated
/// (`x = r̂_u`). Partial masking: the generated vector is shown only on the user's items and on a fresh sample of
/// other items (`m`), so the generator cannot win by writing ones everywhere; zero reconstruction: the generator is
/// also pulled towards 0 on that sample (weight ``Parameters/zeroReconstruction``). Both train with Adam.
///
/// Everything stays sparse: inputs touch only the user's items and the sample, so a step costs
/// `(items of the user + sample) × hidden` per user, not the catalogue size. The generator's full vector is computed
/// only when synthesising (``synthesise(sparseUsers:perUser:)``).
public struct CFGANModel: Sendable {
    /// Training hyperparameters; `init()` gives the defaults listed on each field. Codable, for stored model specs.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Width of the generator's and the discriminator's hidden layer (default 64).
        public var hidden = 64
        /// Passes over the users, each a discriminator step then a generator step per batch (default 30).
        public var epochs = 30
        /// Adam step size of both networks (default 0.001).
        public var learningRate: Float = 0.001
        /// Users per batch (default 64).
        public var batchUsers = 64
        /// Other items sampled per user and step for masking and zero reconstruction, per item the user has
        /// (default 4).
        public var negativesPerItem = 4
        /// Weight α of the zero-reconstruction term `α Σ r̂²` over the sample (default 0.1).
        public var zeroReconstruction: Float = 0.1
        /// Seeds initialisation and sampling (default 42).
        public var seed: UInt64 = 42

        /// The defaults: 64 hidden units, 30 epochs, Adam 0.001, 64 users per batch, 4 sampled items per item,
        /// α 0.1, seed 42.
        public init() {}

        /// Throws `invalidArgument` naming the first parameter out of range.
        public func validate() throws {
            func check(_ ok: Bool, _ name: String, _ value: Any, _ range: String) throws {
                guard ok else {
                    throw RecDBError(.invalidArgument, "cfgan parameter \(name) is \(value); it must be \(range)")
                }
            }
            try check((1...1024).contains(hidden), "cfgan_hidden", hidden, "1 to 1,024")
            try check((0...10_000).contains(epochs), "cfgan_epochs", epochs, "0 to 10,000")
            try check(learningRate > 0 && learningRate <= 1, "cfgan_learning_rate", learningRate, "in (0, 1]")
            try check((1...65_536).contains(batchUsers), "cfgan_batch_users", batchUsers, "1 to 65,536")
            try check((0...1000).contains(negativesPerItem), "cfgan_negatives", negativesPerItem, "0 to 1,000")
            try check(zeroReconstruction >= 0 && zeroReconstruction <= 100, "cfgan_zero_reconstruction",
                zeroReconstruction, "in [0, 100]")
        }
    }

    /// The hyperparameters it was trained with.
    public let parameters: Parameters
    /// Users and items of the training matrix.
    public let userCount: Int, itemCount: Int
    /// The generator: `W₁` as item rows `[items, hidden]`, `b₁`, `W₂` as item rows `[items, hidden]`, `b₂` `[items]`.
    let firstWeights: [Float], firstBias: [Float], secondWeights: [Float], secondBias: [Float]
    /// Each user's training items, ascending (the generator's condition).
    let byUser: InteractionMatrix
    /// Mean discriminator loss (real + generated) over the last epoch's batches.
    public let discriminatorLoss: Double
    /// Wall-clock seconds the training in `init` took.
    public let trainingSeconds: Double

    /// Trains on `log` now (blocking, one thread).
    public init(log: InteractionLog, parameters: Parameters = Parameters()) {
        let started = Date()
        self.parameters = parameters
        let trainer = CFGANTrainer(log: log, parameters: parameters)
        var loss = 0.0
        for _ in 0..<parameters.epochs { loss = trainer.epoch() }
        byUser = trainer.byUser
        userCount = trainer.byUser.rows
        itemCount = trainer.items
        firstWeights = Array(trainer.generator[0].value)
        firstBias = Array(trainer.generator[1].value)
        secondWeights = Array(trainer.generator[2].value)
        secondBias = Array(trainer.generator[3].value)
        discriminatorLoss = loss
        trainingSeconds = Date().timeIntervalSince(started)
    }

    /// The generator's probability for every item for `user` (its condition: the user's training items).
    public func generated(for user: Int) -> [Float] {
        let h = parameters.hidden
        var hidden = firstBias
        if user < byUser.rows {
            for k in byUser.rowStart[user]..<byUser.rowStart[user + 1] {
                let j = Int(byUser.indices[k])
                for d in 0..<h { hidden[d] += firstWeights[j * h + d] }
            }
        }
        for d in 0..<h { hidden[d] = max(hidden[d], 0) }
        return (0..<itemCount).map { j in
            var z = secondBias[j]
            for d in 0..<h { z += hidden[d] * secondWeights[j * h + d] }
            return 1 / (1 + expf(-z))
        }
    }

    /// For every user with 1 to `sparseUsers` training items: the `perUser` items they do not have that the
    /// generator rates highest, as (user, item) pairs in user order.
    public func synthesise(sparseUsers: Int, perUser: Int) -> [(user: UInt32, item: UInt32)] {
        var pairs: [(user: UInt32, item: UInt32)] = []
        for user in 0..<byUser.rows {
            let from = byUser.rowStart[user], to = byUser.rowStart[user + 1]
            guard to > from, to - from <= sparseUsers, perUser > 0 else { continue }
            var scores = generated(for: user)
            for k in from..<to { scores[Int(byUser.indices[k])] = -.infinity }
            let top = scores.withUnsafeMutableBufferPointer { TopScores.indices($0, k: perUser) }
            for item in top where scores[Int(item)] > -.infinity { pairs.append((UInt32(user), item)) }
        }
        return pairs
    }
}

/// `log(1 + eˣ)` without overflow.
private func softplus(_ x: Float) -> Float { max(x, 0) + log1pf(expf(-abs(x))) }

/// The two networks of ``CFGANModel`` and their sparse forward and backward passes.
final class CFGANTrainer {
    let byUser: InteractionMatrix
    let parameters: CFGANModel.Parameters
    let items: Int
    /// `W₁ [items, h]`, `b₁ [h]`, `W₂ [items, h]`, `b₂ [items]`.
    let generator: [Parameter]
    /// `V₁ [items, h]` (purchase half), `U₁ [items, h]` (condition half), `a₁ [h]`, `v₂ [h]`, `a₂ [1]`.
    let discriminator: [Parameter]
    private let generatorOptimizer: AdamOptimizer, discriminatorOptimizer: AdamOptimizer
    private var random: SeededGenerator
    private let users: [Int]

    init(log: InteractionLog, parameters: CFGANModel.Parameters) {
        byUser = InteractionMatrix(log)
        self.parameters = parameters
        items = max(byUser.columns, 1)
        let h = parameters.hidden, matrix = byUser
        var random = SeededGenerator(seed: parameters.seed)
        let generator = [
            Parameter("g.w1", shape: Shape(items, h)), Parameter("g.b1", shape: Shape(h), decays: false),
            Parameter("g.w2", shape: Shape(items, h)), Parameter("g.b2", shape: Shape(items), decays: false),
        ]
        let discriminator = [
            Parameter("d.v1", shape: Shape(items, h)), Parameter("d.u1", shape: Shape(items, h)),
            Parameter("d.a1", shape: Shape(h), decays: false), Parameter("d.v2", shape: Shape(h)),
            Parameter("d.a2", shape: Shape(1), decays: false),
        ]
        let scale = 0.5 / Float(h).squareRoot()
        for p in generator + discriminator where p.decays { p.initializeNormal(std: scale, using: &random) }
        self.generator = generator
        self.discriminator = discriminator
        self.random = random
        generatorOptimizer = AdamOptimizer(parameters: generator)
        discriminatorOptimizer = AdamOptimizer(parameters: discriminator)
        users = (0..<matrix.rows).filter { matrix.rowStart[$0 + 1] > matrix.rowStart[$0] }
    }

    /// One user's sample for masking: `negativesPerItem` per item they have, drawn uniformly among the others.
    private func sample(for user: Int) -> [Int] {
        let own = byUser.indices[byUser.rowStart[user]..<byUser.rowStart[user + 1]]
        let wanted = min(own.count * parameters.negativesPerItem, items - own.count)
        var chosen: [Int] = []
        var tries = 0
        while chosen.count < wanted && tries < wanted * 10 {
            tries += 1
            let j = Int(random.next() % UInt64(items))
            if !BPRModel.contains(own, UInt32(j)) { chosen.append(j) }
        }
        return chosen
    }

    /// What a forward pass of one user keeps for its backward pass.
    private struct Pass {
        var own: [Int], sampled: [Int]
        var generatorPre: [Float], generated: [Float]  // hidden pre-activation; r̂ on own + sampled
        var realPre: [Float], realLogit: Float
        var fakePre: [Float], fakeLogit: Float
    }

    private func forward(_ user: Int) -> Pass {
        let h = parameters.hidden
        let own = byUser.indices[byUser.rowStart[user]..<byUser.rowStart[user + 1]].map { Int($0) }
        let sampled = sample(for: user)
        let w1 = generator[0].value, b1 = generator[1].value, w2 = generator[2].value, b2 = generator[3].value
        let v1 = discriminator[0].value, u1 = discriminator[1].value, a1 = discriminator[2].value
        let v2 = discriminator[3].value, a2 = discriminator[4].value[0]
        var pre = Array(b1)
        for j in own { for d in 0..<h { pre[d] += w1[j * h + d] } }
        let shown = own + sampled
        let generated = shown.map { j -> Float in
            var z = b2[j]
            for d in 0..<h { z += max(pre[d], 0) * w2[j * h + d] }
            return 1 / (1 + expf(-z))
        }
        // The condition half, shared by the real and the generated input.
        var condition = Array(a1)
        for j in own { for d in 0..<h { condition[d] += u1[j * h + d] } }
        var realPre = condition, fakePre = condition
        for j in own { for d in 0..<h { realPre[d] += v1[j * h + d] } }
        for (j, r) in zip(shown, generated) { for d in 0..<h { fakePre[d] += r * v1[j * h + d] } }
        func logit(_ x: [Float]) -> Float {
            var s = a2
            for d in 0..<h { s += max(x[d], 0) * v2[d] }
            return s
        }
        return Pass(
            own: own, sampled: sampled, generatorPre: pre, generated: generated, realPre: realPre,
            realLogit: logit(realPre), fakePre: fakePre, fakeLogit: logit(fakePre))
    }

    /// Adds the discriminator's gradient for one input with loss gradient `g` by its logit.
    private func discriminatorBackward(_ g: Float, pre: [Float], purchase: [(Int, Float)], own: [Int]) {
        let h = parameters.hidden
        let v2 = discriminator[3].value
        let dv1 = discriminator[0].gradient, du1 = discriminator[1].gradient, da1 = discriminator[2].gradient
        let dv2 = discriminator[3].gradient, da2 = discriminator[4].gradient
        da2[0] += g
        var back = [Float](repeating: 0, count: h)
        for d in 0..<h where pre[d] > 0 {
            dv2[d] += g * pre[d]
            back[d] = g * v2[d]
            da1[d] += back[d]
        }
        for (j, x) in purchase { for d in 0..<h { dv1[j * h + d] += x * back[d] } }
        for j in own { for d in 0..<h { du1[j * h + d] += back[d] } }
    }

    /// One pass over the users in batches: a discriminator step, then a generator step on fresh samples. Returns
    /// the mean discriminator loss.
    func epoch() -> Double {
        var order = users
        order.shuffle(using: &random)
        var total = 0.0, count = 0
        var start = 0
        while start < order.count {
            let batch = order[start..<min(order.count, start + parameters.batchUsers)]
            start += parameters.batchUsers
            total += discriminatorStep(batch)
            count += 1
            generatorStep(batch)
        }
        return count == 0 ? 0 : total / Double(count)
    }

    private func clear(_ group: [Parameter]) {
        for p in group { p.gradient.update(repeating: 0) }
    }

    private func discriminatorStep(_ batch: ArraySlice<Int>) -> Double {
        clear(discriminator)
        let scale = 1 / Float(batch.count)
        var loss = 0.0
        for user in batch {
            let pass = forward(user)
            // Real → 1: loss softplus(−x), gradient σ(x) − 1; generated → 0: softplus(x), gradient σ(x).
            let real = 1 / (1 + expf(-pass.realLogit)), fake = 1 / (1 + expf(-pass.fakeLogit))
            loss += Double(softplus(-pass.realLogit) + softplus(pass.fakeLogit))
            discriminatorBackward(
                (real - 1) * scale, pre: pass.realPre, purchase: pass.own.map { ($0, 1) }, own: pass.own)
            discriminatorBackward(
                fake * scale, pre: pass.fakePre, purchase: Array(zip(pass.own + pass.sampled, pass.generated)),
                own: pass.own)
        }
        discriminatorOptimizer.step(learningRate: parameters.learningRate)
        return loss / Double(batch.count)
    }

    private func generatorStep(_ batch: ArraySlice<Int>) {
        clear(generator)
        let h = parameters.hidden, scale = 1 / Float(batch.count), alpha = parameters.zeroReconstruction
        let w2 = generator[2].value
        let dw1 = generator[0].gradient, db1 = generator[1].gradient
        let dw2 = generator[2].gradient, db2 = generator[3].gradient
        let v1 = discriminator[0].value, v2 = discriminator[3].value
        for user in batch {
            let pass = forward(user)
            // Generated → 1 in the discriminator's eyes: gradient σ(x) − 1 by its logit.
            let g = (1 / (1 + expf(-pass.fakeLogit)) - 1) * scale
            var back = [Float](repeating: 0, count: h)
            for d in 0..<h where pass.fakePre[d] > 0 { back[d] = g * v2[d] }
            let shown = pass.own + pass.sampled
            var hiddenGradient = [Float](repeating: 0, count: h)
            for (k, j) in shown.enumerated() {
                let r = pass.generated[k]
                var dr: Float = 0
                for d in 0..<h { dr += back[d] * v1[j * h + d] }
                if k >= pass.own.count { dr += 2 * alpha * r * scale }
                let dz = dr * r * (1 - r)
                db2[j] += dz
                for d in 0..<h {
                    let hd = max(pass.generatorPre[d], 0)
                    dw2[j * h + d] += dz * hd
                    hiddenGradient[d] += dz * w2[j * h + d]
                }
            }
            for d in 0..<h where pass.generatorPre[d] > 0 {
                db1[d] += hiddenGradient[d]
                for j in pass.own { dw1[j * h + d] += hiddenGradient[d] }
            }
        }
        generatorOptimizer.step(learningRate: parameters.learningRate)
    }
}

/// GAN-synthesised interactions for a factor model's training (``CFGANModel``): users with few training items get
/// the generator's best items they lack, at a reduced weight. The synthetic pairs live only in the training log
/// built here and in the model's own generation part (``ModelPart/syntheticInteractions``), never among the events.
public struct CFGANAugmentation: Sendable, Hashable, Codable {
    /// Weight of each synthetic interaction relative to an event of weight 1; 0 turns augmentation off (default 0).
    public var weight: Float = 0
    /// Users with at most this many training items get synthetic ones (default 5).
    public var sparseUsers = 5
    /// Synthetic items per such user (default 3).
    public var itemsPerUser = 3
    /// The GAN's training parameters.
    public var gan = CFGANModel.Parameters()

    /// Augmentation off.
    public init() {}

    /// Whether augmentation is on.
    public var isOn: Bool { weight > 0 }

    /// Throws `invalidArgument` naming the first parameter out of range.
    public func validate() throws {
        guard weight >= 0 && weight <= 100 else {
            throw RecDBError(.invalidArgument, "augment_weight is \(weight); it must be in [0, 100]")
        }
        guard (0...100_000).contains(sparseUsers) else {
            throw RecDBError(.invalidArgument, "augment_sparse_users is \(sparseUsers); it must be 0 to 100,000")
        }
        guard (0...1000).contains(itemsPerUser) else {
            throw RecDBError(.invalidArgument, "augment_items is \(itemsPerUser); it must be 0 to 1,000")
        }
        try gan.validate()
    }

    /// The synthetic pairs for `log` (GAN trained on `log` alone) and `log` with them added at ``weight``, each at
    /// its user's latest time, the log's user-then-time order kept.
    func augment(_ log: InteractionLog) -> (log: InteractionLog, synthetic: [(user: UInt32, item: UInt32)]) {
        let pairs = CFGANModel(log: log, parameters: gan).synthesise(sparseUsers: sparseUsers, perUser: itemsPerUser)
        var merged = InteractionLog()
        merged.userLimit = log.userLimit
        merged.itemLimit = log.itemLimit
        var next = 0
        var index = 0
        while index < log.count {
            let user = log.users[index]
            var last: Int64 = 0
            while index < log.count && log.users[index] == user {
                merged.append(
                    user: user, item: log.items[index], weight: log.weights[index], time: log.times[index],
                    session: index < log.sessions.count ? log.sessions[index] : 0)
                last = log.times[index]
                index += 1
            }
            while next < pairs.count && pairs[next].user < user { next += 1 }
            while next < pairs.count && pairs[next].user == user {
                merged.append(user: user, item: pairs[next].item, weight: weight, time: last)
                next += 1
            }
        }
        return (merged, pairs)
    }
}

extension CFGANAugmentation {
    /// The augmentation's parameters in a factor kind's record, reached through `path` (`augment_weight` 0: off).
    static func storedParameters<Model>(_ path: WritableKeyPath<Model, Self>) -> [ModelParameter<Model>] {
        [
            .float("augment_weight", path.appending(path: \.weight)),
            .count("augment_sparse_users", path.appending(path: \.sparseUsers)),
            .count("augment_items", path.appending(path: \.itemsPerUser)),
            .count("cfgan_epochs", path.appending(path: \.gan.epochs)),
            .count("cfgan_hidden", path.appending(path: \.gan.hidden)),
            .float("cfgan_learning_rate", path.appending(path: \.gan.learningRate)),
            .count("cfgan_negatives", path.appending(path: \.gan.negativesPerItem)),
            .float("cfgan_zero_reconstruction", path.appending(path: \.gan.zeroReconstruction)),
        ]
    }
}

/// A model trained on a log with GAN-synthesised interactions: scores as its base, and carries the synthetic pairs
/// so the refresh stores them apart (``ModelPart/syntheticInteractions``).
struct AugmentedRecommender: Recommender {
    let base: any Recommender
    let synthetic: [(user: UInt32, item: UInt32)]

    var name: String { base.name }

    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        base.score(user: user, history: history, into: scores)
    }

    func itemVector(_ item: UInt32) -> [Float]? { base.itemVector(item) }

    /// The model and its synthetic pairs (none for a model trained without augmentation).
    static func unwrap(_ trained: any Recommender) -> (any Recommender, [(user: UInt32, item: UInt32)]) {
        guard let augmented = trained as? AugmentedRecommender else { return (trained, []) }
        return (augmented.base, augmented.synthetic)
    }
}

extension ModelPart {
    /// ALS and BPR trained with ``CFGANAugmentation``: the synthetic (user, item) pairs, each id a `u32` bit
    /// pattern in a float32 slot, user then item.
    public static let syntheticInteractions = ModelPart(rawValue: 14)
}

extension GenerationWriter {
    /// Stores the synthetic pairs a model trained with (nothing when there are none).
    func writeSynthetic(_ pairs: [(user: UInt32, item: UInt32)]) throws {
        guard !pairs.isEmpty else { return }
        try writeFloats(
            .syntheticInteractions, pairs.flatMap { [Float(bitPattern: $0.user), Float(bitPattern: $0.item)] })
    }
}

extension CatalogReading where Self: ~Copyable {
    /// The synthetic (user id, item id) pairs a stored ALS or BPR generation trained with; empty without
    /// augmentation.
    func syntheticInteractions(_ record: ModelRecord) throws -> [(user: UInt32, item: UInt32)] {
        let floats = try modelFloats(record, part: .syntheticInteractions)
        return stride(from: 0, to: floats.count - 1, by: 2).map { (floats[$0].bitPattern, floats[$0 + 1].bitPattern) }
    }
}
