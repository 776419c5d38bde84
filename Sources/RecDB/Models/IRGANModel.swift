import COpenBLAS
import Foundation

/// IRGAN for item recommendation (Wang et al., SIGIR 2017): a minimax game between a generator, which proposes
/// items a user might like by sampling from a softmax over its scores, and a discriminator, which learns to tell the
/// user's real items from the generator's proposals. Both players are factor models with item biases, started from
/// the same BPR model (``Parameters/pretraining``). Each round trains the discriminator (logistic loss, real
/// positives against generator samples at ``Parameters/temperature``, samples drawn afresh every five passes), then
/// the generator by policy gradient (REINFORCE): per user it draws twice as many items as the user has, from a
/// proposal that mixes its own softmax with the user's positives (importance sampling, weight
/// ``Parameters/sampleLambda``), rewards each by the discriminator's `2·(σ(score) − 0.5)` times `p/proposal`, and
/// follows the gradient of the rewarded log-probabilities. Recommendations come from the generator.
///
/// The gradients are written by hand (both players are plain factor models); the generator's softmax and its dense
/// gradient run over mini-batches of users through `sgemm`.
public struct IRGANModel: Recommender {
    /// Training hyperparameters; `init()` gives the defaults listed on each field. Codable, for stored model specs.
    public struct Parameters: Sendable, Hashable, Codable {
        /// The BPR both players start from; its factors, seed and regularisation are IRGAN's (default: BPR's defaults).
        public var pretraining = BPRModel.Parameters()
        /// Adversarial rounds, each the discriminator's passes then the generator's (default 5).
        public var rounds = 5
        /// Discriminator passes per round over every training pair and one generator sample beside it (default 5).
        public var discriminatorEpochs = 5
        /// Generator passes per round, one policy-gradient step per user each (default 2).
        public var generatorEpochs = 2
        /// SGD step size of both players (default 0.01).
        public var learningRate: Float = 0.01
        /// L2 penalty on the discriminator's rows in each of its steps (default 0.01).
        public var discriminatorRegularization: Float = 0.01
        /// L2 penalty on the generator's rows in each of its steps (default 0, as the reference code).
        public var generatorRegularization: Float = 0
        /// Softmax temperature of the generator when it samples negatives for the discriminator (default 0.2).
        public var temperature: Float = 0.2
        /// Share of the generator's importance-sampling proposal spread over the user's own items (default 0.2).
        public var sampleLambda: Float = 0.2
        /// Users per generator step (their gradients summed; 1 is the reference code's per-user step) (default 32).
        public var batchUsers = 32

        /// The defaults: BPR's defaults as pre-training, 5 rounds of 5 discriminator and 2 generator passes, step
        /// 0.01, temperature 0.2, sample λ 0.2, 32 users per generator step.
        public init() {}

        /// Throws `invalidArgument` naming the first parameter out of range.
        public func validate() throws {
            func check(_ ok: Bool, _ name: String, _ value: Any, _ range: String) throws {
                guard ok else {
                    throw RecDBError(.invalidArgument, "irgan parameter \(name) is \(value); it must be \(range)")
                }
            }
            try check((1...1024).contains(pretraining.factors), "factors", pretraining.factors, "1 to 1,024")
            try check((0...100_000).contains(pretraining.iterations), "iterations", pretraining.iterations, "0 to 100,000")
            try check(pretraining.learningRate > 0 && pretraining.learningRate <= 10, "learning_rate",
                pretraining.learningRate, "in (0, 10]")
            try check(pretraining.regularization >= 0 && pretraining.regularization <= 100, "regularization",
                pretraining.regularization, "in [0, 100]")
            try check((0...10_000).contains(rounds), "rounds", rounds, "0 to 10,000")
            try check((0...10_000).contains(discriminatorEpochs), "d_epochs", discriminatorEpochs, "0 to 10,000")
            try check((0...10_000).contains(generatorEpochs), "g_epochs", generatorEpochs, "0 to 10,000")
            try check(learningRate > 0 && learningRate <= 10, "gan_learning_rate", learningRate, "in (0, 10]")
            try check(discriminatorRegularization >= 0 && discriminatorRegularization <= 100, "d_regularization",
                discriminatorRegularization, "in [0, 100]")
            try check(generatorRegularization >= 0 && generatorRegularization <= 100, "g_regularization",
                generatorRegularization, "in [0, 100]")
            try check(temperature > 0 && temperature <= 100, "temperature", temperature, "in (0, 100]")
            try check(sampleLambda >= 0 && sampleLambda < 1, "sample_lambda", sampleLambda, "in [0, 1)")
            try check((1...4096).contains(batchUsers), "batch_users", batchUsers, "1 to 4,096")
        }
    }

    /// The model's name in reports (default `ModelKind.irgan.rawValue`).
    public let name: String
    /// The hyperparameters it was trained with.
    public let parameters: Parameters
    /// The generator's user rows of `factors + 1` (last column 1), BPR's layout.
    public let userFactors: [Float]
    /// The generator's item rows of `factors + 1` (last column the item's bias), BPR's layout.
    public let itemFactors: [Float]
    /// Mean discriminator reward `2·(σ − 0.5)` of the generator's samples after pre-training and after each round.
    public let rewards: [Double]
    /// Wall-clock seconds the training in `init` took, pre-training included.
    public let trainingSeconds: Double
    /// Folds in users with events since training, as serving does (BPR's layout: the bias column not solved).
    let foldIn: FactorFoldIn

    /// Trains on `log` now (blocking): BPR pre-training on `threads` workers, then the adversarial rounds.
    /// `progress` is called with the fraction done, in (0, 1].
    public init(
        name: String = ModelKind.irgan.rawValue, log: InteractionLog, parameters: Parameters = Parameters(),
        threads: Int = 2, progress: (@Sendable (Double) -> Void)? = nil
    ) {
        let started = Date()
        self.name = name
        self.parameters = parameters
        let bpr = BPRModel(log: log, parameters: parameters.pretraining, threads: threads)
        progress?(0.2)
        let game = IRGANGame(log: log, pretrained: bpr, parameters: parameters)
        var rewards = [game.meanReward()]
        for round in 0..<parameters.rounds {
            game.trainDiscriminator(passes: parameters.discriminatorEpochs, round: round)
            game.trainGenerator(passes: parameters.generatorEpochs, round: round)
            rewards.append(game.meanReward())
            progress?(0.2 + 0.8 * Double(round + 1) / Double(parameters.rounds))
        }
        userFactors = game.generatorUsers.array
        itemFactors = game.generatorItems.array
        let f = parameters.pretraining.factors + 1
        foldIn = FactorFoldIn(
            items: itemFactors, dimension: f, solved: f - 1, regularization: parameters.pretraining.regularization,
            alpha: 1)
        self.rewards = rewards
        trainingSeconds = Date().timeIntervalSince(started)
    }

    /// The generator's score: the user's row (trailing 1) times each item's row (trailing bias); a user with events
    /// since training is folded in from the history.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        FactorScoring.score(
            user: user, history: history, users: userFactors, items: itemFactors,
            factors: parameters.pretraining.factors + 1, foldIn: foldIn, into: scores)
    }

    /// The generator's latent vector of the item, without its bias; nil for an item id past the log's item limit.
    public func itemVector(_ item: UInt32) -> [Float]? {
        FactorScoring.vector(item, itemFactors, parameters.pretraining.factors + 1).map { Array($0.dropLast()) }
    }
}

/// The two players of ``IRGANModel`` and their training steps, apart so tests can run a step and look at the result.
/// One thread: every step is deterministic under the pre-training's seed.
final class IRGANGame {
    let byUser: InteractionMatrix
    let parameters: IRGANModel.Parameters
    /// Row width: factors + 1 (users' last column 1, items' last column the bias).
    let width: Int
    let generatorUsers: FactorMatrix, generatorItems: FactorMatrix
    let discriminatorUsers: FactorMatrix, discriminatorItems: FactorMatrix
    private var random: UInt64

    /// Both players copied from `pretrained`, trained on `log`.
    init(log: InteractionLog, pretrained: BPRModel, parameters: IRGANModel.Parameters) {
        byUser = InteractionMatrix(log)
        self.parameters = parameters
        width = parameters.pretraining.factors + 1
        let users = pretrained.userFactors.count / width, items = pretrained.itemFactors.count / width
        generatorUsers = FactorMatrix(rows: users, columns: width, copying: pretrained.userFactors)
        generatorItems = FactorMatrix(rows: items, columns: width, copying: pretrained.itemFactors)
        discriminatorUsers = FactorMatrix(rows: users, columns: width, copying: pretrained.userFactors)
        discriminatorItems = FactorMatrix(rows: items, columns: width, copying: pretrained.itemFactors)
        random = parameters.pretraining.seed &* 0x9E37_79B9_7F4A_7C15 &+ 17
    }

    var itemCount: Int { generatorItems.rows }

    /// Users with at least one training item (and a row in the factors).
    var activeUsers: [Int] {
        (0..<min(byUser.rows, generatorUsers.rows)).filter { byUser.rowStart[$0 + 1] > byUser.rowStart[$0] }
    }

    private func nextUniform() -> Float {
        random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(random >> 40) / Float(1 << 24)
    }

    /// The discriminator's reward for recommending `item` to `user`: `2·(σ(score) − 0.5)`, in (−1, 1).
    func reward(user: Int, item: Int) -> Float {
        let s = VectorKernels.dot(discriminatorUsers.row(user), discriminatorItems.row(item), width)
        return 2 / (1 + expf(-s)) - 1
    }

    /// Generator scores of `users` against every item, into `scores` (`users.count × itemCount`, row-major).
    private func generatorScores(_ users: ArraySlice<Int>, into scores: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>) {
        for (b, user) in users.enumerated() { (rows + b * width).update(from: generatorUsers.row(user), count: width) }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(users.count), Int32(itemCount), Int32(width), 1, rows,
            Int32(width), generatorItems.storage, Int32(width), 0, scores, Int32(itemCount))
    }

    /// Softmax of `row` (length `itemCount`) at `temperature`, in place.
    private func softmax(_ row: UnsafeMutablePointer<Float>, temperature: Float) {
        var top = -Float.infinity
        for i in 0..<itemCount { top = max(top, row[i]) }
        var sum: Float = 0
        for i in 0..<itemCount {
            row[i] = expf((row[i] - top) / temperature)
            sum += row[i]
        }
        let scale = 1 / sum
        for i in 0..<itemCount { row[i] *= scale }
    }

    /// `count` draws from the distribution whose running sums are `cumulative` (last entry the total).
    private func draw(_ count: Int, cumulative: UnsafeMutablePointer<Float>) -> [Int] {
        let total = cumulative[itemCount - 1]
        return (0..<count).map { _ in
            let target = nextUniform() * total
            var low = 0, high = itemCount - 1
            while low < high {
                let mid = (low + high) >> 1
                if cumulative[mid] <= target { low = mid + 1 } else { high = mid }
            }
            return low
        }
    }

    /// Calls `body` per batch of active users with their generator scores (a `batch × itemCount` buffer).
    private func forEachBatch(_ body: (ArraySlice<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let users = activeUsers, batch = parameters.batchUsers
        guard itemCount > 0, !users.isEmpty else { return }
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: batch * itemCount)
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: batch * width)
        defer {
            scores.deallocate()
            rows.deallocate()
        }
        var start = 0
        while start < users.count {
            let slice = users[start..<min(users.count, start + batch)]
            generatorScores(slice, into: scores, rows: rows)
            body(slice, scores)
            start += batch
        }
    }

    /// One generator sample at the discriminator temperature per training pair: `negatives[k]` sits beside the pair
    /// `byUser.indices[k]`.
    func sampleNegatives() -> [UInt32] {
        var negatives = [UInt32](repeating: 0, count: byUser.nonZeros)
        let cumulative = UnsafeMutablePointer<Float>.allocate(capacity: max(itemCount, 1))
        defer { cumulative.deallocate() }
        forEachBatch { users, scores in
            for (b, user) in users.enumerated() {
                let row = scores + b * itemCount
                softmax(row, temperature: parameters.temperature)
                var sum: Float = 0
                for i in 0..<itemCount {
                    sum += row[i]
                    cumulative[i] = sum
                }
                let from = byUser.rowStart[user], to = byUser.rowStart[user + 1]
                for (k, item) in draw(to - from, cumulative: cumulative).enumerated() {
                    negatives[from + k] = UInt32(item)
                }
            }
        }
        return negatives
    }

    /// `passes` discriminator passes: logistic SGD on every training pair (label 1) and its generator sample
    /// (label 0), in a shuffled order; samples are redrawn every five passes.
    func trainDiscriminator(passes: Int, round: Int) {
        let lr = parameters.learningRate, reg = parameters.discriminatorRegularization, f = width - 1
        var negatives: [UInt32] = []
        var order = Array(0..<byUser.nonZeros)
        var owner = [Int](repeating: 0, count: byUser.nonZeros)
        for u in 0..<byUser.rows { for k in byUser.rowStart[u]..<byUser.rowStart[u + 1] { owner[k] = u } }
        func step(_ user: Int, _ item: Int, _ label: Float) {
            let x = discriminatorUsers.row(user), y = discriminatorItems.row(item)
            let g = 1 / (1 + expf(-VectorKernels.dot(x, y, width))) - label
            for d in 0..<f {
                let xd = x[d]
                x[d] -= lr * (g * y[d] + reg * xd)
                y[d] -= lr * (g * xd + reg * y[d])
            }
            y[f] -= lr * (g + reg * y[f])
        }
        for pass in 0..<passes {
            if pass % 5 == 0 { negatives = sampleNegatives() }
            for k in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(k, Int(nextUniform() * Float(k + 1)) % (k + 1))
            }
            for k in order where owner[k] < discriminatorUsers.rows {
                step(owner[k], Int(byUser.indices[k]), 1)
                step(owner[k], Int(negatives[k]), 0)
            }
        }
    }

    /// `passes` generator passes of policy-gradient steps, one per batch of users (see ``IRGANModel``).
    func trainGenerator(passes: Int, round: Int) {
        let lr = parameters.learningRate, reg = parameters.generatorRegularization, lambda = parameters.sampleLambda
        let f = width - 1, n = itemCount, batch = parameters.batchUsers
        let cumulative = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: batch * width)
        let userGradients = UnsafeMutablePointer<Float>.allocate(capacity: batch * width)
        defer {
            cumulative.deallocate()
            rows.deallocate()
            userGradients.deallocate()
        }
        for _ in 0..<passes {
            forEachBatch { users, scores in
                for (b, user) in users.enumerated() {
                    // `row` turns from scores into p, then into the gradient of the loss by the scores.
                    let row = scores + b * n
                    softmax(row, temperature: 1)
                    let from = byUser.rowStart[user], to = byUser.rowStart[user + 1], positives = to - from
                    let bonus = lambda / Float(positives)
                    var sum: Float = 0
                    var next = from
                    for i in 0..<n {
                        var proposal = (1 - lambda) * row[i]
                        if next < to, Int(byUser.indices[next]) == i {
                            proposal += bonus
                            next += 1
                        }
                        sum += proposal
                        cumulative[i] = sum
                    }
                    let samples = draw(2 * positives, cumulative: cumulative)
                    let own = byUser.indices[from..<to]
                    let weights = samples.map { item -> Float in
                        let proposal = (1 - lambda) * row[item] + (BPRModel.contains(own, UInt32(item)) ? bonus : 0)
                        return reward(user: user, item: item) * row[item] / max(proposal, .leastNormalMagnitude)
                    }
                    // Loss −(1/m) Σ r_k log p(j_k): its gradient by score i is (R/m)·p_i − (1/m) Σ_{j_k = i} r_k.
                    let m = Float(samples.count), total = weights.reduce(0, +)
                    for i in 0..<n { row[i] *= total / m }
                    for (item, weight) in zip(samples, weights) { row[item] -= weight / m }
                }
                let count = Int32(users.count)
                for (b, user) in users.enumerated() { (rows + b * width).update(from: generatorUsers.row(user), count: width) }
                // Users' gradients (batch × width) = G (batch × n) · items (n × width), before the items move.
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, count, Int32(width), Int32(n), 1, scores, Int32(n),
                    generatorItems.storage, Int32(width), 0, userGradients, Int32(width))
                // Items (and their bias, through the users' constant column) −= lr · Gᵀ · users.
                if reg > 0 {
                    let decay = 1 - lr * reg
                    for k in 0..<(n * width) { generatorItems.storage[k] *= decay }
                }
                cblas_sgemm(
                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(width), count, -lr, scores, Int32(n), rows,
                    Int32(width), 1, generatorItems.storage, Int32(width))
                for (b, user) in users.enumerated() {
                    let x = generatorUsers.row(user), g = userGradients + b * width
                    for d in 0..<f { x[d] -= lr * (g[d] + reg * x[d]) }
                }
            }
        }
    }

    /// Expected discriminator reward `Σ_i p(i) · reward(i)` under the generator's softmax (temperature 1), averaged
    /// over at most `users` active users spread evenly over the ids: what the generator's policy gradient raises.
    func meanReward(users limit: Int = 256) -> Double {
        let users = activeUsers
        guard itemCount > 0, !users.isEmpty else { return 0 }
        let step = max(1, users.count / max(limit, 1))
        let chosen = stride(from: 0, to: users.count, by: step).prefix(limit).map { users[$0] }
        let row = UnsafeMutablePointer<Float>.allocate(capacity: itemCount)
        defer { row.deallocate() }
        var total = 0.0
        for user in chosen {
            let x = generatorUsers.row(user)
            for i in 0..<itemCount { row[i] = VectorKernels.dot(x, generatorItems.row(i), width) }
            softmax(row, temperature: 1)
            var expected = 0.0
            for i in 0..<itemCount where row[i] > 1e-7 { expected += Double(row[i] * reward(user: user, item: i)) }
            total += expected
        }
        return total / Double(chosen.count)
    }
}

extension FactorMatrix {
    /// A `rows × columns` matrix holding `values` (row-major; missing entries 0).
    convenience init(rows: Int, columns: Int, copying values: [Float]) {
        self.init(rows: rows, columns: columns, scale: 0, seed: 0)
        values.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            storage.update(from: base, count: min(source.count, rows * columns))
        }
    }
}
