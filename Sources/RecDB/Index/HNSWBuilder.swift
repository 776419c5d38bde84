import CRecSupport
import Foundation

#if canImport(Glibc)
import Glibc
import Synchronization
#endif

/// HNSW parameters.
public struct HNSWParameters: Sendable, Hashable, Codable {
    /// Links per node on levels above 0.
    public var m: Int = 16
    /// Links per node on level 0 (usually 2·M).
    public var m0: Int = 32
    /// Candidate list size while building.
    public var efConstruction: Int = 200
    /// Default candidate list size while searching.
    public var ef: Int = 64
    /// Seed of the level assignment.
    public var seed: UInt64 = 42
    /// What graph walks score: the vectors (`float32`, the default) or int8 / float16 codes re-ranked exactly
    /// (see ``VectorCodes``). Takes effect at the next build.
    public var codes: VectorCodes = .float32

    /// Creates parameters; `m0` defaults to `2 * m`. They are checked when a space is created: `m` 2–128, `m0` from `m`
    /// to 256, `efConstruction` 1–4096, `ef` 1–65,536.
    public init(
        m: Int = 16, m0: Int? = nil, efConstruction: Int = 200, ef: Int = 64, seed: UInt64 = 42,
        codes: VectorCodes = .float32
    ) {
        self.m = m
        self.m0 = m0 ?? 2 * m
        self.efConstruction = efConstruction
        self.ef = ef
        self.seed = seed
        self.codes = codes
    }

    func validate() throws {
        guard (2...128).contains(m), (m...256).contains(m0), (1...4096).contains(efConstruction), (1...65536).contains(ef)
        else {
            throw RecDBError(
                .invalidArgument, "HNSW parameters out of range: M 2…128, M0 M…256, efConstruction 1…4096, ef 1…65536")
        }
    }
}

/// Builds an HNSW graph (Malkov & Yashunin) in memory over vectors indexed by node id, with several threads.
/// Node ids are dense (item ids); nodes that are not inserted have no links and are never reached.
// Unchecked `Sendable`, audited (one of the few in Sources, see the README): the build's workers share the graph
// through raw memory, with this discipline: a node's link lists (`level0`, `upper`) and its `levels`/`upper` entries
// are read and written only under that node's lock (`locks`, striped); `entryPoint` and `maxLevel` only under
// `globalLock`; a node's vector is written before that node is (re)inserted and only read after; the locks are on the
// heap, so they never move. Everything else is `let`.
final class HNSWBuilder: @unchecked Sendable {
    let dimension: Int
    let metric: Metric
    private let kernel: DistanceKernel
    let parameters: HNSWParameters
    let nodeLimit: Int
    let chunkShift: Int
    /// `nodeLimit × dimension` floats (chunk-padded).
    let vectors: UnsafeMutablePointer<Float>
    /// `nodeLimit × (1 + M0)` link slots (chunk-padded).
    let level0: UnsafeMutablePointer<UInt32>
    /// Level of each node, -1 when not inserted. Raw memory: threads write distinct elements concurrently.
    let levels: UnsafeMutablePointer<Int8>
    private let upper: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>?>
    private(set) var entryPoint: UInt32 = 0
    private(set) var maxLevel = -1
    private let locks: UnsafeMutablePointer<pthread_mutex_t>
    private let lockMask = (1 << 12) - 1
    private let globalLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let paddedNodes: Int

    var level0Slots: Int { 1 + parameters.m0 }
    var upperSlots: Int { 1 + parameters.m }

    init(dimension: Int, metric: Metric, parameters: HNSWParameters, nodeLimit: Int, chunkShift: Int) {
        self.dimension = dimension
        self.metric = metric
        kernel = metric.kernel
        self.parameters = parameters
        self.nodeLimit = nodeLimit
        self.chunkShift = chunkShift
        let chunk = 1 << chunkShift
        paddedNodes = max((nodeLimit + chunk - 1) / chunk, 1) * chunk
        vectors = .allocate(capacity: paddedNodes * dimension)
        vectors.initialize(repeating: 0, count: paddedNodes * dimension)
        level0 = .allocate(capacity: paddedNodes * (1 + parameters.m0))
        level0.initialize(repeating: 0, count: paddedNodes * (1 + parameters.m0))
        levels = .allocate(capacity: max(nodeLimit, 1))
        levels.initialize(repeating: -1, count: max(nodeLimit, 1))
        upper = .allocate(capacity: max(nodeLimit, 1))
        upper.initialize(repeating: nil, count: max(nodeLimit, 1))
        locks = .allocate(capacity: lockMask + 1)
        for i in 0...lockMask { pthread_mutex_init(locks + i, nil) }
        pthread_mutex_init(globalLock, nil)
    }

    deinit {
        vectors.deallocate()
        level0.deallocate()
        for node in 0..<nodeLimit { upper[node]?.deallocate() }
        upper.deallocate()
        levels.deallocate()
        for i in 0...lockMask { pthread_mutex_destroy(locks + i) }
        locks.deallocate()
        pthread_mutex_destroy(globalLock)
        globalLock.deallocate()
    }

    @inline(__always) func vector(_ node: UInt32) -> UnsafeMutablePointer<Float> { vectors + Int(node) * dimension }

    @inline(__always)
    private func prefetch(_ node: UInt32) {
        let start = UnsafeRawPointer(vector(node))
        var offset = 0
        while offset < dimension * 4 {
            recdb_prefetch(start + offset)
            offset += 64
        }
    }

    @inline(__always)
    private func distance(_ a: UInt32, _ b: UInt32) -> Float { kernel(vector(a), vector(b), dimension) }

    /// The level a node gets: geometric with ratio 1/M, deterministic in (seed, node).
    func randomLevel(_ node: UInt32) -> Int {
        var x = parameters.seed &+ UInt64(node) &* 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        let uniform = (Double(x >> 11) + 0.5) / Double(1 << 53)
        let level = Int(-log(uniform) / log(Double(parameters.m)))
        return min(level, Self.maxLevel)
    }

    /// The highest level a node gets.
    static let maxLevel = 15

    @inline(__always)
    private func list(_ node: UInt32, level: Int) -> UnsafeMutablePointer<UInt32> {
        level == 0 ? level0 + Int(node) * level0Slots : upper[Int(node)]! + (level - 1) * upperSlots
    }

    @inline(__always) private func lock(_ node: UInt32) { pthread_mutex_lock(locks + (Int(node) & lockMask)) }
    @inline(__always) private func unlock(_ node: UInt32) { pthread_mutex_unlock(locks + (Int(node) & lockMask)) }

    /// Copies a node's links at `level` into `buffer` (room for 1 + M0) under the node's lock; returns them.
    @inline(__always)
    private func copyList(_ node: UInt32, level: Int, into buffer: UnsafeMutablePointer<UInt32>)
        -> UnsafeBufferPointer<UInt32>
    {
        lock(node)
        let source = list(node, level: level)
        let count = Int(source[0])
        buffer.update(from: source + 1, count: count)
        unlock(node)
        return UnsafeBufferPointer(start: buffer, count: count)
    }

    // MARK: - Insertion

    /// Inserts every node of `nodes` (whose vectors are already in `vectors`) using `threads` threads.
    func insert(_ nodes: [UInt32], threads: Int, progress: (@Sendable (Int) -> Void)? = nil) {
        guard !nodes.isEmpty else { return }
        var start = 0
        if maxLevel < 0 {
            let context = SearchContext()
            insert(nodes[0], context: context)
            start = 1
        }
        let remaining = Array(nodes[start...])
        let offset = start
        let workers = max(1, min(threads, remaining.count))
        let done = DoneCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let context = SearchContext()
            var index = worker
            while index < remaining.count {
                insert(remaining[index], context: context)
                index += workers
                if worker == 0, let progress { progress(done.add(workers) + offset) }
            }
        }
    }

    private final class DoneCounter: Sendable {
        private let value = Atomic<Int>(0)
        func add(_ n: Int) -> Int { value.wrappingAdd(n, ordering: .relaxed).newValue }
    }

    func insert(_ node: UInt32, context: SearchContext) {
        let level = randomLevel(node)
        lock(node)
        if level > 0 {
            if let existing = upper[Int(node)], levels[Int(node)] == Int8(level) {
                existing.update(repeating: 0, count: level * upperSlots)  // a node linked again keeps its level
            } else {
                upper[Int(node)]?.deallocate()
                let storage = UnsafeMutablePointer<UInt32>.allocate(capacity: level * upperSlots)
                storage.initialize(repeating: 0, count: level * upperSlots)
                upper[Int(node)] = storage
            }
        }
        let wasLinked = levels[Int(node)] >= 0
        levels[Int(node)] = Int8(level)
        unlock(node)
        if wasLinked {
            pthread_mutex_lock(globalLock)
            let isEntry = maxLevel >= 0 && entryPoint == node
            pthread_mutex_unlock(globalLock)
            // The entry point moved: its old links still lead everywhere, so only its vector changed.
            if isEntry { return }
        }

        pthread_mutex_lock(globalLock)
        let currentMax = maxLevel
        let entry = entryPoint
        var holdsGlobal = true
        if currentMax < 0 {
            entryPoint = node
            maxLevel = level
            pthread_mutex_unlock(globalLock)
            return
        }
        if level <= currentMax {
            pthread_mutex_unlock(globalLock)
            holdsGlobal = false
        }
        let query = vector(node)
        var current = Neighbor(distance: kernel(query, vector(entry), dimension), node: entry)
        let buffer = UnsafeMutablePointer<UInt32>.allocate(capacity: level0Slots)
        defer { buffer.deallocate() }
        var lc = currentMax
        while lc > level {
            var changed = true
            while changed {
                changed = false
                for neighbor in copyList(current.node, level: lc, into: buffer) {
                    let d = kernel(query, vector(neighbor), dimension)
                    if d < current.distance {
                        current = Neighbor(distance: d, node: neighbor)
                        changed = true
                    }
                }
            }
            lc -= 1
        }
        var candidates: [Neighbor] = []
        lc = min(level, currentMax)
        while lc >= 0 {
            searchLayer(query, from: current, level: lc, ef: parameters.efConstruction, context: context, buffer: buffer)
            // The max-heap pops farthest first: reversed, that is closest first, with no sort.
            candidates.removeAll(keepingCapacity: true)
            var results = context.results
            while !results.isEmpty {
                let next = results.pop()
                if next.node != node { candidates.append(next) }
            }
            context.results = results
            candidates.reverse()
            if let closest = candidates.first { current = closest }
            let selected = selectNeighbors(candidates, limit: parameters.m)
            connect(node, to: selected, level: lc)
            lc -= 1
        }
        if holdsGlobal {
            if level > maxLevel {
                entryPoint = node
                maxLevel = level
            }
            pthread_mutex_unlock(globalLock)
        }
    }

    /// Best-first search on one level during construction, reading lists under their locks.
    private func searchLayer(
        _ query: UnsafePointer<Float>, from start: Neighbor, level: Int, ef: Int, context: SearchContext,
        buffer: UnsafeMutablePointer<UInt32>
    ) {
        var visited = context.visited, candidates = context.candidates, results = context.results
        defer {
            context.visited = visited
            context.candidates = candidates
            context.results = results
        }
        visited.reset(nodeCount: nodeLimit)
        candidates.removeAll()
        results.removeAll()
        _ = visited.insert(start.node)
        candidates.push(start)
        results.push(start)
        var bound = start.distance
        while !candidates.isEmpty {
            let current = candidates.pop()
            if current.distance > bound && results.count >= ef { break }
            let neighbors = copyList(current.node, level: level, into: buffer)
            for neighbor in neighbors where !visited.contains(neighbor) { prefetch(neighbor) }
            for neighbor in neighbors {
                guard visited.insert(neighbor) else { continue }
                let d = kernel(query, vector(neighbor), dimension)
                if results.count < ef || d < bound {
                    candidates.push(Neighbor(distance: d, node: neighbor))
                    results.push(Neighbor(distance: d, node: neighbor))
                    if results.count > ef { results.pop() }
                    bound = results.top.distance
                }
            }
        }
    }

    /// The HNSW heuristic: walk candidates closest first, keep one unless it is closer to an already kept
    /// neighbour than to the base node. Spreads links across directions.
    private func selectNeighbors(_ sorted: [Neighbor], limit: Int) -> [Neighbor] {
        if sorted.count <= limit { return sorted }
        var kept: [Neighbor] = []
        kept.reserveCapacity(limit)
        for candidate in sorted {
            if kept.count >= limit { break }
            var good = true
            for other in kept where distance(candidate.node, other.node) < candidate.distance {
                good = false
                break
            }
            if good { kept.append(candidate) }
        }
        return kept
    }

    private func connect(_ node: UInt32, to neighbors: [Neighbor], level: Int) {
        let capacity = level == 0 ? parameters.m0 : parameters.m
        lock(node)
        let own = list(node, level: level)
        own[0] = UInt32(neighbors.count)
        for (i, neighbor) in neighbors.enumerated() { own[i + 1] = neighbor.node }
        unlock(node)
        for neighbor in neighbors where neighbor.node != node {
            lock(neighbor.node)
            let other = list(neighbor.node, level: level)
            let count = Int(other[0])
            var present = false
            for i in 0..<count where other[i + 1] == node {
                present = true
                break
            }
            if !present {
                if count < capacity {
                    other[count + 1] = node
                    other[0] = UInt32(count + 1)
                } else {
                    var pool: [Neighbor] = [Neighbor(distance: neighbor.distance, node: node)]
                    for i in 0..<count {
                        pool.append(Neighbor(distance: distance(neighbor.node, other[i + 1]), node: other[i + 1]))
                    }
                    pool.sort()
                    let kept = selectNeighbors(pool, limit: capacity)
                    other[0] = UInt32(kept.count)
                    for (i, k) in kept.enumerated() { other[i + 1] = k.node }
                }
            }
            unlock(neighbor.node)
        }
    }

    // MARK: - Loading a stored graph

    /// Copies a stored generation into this builder so that more nodes can be linked into it.
    /// The builder must have the same chunk size and parameters as the stored graph, and at least its node limit.
    ///
    /// The builder's own walks trust their lists, so every stored list is checked as it is copied: a count past
    /// M0 (level 0) or M (above), or a link past the stored node limit, throws `corrupted`. Chunks come through the
    /// snapshot's tables (size-checked; a bad one reads as absent and is reported by the snapshot's faults).
    func load(_ graph: GraphView, present: BitmapChunks) throws {
        let chunk = 1 << chunkShift
        let storedChunks = (graph.nodeLimit + chunk - 1) >> chunkShift
        let storedLimit = UInt32(clamping: graph.nodeLimit)
        func fail(_ node: Int, _ level: Int, _ problem: String) -> RecDBError {
            RecDBError(.corrupted, "stored index: node \(node) on level \(level) \(problem)")
        }
        func check(_ list: UnsafePointer<UInt32>, node: Int, level: Int, capacity: Int) throws {
            let count = Int(list[0])
            guard count <= capacity else { throw fail(node, level, "has \(count) links; a list holds at most \(capacity)") }
            for i in 0..<count where list[i + 1] >= storedLimit {
                throw fail(node, level, "links to \(list[i + 1]), past the node limit \(graph.nodeLimit)")
            }
        }
        for c in 0..<storedChunks {
            if let vectorChunk = graph.vectors[c] {
                // Validated chunks (exact size, aligned or copied), bound to their element types when resolved.
                (vectors + c * chunk * dimension).update(
                    from: vectorChunk.assumingMemoryBound(to: Float.self), count: chunk * dimension)
            }
            if let linkChunk = graph.level0[c] {
                let lists = linkChunk.assumingMemoryBound(to: UInt32.self)
                // Every slot, padding past the node limit too: nodes linked later start from these lists.
                for node in 0..<chunk {
                    try check(lists + node * level0Slots, node: c * chunk + node, level: 0, capacity: parameters.m0)
                }
                (level0 + c * chunk * level0Slots).update(from: lists, count: chunk * level0Slots)
            }
        }
        for node in 0..<min(graph.nodeLimit, nodeLimit) where present.contains(UInt32(node)) { levels[node] = 0 }
        if let stored = graph.upper {
            for i in 0..<stored.count {
                let node = Int(stored.nodes[i])
                let level = stored.level(ofIndex: i)
                guard node < nodeLimit, level > 0 else { continue }
                let source = stored.links + Int(stored.offsets[i])
                for l in 1...level {
                    try check(source + (l - 1) * upperSlots, node: node, level: l, capacity: parameters.m)
                }
                let storage = UnsafeMutablePointer<UInt32>.allocate(capacity: level * upperSlots)
                storage.update(from: source, count: level * upperSlots)
                upper[node]?.deallocate()
                upper[node] = storage
                levels[node] = Int8(level)
            }
        }
        entryPoint = graph.entryPoint
        maxLevel = graph.maxLevel
    }

    // MARK: - Output

    /// The upper layers serialised as the blob ``UpperLayers`` reads.
    func upperBlob() -> [UInt8] {
        var nodes: [UInt32] = []
        var offsets: [UInt32] = []
        var links: [UInt32] = []
        for node in 0..<nodeLimit where levels[node] > 0 {
            nodes.append(UInt32(node))
            offsets.append(UInt32(links.count))
            let storage = upper[node]!
            links.append(contentsOf: UnsafeBufferPointer(start: storage, count: Int(levels[node]) * upperSlots))
        }
        var blob: [UInt8] = []
        blob.reserveCapacity(8 + (nodes.count * 2 + links.count) * 4)
        withUnsafeBytes(of: UInt32(nodes.count).littleEndian) { blob += $0 }
        withUnsafeBytes(of: UInt32(upperSlots).littleEndian) { blob += $0 }
        nodes.withUnsafeBytes { blob += $0 }
        offsets.withUnsafeBytes { blob += $0 }
        links.withUnsafeBytes { blob += $0 }
        return blob
    }

    /// A view over the graph as built, for searching before (or without) storing it.
    func view(upperBlob blob: UnsafeRawBufferPointer) -> GraphView {
        let chunk = 1 << chunkShift
        let chunks = paddedNodes / chunk
        return GraphView(
            dimension: dimension, metric: metric, level0Slots: level0Slots, upperSlots: upperSlots, chunkShift: chunkShift,
            vectors: ChunkTable(base: UnsafeRawPointer(vectors), chunkBytes: chunk * dimension * 4, count: chunks),
            level0: ChunkTable(base: UnsafeRawPointer(level0), chunkBytes: chunk * level0Slots * 4, count: chunks),
            upper: UpperLayers(trusted: blob), entryPoint: entryPoint, maxLevel: max(maxLevel, 0), nodeLimit: nodeLimit)
    }
}
