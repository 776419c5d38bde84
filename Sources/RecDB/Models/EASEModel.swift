import COpenBLAS
import Dispatch
import Foundation
import RecNeural
import RecKernels

/// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an item-to-item weight matrix in
/// closed form. With `X` the binary user × item matrix of the training events (positive weights only),
/// `G = XᵀX + λI`, `P = G⁻¹` and `B = −P / diag(P)` column by column with a zero diagonal; a user's score for item
/// `j` is `Σ_{i ∈ history} B[i, j]`.
///
/// The Gram matrix is dense, `n × n` float32 over the `n` items that have training events (4·n² bytes: 1.35 GB for
/// 18,357 items, 3.6 GB at the ``maximumItems`` limit of 30,000, which training refuses to pass). It is summed from
/// the sparse rows of `X` (Σ over users of their item count squared: far fewer operations than a dense `ssyrk` over
/// the user × item matrix, which would not fit either), then inverted in place by OpenBLAS's LAPACK (`spotrf` +
/// `spotri`, on `threads` threads).
///
/// Each item keeps the `neighbours` largest weights of its row of `B`, in item-kNN's neighbour-list layout, so that
/// serving, blends, chains and evaluation read it as they read item-kNN: a request sums the lists of the target's
/// ``UserHistory/sourceLimit`` most recent distinct items. With the full rows and full histories this is exactly
/// EASE; the truncation to `neighbours` and to recent items is the approximation serving makes.
public struct EASEModel: Recommender {
    /// The parameters of EASE.
    public struct Parameters: Sendable, Hashable {
        /// The L2 weight `λ` added to the Gram matrix's diagonal (default 100, chosen on validation over ml-100k,
        /// Sports and Online Retail: see the README).
        public var lambda: Float = 100
        /// Largest weights kept per item (default 200).
        public var neighbours = 200

        /// The defaults: λ 100, 200 neighbours.
        public init() {}

        /// Throws `invalidArgument` naming a parameter out of range.
        public func validate() throws {
            guard lambda.isFinite, lambda > 0 else {
                throw RecDBError(.invalidArgument, "ease: lambda must be a positive number, not \(lambda)")
            }
            guard (1...100_000).contains(neighbours) else {
                throw RecDBError(.invalidArgument, "ease: neighbours must be in 1…100000, not \(neighbours)")
            }
        }
    }

    /// The most items EASE trains on: its dense Gram matrix takes 4·n² bytes (3.6 GB here).
    public static let maximumItems = 30_000

    /// The model's name in reports (default `ModelKind.ease.rawValue`).
    public let name: String
    /// The parameters it was trained with.
    public let parameters: Parameters
    /// Per item id: the items with the largest weights in its row of `B` and those weights, largest first.
    public let lists: [[(item: UInt32, similarity: Float)]]

    /// The items with positive training events in `log`, in id order: the rows and columns of the Gram matrix.
    static func activeItems(_ log: InteractionLog) -> [UInt32] {
        var seen = [Bool](repeating: false, count: log.itemLimit)
        for index in 0..<log.count where log.weights[index] > 0 { seen[Int(log.items[index])] = true }
        return seen.indices.filter { seen[$0] }.map { UInt32($0) }
    }

    /// Throws `limitExceeded` when `log` has more items with events than ``maximumItems``.
    public static func checkFits(_ log: InteractionLog) throws {
        let count = activeItems(log).count
        guard count <= maximumItems else {
            let gigabytes = Double(count) * Double(count) * 4 / 1e9
            throw RecDBError(
                .limitExceeded,
                "ease: \(count) items with events are more than the limit of \(maximumItems) items (its dense "
                    + String(format: "%.1f", gigabytes) + " GB Gram matrix would not fit); use itemknn or als")
        }
    }

    /// Trains on `log` with `threads` threads for the factorisation. Blocks until done; the caller checks
    /// ``checkFits(_:)`` first (a larger log is trained anyway, if memory allows).
    public init(
        name: String = ModelKind.ease.rawValue, log: InteractionLog, parameters: Parameters = Parameters(),
        threads: Int = 2, progress: (@Sendable (Double) -> Void)? = nil
    ) {
        self.name = name
        self.parameters = parameters
        let items = Self.activeItems(log)
        var lists = [[(item: UInt32, similarity: Float)]](repeating: [], count: log.itemLimit)
        let n = items.count
        guard n > 1 else {
            self.lists = lists
            return
        }
        var position = [Int32](repeating: -1, count: log.itemLimit)
        for (index, item) in items.enumerated() { position[Int(item)] = Int32(index) }
        let weights = Self.weights(
            log, position: position, n: n, lambda: parameters.lambda, threads: threads, progress: progress)
        defer { weights.deallocate() }
        let keep = min(parameters.neighbours, n - 1)
        let output = UnsafeMutableBufferPointer<[(item: UInt32, similarity: Float)]>.allocate(capacity: n)
        output.initialize(repeating: [])
        defer { output.deallocate() }
        // `output`: disjoint writes (row r only by worker r % workers); `weights`: read-only while the workers run.
        let shared = SharedPointer(output.baseAddress!), matrix = SharedPointer(weights.baseAddress!)
        let workers = max(1, threads)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var row = worker
            while row < n {
                shared.base[row] = Self.largest(keep, in: matrix.base + row * n, n: n, skipping: row, items: items)
                row += workers
            }
        }
        for (index, item) in items.enumerated() { lists[Int(item)] = output[index] }
        progress?(1)
        self.lists = lists
    }

    /// `B` (row-major, `n × n`, zero diagonal) for the active items at `position`: the caller deallocates it.
    static func weights(
        _ log: InteractionLog, position: [Int32], n: Int, lambda: Float, threads: Int,
        progress: (@Sendable (Double) -> Void)?
    ) -> UnsafeMutableBufferPointer<Float> {
        let g = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        g.initialize(repeating: 0)
        // G = XᵀX over binary rows: every pair of a user's distinct items, both triangles.
        let byUser = InteractionMatrix(log)
        var row: [Int] = []
        for user in 0..<byUser.rows {
            let (indices, values) = byUser.row(user)
            row.removeAll(keepingCapacity: true)
            for (item, value) in zip(indices, values) where value > 0 && position[Int(item)] >= 0 {
                row.append(Int(position[Int(item)]))
            }
            for a in row {
                let base = a * n
                for b in row { g[base + b] += 1 }
            }
        }
        for i in 0..<n { g[i * n + i] += lambda }
        progress?(0.05)
        openblas_set_num_threads(Int32(max(1, threads)))
        defer { Parallel.applyThreadCount() }
        var size = Int32(n), leading = Int32(n), info: Int32 = 0
        var lower: CChar = 76  // "L": column-major lower, the row-major upper triangle
        spotrf_(&lower, &size, g.baseAddress!, &leading, &info, 1)
        progress?(0.4)
        // G is positive definite for λ > 0; a failure (a NaN from overflow) falls back to P = I / λ below.
        if info == 0 { spotri_(&lower, &size, g.baseAddress!, &leading, &info, 1) }
        if info != 0 {
            g.update(repeating: 0)
            for i in 0..<n { g[i * n + i] = 1 / lambda }
        }
        progress?(0.9)
        // P's valid triangle is row-major upper: mirror it, then B[i, j] = −P[i, j] / P[j, j], diagonal 0.
        for r in 0..<n {
            for c in 0..<r { g[r * n + c] = g[c * n + r] }
        }
        let diagonal = (0..<n).map { g[$0 * n + $0] }
        for r in 0..<n {
            let base = r * n
            for c in 0..<n { g[base + c] = c == r ? 0 : -g[base + c] / diagonal[c] }
        }
        return g
    }

    /// The `keep` largest entries of one row of `B` (the diagonal `skipping` left out), largest first, ties by
    /// lower item id; entries are mapped back to item ids through `items`.
    static func largest(
        _ keep: Int, in row: UnsafeMutablePointer<Float>, n: Int, skipping: Int, items: [UInt32]
    ) -> [(item: UInt32, similarity: Float)] {
        // A min-heap of the best so far, ordered by (weight, −column).
        var heap: [(weight: Float, column: Int)] = []
        heap.reserveCapacity(keep + 1)
        func worse(_ a: (weight: Float, column: Int), _ b: (weight: Float, column: Int)) -> Bool {
            a.weight < b.weight || (a.weight == b.weight && a.column > b.column)
        }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && worse(heap[l], heap[m]) { m = l }
                if r < heap.count && worse(heap[r], heap[m]) { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for column in 0..<n where column != skipping {
            let entry = (weight: row[column], column: column)
            guard entry.weight.isFinite else { continue }
            if heap.count < keep {
                heap.append(entry)
                var i = heap.count - 1
                while i > 0, worse(heap[i], heap[(i - 1) / 2]) {
                    heap.swapAt(i, (i - 1) / 2)
                    i = (i - 1) / 2
                }
            } else if worse(heap[0], entry) {
                heap[0] = entry
                siftDown(0)
            }
        }
        heap.sort { worse($1, $0) }
        return heap.map { (items[$0.column], $0.weight) }
    }

    /// Sums the lists of the user's ``UserHistory/sourceLimit`` most recent distinct items, newest first, as
    /// serving does; items no list names are no candidates (−∞), whatever the sign of their sum.
    public func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        scores.update(repeating: -.infinity)
        for item in history.recentItems(limit: UserHistory.sourceLimit) where Int(item) < lists.count {
            for neighbour in lists[Int(item)] where Int(neighbour.item) < scores.count {
                let j = Int(neighbour.item)
                scores[j] = scores[j] == -.infinity ? neighbour.similarity : scores[j] + neighbour.similarity
            }
        }
    }
}
