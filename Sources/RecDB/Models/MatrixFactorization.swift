import Foundation
import RecKernels

/// Dense `rows × columns` float matrix in row-major order, shared by threads that write disjoint rows (ALS). BPR's
/// workers update shared item rows without locks (Hogwild!, as implicit does): lost float updates are accepted by
/// that algorithm's design.
final class FactorMatrix: Sendable {
    let rows: Int
    let columns: Int
    /// Disjoint writes: see above; freed in `deinit`.
    private let shared: SharedPointer<Float>
    var storage: UnsafeMutablePointer<Float> { shared.base }

    /// Random entries, uniform in [0, scale) or, when `centered`, in [−scale/2, scale/2).
    init(rows: Int, columns: Int, scale: Float, seed: UInt64, centered: Bool = false) {
        self.rows = rows
        self.columns = columns
        let storage = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * columns, 1))
        shared = SharedPointer(storage)
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        for i in 0..<rows * columns {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            storage[i] = (Float(state >> 40) / Float(1 << 24) - (centered ? 0.5 : 0)) * scale
        }
    }

    deinit { storage.deallocate() }

    @inline(__always) func row(_ r: Int) -> UnsafeMutablePointer<Float> { storage + r * columns }

    var array: [Float] { Array(UnsafeBufferPointer(start: storage, count: rows * columns)) }

    /// `MᵀM + λI` (columns × columns).
    func gram(regularization: Float) -> [Float] {
        let f = columns
        var result = [Float](repeating: 0, count: f * f)
        result.withUnsafeMutableBufferPointer { out in
            for r in 0..<rows {
                let v = row(r)
                for a in 0..<f {
                    let va = v[a]
                    if va == 0 { continue }
                    let target = out.baseAddress! + a * f
                    for b in 0..<f { target[b] += va * v[b] }
                }
            }
            for a in 0..<f { out[a * f + a] += regularization }
        }
        return result
    }
}

/// Matrix factorisation for implicit feedback (Hu, Koren and Volinsky 2008), alternating least squares with a
/// conjugate-gradient solver (Takács, Pilászy and Tikk 2011). Event weights, times `alpha`, are the confidences;
/// every interacted item has preference 1. Users' and items' factor solves run on `threads` threads.
public struct ALSModel: Recommender {
    /// Training hyperparameters; `init()` gives the defaults listed on each field. Codable, for stored model specs.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Latent dimensions per user and item vector (default 64).
        public var factors = 64
        /// L2 penalty λ added to the diagonal of the Gram matrix `YᵀY + λI` in every solve (default 0.01).
        public var regularization: Float = 0.01
        /// Confidence scale: an interaction of weight `w` gets confidence `alpha · w` (default 1).
        public var alpha: Float = 1
        /// Full alternations (users solved, then items) to run (default 15).
        public var iterations = 15
        /// Conjugate-gradient steps per row and half-iteration, warm-started from the row's current value (default 3).
        public var conjugateGradientSteps = 3
        /// Seeds the initial factors (uniform in [0, 0.01)); equal seeds and data give equal models (default 42).
        public var seed: UInt64 = 42
        /// The defaults: 64 factors, λ = 0.01, alpha 1, 15 iterations, 3 CG steps, seed 42.
        public init() {}
    }

    /// The model's name in reports (default `ModelKind.als.rawValue`).
    public let name: String
    /// The hyperparameters it was trained with.
    public let parameters: Parameters
    /// User factor rows, row-major: user `u`'s vector is `userFactors[u·factors ..< (u+1)·factors]`.
    public let userFactors: [Float]
    /// Item factor rows, row-major: item `i`'s vector is `itemFactors[i·factors ..< (i+1)·factors]`.
    public let itemFactors: [Float]
    /// Wall-clock seconds the training in `init` took.
    public let trainingSeconds: Double
    /// Folds in users with events since training, as serving does.
    let foldIn: FactorFoldIn

    /// Trains on `log` now (blocking): `iterations` alternations, each half spread over `threads` workers (default 2).
    /// `progress` is called after each iteration with the fraction done, in (0, 1].
    public init(
        name: String = ModelKind.als.rawValue, log: InteractionLog, parameters: Parameters = Parameters(), threads: Int = 2,
        progress: (@Sendable (Double) -> Void)? = nil
    ) {
        let started = Date()
        self.name = name
        self.parameters = parameters
        let f = parameters.factors
        let byUser = InteractionMatrix(log)
        let byItem = InteractionMatrix(log, transpose: true)
        let users = FactorMatrix(rows: byUser.rows, columns: f, scale: 0.01, seed: parameters.seed)
        let items = FactorMatrix(rows: byItem.rows, columns: f, scale: 0.01, seed: parameters.seed &+ 1)
        for iteration in 0..<parameters.iterations {
            Self.solve(users, fixed: items, ratings: byUser, parameters: parameters, threads: threads)
            Self.solve(items, fixed: users, ratings: byItem, parameters: parameters, threads: threads)
            progress?(Double(iteration + 1) / Double(max(parameters.iterations, 1)))
        }
        userFactors = users.array
        itemFactors = items.array
        foldIn = Self.foldIn(itemFactors, parameters)
        trainingSeconds = Date().timeIntervalSince(started)
    }

    static func foldIn(_ itemFactors: [Float], _ parameters: Parameters) -> FactorFoldIn {
        FactorFoldIn(
            items: itemFactors, dimension: parameters.factors, solved: parameters.factors,
            regularization: parameters.regularization, alpha: parameters.alpha)
    }

    /// A model from factors trained elsewhere (Spark MLlib, ``RecDatabase/importFactors(_:from:progress:)``): rows
    /// of `parameters.factors` floats, indexed by internal user and item id; absent ids hold zero rows.
    init(name: String = ModelKind.als.rawValue, parameters: Parameters, userFactors: [Float], itemFactors: [Float],
         trainingSeconds: Double) {
        self.name = name
        self.parameters = parameters
        self.userFactors = userFactors
        self.itemFactors = itemFactors
        foldIn = Self.foldIn(itemFactors, parameters)
        self.trainingSeconds = trainingSeconds
    }

    /// One half-iteration: each row of `target` moves towards the least-squares solution against `fixed`, with a
    /// few conjugate-gradient steps warm-started from its current value.
    static func solve(
        _ target: FactorMatrix, fixed: FactorMatrix, ratings: InteractionMatrix, parameters: Parameters, threads: Int
    ) {
        let f = target.columns
        let gram = fixed.gram(regularization: parameters.regularization)
        let alpha = parameters.alpha, steps = parameters.conjugateGradientSteps
        let workers = max(1, min(threads, target.rows))
        gram.withUnsafeBufferPointer { gramBuffer in
            let gramPointer = SharedPointer(readOnly: gramBuffer.baseAddress!)  // read-only while the workers run
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let yty = gramPointer.base
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * f)
                defer { scratch.deallocate() }
                let r = scratch, p = scratch + f, ap = scratch + 2 * f
                var u = worker
                while u < target.rows {
                    defer { u += workers }
                    let x = target.row(u)
                    let (indices, values) = ratings.row(u)
                    // r = Yᵀ Cu p(u) − (YᵀY + λI) x − Yᵀ (Cu − I) Y x
                    multiply(yty, x, into: r, f)
                    for d in 0..<f { r[d] = -r[d] }
                    for (item, weight) in zip(indices, values) {
                        let y = fixed.row(Int(item))
                        let confidence = alpha * weight
                        let coefficient = confidence - (confidence - 1) * VectorKernels.dot(y, x, f)
                        for d in 0..<f { r[d] += coefficient * y[d] }
                    }
                    p.update(from: r, count: f)
                    var residual = VectorKernels.dot(r, r, f)
                    for _ in 0..<steps {
                        guard residual > 1e-10 else { break }
                        // Ap = (YᵀY + λI) p + Yᵀ (Cu − I) Y p
                        multiply(yty, p, into: ap, f)
                        for (item, weight) in zip(indices, values) {
                            let y = fixed.row(Int(item))
                            let coefficient = (alpha * weight - 1) * VectorKernels.dot(y, p, f)
                            for d in 0..<f { ap[d] += coefficient * y[d] }
                        }
                        let denominator = VectorKernels.dot(p, ap, f)
                        guard denominator > 0 else { break }
                        let step = residual / denominator
                        for d in 0..<f {
                            x[d] += step * p[d]
                            r[d] -= step * ap[d]
                        }
                        let next = VectorKernels.dot(r, r, f)
                        let ratio = next / residual
                        for d in 0..<f { p[d] = r[d] + ratio * p[d] }
                        residual = next
                    }
                }
            }
        }
    }

    /// `out = M v` for a square `f × f` row-major matrix.
    @inline(__always)
    static func multiply(_ m: UnsafePointer<Float>, _ v: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ f: Int) {
        for a in 0..<f { out[a] = VectorKernels.dot(m + a * f, v, f) }
    }

    /// Inner product of the user's and every item's factors; `scores` stay untouched for a user id past the training
    /// log's user limit.
    /// A user whose history has events since training (``UserHistory/newSinceTraining``) is folded in from it.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        FactorScoring.score(
            user: user, history: history, users: userFactors, items: itemFactors, factors: parameters.factors,
            foldIn: foldIn, into: scores)
    }

    /// The item's `factors`-long vector; nil for an item id past the training log's item limit.
    public func itemVector(_ item: UInt32) -> [Float]? {
        FactorScoring.vector(item, itemFactors, parameters.factors)
    }
}

/// Bayesian personalised ranking (Rendle et al. 2009): stochastic gradient ascent on the log-likelihood that a
/// user prefers an item they interacted with over a sampled one (drawn in proportion to popularity; samples whose
/// negative the user met are skipped), with item biases. Threads update the shared factors without locks (Hogwild),
/// as `implicit` does.
public struct BPRModel: Recommender {
    /// Training hyperparameters; `init()` gives the defaults listed on each field. Codable, for stored model specs.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Latent dimensions per user and item vector, not counting the item-bias column (default 64).
        public var factors = 64
        /// SGD step size for every update (default 0.01).
        public var learningRate: Float = 0.01
        /// L2 penalty on the factors and biases, applied in every update (default 0.01).
        public var regularization: Float = 0.01
        /// Epochs: each draws about as many (user, positive, negative) samples as there are interactions (default 100).
        public var iterations = 100
        /// Seeds the initial factors and the samplers (default 42); with more than one thread, runs may still
        /// differ (Hogwild races).
        public var seed: UInt64 = 42
        /// Draw negatives uniformly over the item ids instead of in proportion to popularity (default false).
        public var uniformNegatives = false
        /// The share (0…1) of negatives drawn from the items experiments showed the user and the user ignored
        /// (``InteractionLog/ignoredItems``) when the user has any; the rest are drawn as above (default 0).
        public var ignoredNegatives: Float = 0
        /// The defaults: 64 factors, learning rate 0.01, λ = 0.01, 100 iterations, seed 42, popularity negatives,
        /// no ignored negatives.
        public init() {}
    }

    /// The model's name in reports (default `ModelKind.bpr.rawValue`).
    public let name: String
    /// The hyperparameters it was trained with.
    public let parameters: Parameters
    /// Rows of `factors + 1`: for users the last column is 1, for items it is the item's bias.
    public let userFactors: [Float]
    /// Rows of `factors + 1` per item: the latent vector, then the item's bias.
    public let itemFactors: [Float]
    /// Wall-clock seconds the training in `init` took.
    public let trainingSeconds: Double
    /// Folds in users with events since training, as serving does (the bias column not solved, every event once).
    let foldIn: FactorFoldIn

    /// Trains on `log` now (blocking): `iterations` epochs of SGD over `threads` lock-free workers (default 2).
    /// `progress` is called after each epoch with the fraction done, in (0, 1]. A drawn positive whose
    /// `user << 32 | item` is in `syntheticPairs` (GAN-synthesised, ``CFGANAugmentation``) is kept with probability
    /// `syntheticWeight`, so it counts that much relative to a real one.
    public init(
        name: String = ModelKind.bpr.rawValue, log: InteractionLog, parameters: Parameters = Parameters(), threads: Int = 2,
        syntheticPairs: Set<UInt64> = [], syntheticWeight: Float = 1, progress: (@Sendable (Double) -> Void)? = nil
    ) {
        let started = Date()
        self.name = name
        self.parameters = parameters
        let f = parameters.factors + 1
        let byUser = InteractionMatrix(log)
        let itemCount = max(byUser.columns, 1)
        let users = FactorMatrix(rows: byUser.rows, columns: f, scale: 1 / Float(f - 1), seed: parameters.seed, centered: true)
        let itemsMatrix = FactorMatrix(
            rows: itemCount, columns: f, scale: 1 / Float(f - 1), seed: parameters.seed &+ 1, centered: true)
        for u in 0..<users.rows { users.row(u)[f - 1] = 1 }
        for i in 0..<itemsMatrix.rows { itemsMatrix.row(i)[f - 1] = 0 }
        // Samples: one (user, item) per stored interaction, drawn uniformly per iteration.
        var sampleUsers: [UInt32] = []
        sampleUsers.reserveCapacity(byUser.nonZeros)
        for u in 0..<byUser.rows {
            for _ in byUser.rowStart[u]..<byUser.rowStart[u + 1] { sampleUsers.append(UInt32(u)) }
        }
        let samples = sampleUsers.count
        let sampledUsers = sampleUsers
        let synthetic: [Bool] = syntheticPairs.isEmpty
            ? [] : (0..<samples).map { syntheticPairs.contains(UInt64(sampleUsers[$0]) << 32 | UInt64(byUser.indices[$0])) }
        let keepSynthetic = UInt64(Double(min(max(syntheticWeight, 0), 1)) * Double(1 << 53))
        let lr = parameters.learningRate, reg = parameters.regularization
        let uniform = parameters.uniformNegatives
        let workers = max(1, threads)
        let indices = byUser.indices, rowStart = byUser.rowStart
        let ignored = IgnoredItems(log, users: byUser.rows)
        let ignoredThreshold = UInt64(max(0, min(1, parameters.ignoredNegatives)) * 1_000_000)
        for iteration in 0..<parameters.iterations where samples > 0 {
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var state = parameters.seed &+ UInt64(iteration) &* 1_000_003 &+ UInt64(worker) &* 7919
                @inline(__always) func next() -> UInt64 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return state >> 11
                }
                indices.withUnsafeBufferPointer { items in
                    rowStart.withUnsafeBufferPointer { starts in
                        sampledUsers.withUnsafeBufferPointer { owners in
                            for _ in 0..<(samples / workers) {
                                let position = Int(next() % UInt64(samples))
                                let user = Int(owners[position])
                                let liked = items[position]
                                if !synthetic.isEmpty, synthetic[position], next() >= keepSynthetic { continue }
                                // By default the negative is the item of another random interaction: drawn in
                                // proportion to popularity, which makes harder negatives than a uniform draw (as
                                // implicit does).
                                var disliked = uniform
                                    ? UInt32(next() % UInt64(itemCount)) : items[Int(next() % UInt64(samples))]
                                if ignoredThreshold > 0, next() % 1_000_000 < ignoredThreshold,
                                    let weak = ignored.draw(for: user, next())
                                {
                                    disliked = weak
                                }
                                if Self.contains(items, from: starts[user], to: starts[user + 1], disliked) { continue }
                                let x = users.row(user), yi = itemsMatrix.row(Int(liked))
                                let yj = itemsMatrix.row(Int(disliked))
                                var difference: Float = 0
                                for d in 0..<f { difference += x[d] * (yi[d] - yj[d]) }
                                let z = 1 / (1 + expf(difference))
                                for d in 0..<(f - 1) {
                                    let xd = x[d]
                                    x[d] += lr * (z * (yi[d] - yj[d]) - reg * xd)
                                    yi[d] += lr * (z * xd - reg * yi[d])
                                    yj[d] += lr * (-z * xd - reg * yj[d])
                                }
                                yi[f - 1] += lr * (z - reg * yi[f - 1])
                                yj[f - 1] += lr * (-z - reg * yj[f - 1])
                            }
                        }
                    }
                }
            }
            progress?(Double(iteration + 1) / Double(max(parameters.iterations, 1)))
        }
        userFactors = users.array
        itemFactors = itemsMatrix.array
        foldIn = FactorFoldIn(
            items: itemFactors, dimension: f, solved: f - 1, regularization: parameters.regularization, alpha: 1)
        trainingSeconds = Date().timeIntervalSince(started)
    }

    /// Whether the sorted run `items[from..<to]` holds `value`.
    @inline(__always)
    static func contains(_ items: UnsafeBufferPointer<UInt32>, from: Int, to: Int, _ value: UInt32) -> Bool {
        var low = from, high = to
        while low < high {
            let mid = (low + high) >> 1
            if items[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < to && items[low] == value
    }

    @inline(__always)
    static func contains(_ sorted: ArraySlice<UInt32>, _ value: UInt32) -> Bool {
        var low = sorted.startIndex, high = sorted.endIndex
        while low < high {
            let mid = (low + high) >> 1
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < sorted.endIndex && sorted[low] == value
    }

    /// Inner product of the user's row (trailing 1) and each item's row (trailing bias), so the bias is added; a user
    /// with events since training is folded in from the history.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        FactorScoring.score(
            user: user, history: history, users: userFactors, items: itemFactors, factors: parameters.factors + 1,
            foldIn: foldIn, into: scores)
    }

    /// The item's latent vector without its bias column; nil for an item id past the log's item limit.
    public func itemVector(_ item: UInt32) -> [Float]? {
        FactorScoring.vector(item, itemFactors, parameters.factors + 1).map { Array($0.dropLast()) }
    }
}

/// What folding a user in against a factor model's fixed item factors needs (``FoldIn``): the Gram matrix of the
/// item rows and the solve's settings, the same ones serving reads from the stored generation.
struct FactorFoldIn: Sendable {
    /// `YᵀY` over the solved columns.
    let gram: [Float]
    /// Floats per item row.
    let dimension: Int
    /// Columns solved (BPR's trailing bias column is not).
    let solved: Int
    let regularization: Float
    let alpha: Float

    init(items: [Float], dimension: Int, solved: Int, regularization: Float, alpha: Float) {
        gram = FoldIn.gram(items, dimension: dimension, solved: solved)
        self.dimension = dimension
        self.solved = solved
        self.regularization = max(regularization, 1e-3)
        self.alpha = alpha
    }

    /// The user vector solved from `history`'s summed row against `items`; nil when none of its items has a row.
    func userVector(_ history: UserHistory, items: [Float]) -> [Float]? {
        var rows: [(vector: [Float], weight: Float)] = []
        for (item, weight) in zip(history.items, history.weights) where (Int(item) + 1) * dimension <= items.count {
            rows.append((Array(items[Int(item) * dimension..<(Int(item) + 1) * dimension]), weight))
        }
        return FoldIn.solve(
            history: rows, gram: gram, dimension: dimension, solved: solved, regularization: regularization, alpha: alpha)
    }
}

/// Scores by inner product of user and item factor rows.
enum FactorScoring {
    static func score(user: UInt32, users: [Float], items: [Float], factors f: Int, into scores: UnsafeMutableBufferPointer<Float>) {
        let u = Int(user)
        guard (u + 1) * f <= users.count else { return }
        users.withUnsafeBufferPointer { userBuffer in
            score(userBuffer.baseAddress! + u * f, items: items, factors: f, into: scores)
        }
    }

    /// The trained user row's scores, or, when `history` has events since training, those of the vector `foldIn`
    /// solves from it (none when it solves none), as `RECOMMEND` scores a user with events since the last refresh.
    /// In BPR's layout (a bias column) a trained row is kept: a least-squares solve against pairwise-ranking factors
    /// ranks far worse than the row (Amazon Sports, NDCG@10 0.0005 against 0.0054).
    static func score(
        user: UInt32, history: UserHistory, users: [Float], items: [Float], factors f: Int, foldIn: FactorFoldIn,
        into scores: UnsafeMutableBufferPointer<Float>
    ) {
        let trained = (Int(user) + 1) * f <= users.count
        guard history.newSinceTraining, !(trained && foldIn.solved < foldIn.dimension) else {
            return score(user: user, users: users, items: items, factors: f, into: scores)
        }
        guard let x = foldIn.userVector(history, items: items) else { return }
        x.withUnsafeBufferPointer { score($0.baseAddress!, items: items, factors: f, into: scores) }
    }

    private static func score(
        _ x: UnsafePointer<Float>, items: [Float], factors f: Int, into scores: UnsafeMutableBufferPointer<Float>
    ) {
        items.withUnsafeBufferPointer { itemBuffer in
            let count = min(scores.count, itemBuffer.count / f)
            for i in 0..<count { scores[i] = VectorKernels.dot(x, itemBuffer.baseAddress! + i * f, f) }
        }
    }

    static func vector(_ item: UInt32, _ items: [Float], _ f: Int) -> [Float]? {
        let i = Int(item)
        guard (i + 1) * f <= items.count else { return nil }
        return Array(items[i * f..<(i + 1) * f])
    }
}
