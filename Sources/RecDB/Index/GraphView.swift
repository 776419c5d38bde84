import CRecSupport

/// Raw pointers to the chunks of a stored array (vectors, level-0 links, bitmaps), resolved on first use.
/// A chunk that does not exist resolves to nil.
final class ChunkTable: @unchecked Sendable {
    let count: Int
    let pointers: UnsafeMutablePointer<UnsafeRawPointer?>
    let states: UnsafeMutablePointer<UInt8>  // 0 unresolved, 1 resolved
    private let resolver: (Int) -> UnsafeRawPointer?

    init(count: Int, resolver: @escaping (Int) -> UnsafeRawPointer?) {
        self.count = count
        pointers = .allocate(capacity: max(count, 1))
        pointers.initialize(repeating: nil, count: max(count, 1))
        states = .allocate(capacity: max(count, 1))
        states.initialize(repeating: 0, count: max(count, 1))
        self.resolver = resolver
    }

    /// A table over memory that is already laid out (an in-memory graph): every chunk is resolved.
    convenience init(base: UnsafeRawPointer, chunkBytes: Int, count: Int) {
        self.init(count: count) { base + $0 * chunkBytes }
        for chunk in 0..<count { _ = self[chunk] }
    }

    deinit {
        pointers.deallocate()
        states.deallocate()
    }

    @inline(__always)
    subscript(chunk: Int) -> UnsafeRawPointer? {
        if chunk >= count { return nil }
        if states[chunk] != 0 { return pointers[chunk] }
        return resolve(chunk)
    }

    @inline(never)
    func resolve(_ chunk: Int) -> UnsafeRawPointer? {
        let pointer = resolver(chunk)
        pointers[chunk] = pointer
        states[chunk] = 1
        return pointer
    }
}

/// A ``ChunkTable`` seen through raw pointers: no reference counting on the hot path. Valid while the table lives.
struct ChunkPointers {
    let count: Int
    let pointers: UnsafeMutablePointer<UnsafeRawPointer?>
    let states: UnsafeMutablePointer<UInt8>
    unowned(unsafe) let table: ChunkTable

    init(_ table: ChunkTable) {
        count = table.count
        pointers = table.pointers
        states = table.states
        self.table = table
    }

    @inline(__always)
    subscript(chunk: Int) -> UnsafeRawPointer? {
        if chunk >= count { return nil }
        if states[chunk] != 0 { return pointers[chunk] }
        return table.resolve(chunk)
    }
}

/// Links above level 0: a sorted list of the nodes that have them, with per-node offsets into one link array where
/// each level holds `1 + M` slots (count, then links). Serialised as one value: `u32 count, u32 slots,
/// nodes[count], offsets[count], links[...]` (native byte order).
struct UpperLayers {
    let count: Int
    let slots: Int
    let nodes: UnsafePointer<UInt32>
    let offsets: UnsafePointer<UInt32>
    let links: UnsafePointer<UInt32>

    init?(blob: UnsafeRawPointer, size: Int) {
        guard size >= 8 else { return nil }
        count = Int(blob.loadUnaligned(as: UInt32.self))
        slots = Int(blob.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard size >= 8 + count * 8 else { return nil }
        nodes = (blob + 8).assumingMemoryBound(to: UInt32.self)
        offsets = (blob + 8 + count * 4).assumingMemoryBound(to: UInt32.self)
        links = (blob + 8 + count * 8).assumingMemoryBound(to: UInt32.self)
    }

    static let empty: [UInt8] = [0, 0, 0, 0, 1, 0, 0, 0]

    /// The list (count, then links) of `node` at `level` ≥ 1, or nil when the node does not reach that level.
    @inline(__always)
    func list(_ node: UInt32, level: Int, levelOf: (Int) -> Int) -> UnsafePointer<UInt32>? {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) >> 1
            if nodes[mid] < node { low = mid + 1 } else { high = mid }
        }
        guard low < count, nodes[low] == node, level <= levelOf(low) else { return nil }
        return links + Int(offsets[low]) + (level - 1) * slots
    }

    /// The highest level of the `index`-th node.
    @inline(__always)
    func level(ofIndex index: Int, totalLinks: Int) -> Int {
        let end = index + 1 < count ? Int(offsets[index + 1]) : totalLinks
        return (end - Int(offsets[index])) / slots
    }
}

/// A graph to search: vectors and level-0 links in chunks of `1 << chunkShift` nodes, upper layers, entry point.
/// The same view serves a graph being built in memory and one mapped from LMDB.
struct GraphView {
    let dimension: Int
    let metric: Metric
    let kernel: DistanceKernel
    /// Slots per node on level 0: 1 (count) + M0.
    let level0Slots: Int
    let chunkShift: Int
    let vectors: ChunkPointers
    let level0: ChunkPointers
    /// Keeps the tables alive as long as the view.
    let owners: [ChunkTable]
    let upper: UpperLayers?
    let upperLinkCount: Int
    let entryPoint: UInt32
    let maxLevel: Int
    /// One past the largest node id.
    let nodeLimit: Int

    @inline(__always)
    func vector(_ node: UInt32) -> UnsafePointer<Float>? {
        let index = Int(node)
        guard let chunk = vectors[index >> chunkShift] else { return nil }
        let offset = (index & ((1 << chunkShift) - 1)) * dimension
        return chunk.assumingMemoryBound(to: Float.self) + offset
    }

    @inline(__always)
    func links(_ node: UInt32, level: Int) -> UnsafePointer<UInt32>? {
        if level == 0 {
            let index = Int(node)
            guard let chunk = level0[index >> chunkShift] else { return nil }
            return chunk.assumingMemoryBound(to: UInt32.self) + (index & ((1 << chunkShift) - 1)) * level0Slots
        }
        guard let upper else { return nil }
        let total = upperLinkCount
        return upper.list(node, level: level) { upper.level(ofIndex: $0, totalLinks: total) }
    }

    @inline(__always)
    func distance(_ query: UnsafePointer<Float>, _ node: UInt32) -> Float {
        guard let vector = vector(node) else { return .infinity }
        return kernel(query, vector, dimension)
    }

    /// Hints the CPU to fetch a node's level-0 link list.
    @inline(__always)
    func prefetchLinks(_ node: UInt32) {
        let index = Int(node)
        if let chunk = level0[index >> chunkShift] {
            let start = chunk + (index & ((1 << chunkShift) - 1)) * level0Slots * 4
            recdb_prefetch(start)
            recdb_prefetch(start + 64)
            if level0Slots > 32 { recdb_prefetch(start + 128) }
        }
    }

    /// Hints the CPU to fetch a node's vector; call a few nodes ahead of computing its distance.
    @inline(__always)
    func prefetch(_ node: UInt32) {
        let index = Int(node)
        if let chunk = vectors[index >> chunkShift] {
            let start = chunk + (index & ((1 << chunkShift) - 1)) * dimension * 4
            var offset = 0
            while offset < dimension * 4 {
                recdb_prefetch(start + offset)
                offset += 64
            }
        }
    }

    init(
        dimension: Int, metric: Metric, level0Slots: Int, chunkShift: Int, vectors: ChunkTable, level0: ChunkTable,
        upper: UpperLayers?, upperLinkCount: Int, entryPoint: UInt32, maxLevel: Int, nodeLimit: Int
    ) {
        self.dimension = dimension
        self.metric = metric
        kernel = metric.kernel
        self.level0Slots = level0Slots
        self.chunkShift = chunkShift
        self.vectors = ChunkPointers(vectors)
        self.level0 = ChunkPointers(level0)
        owners = [vectors, level0]
        self.upper = upper
        self.upperLinkCount = upperLinkCount
        self.entryPoint = entryPoint
        self.maxLevel = maxLevel
        self.nodeLimit = nodeLimit
    }
}

/// Which nodes a search may return.
struct NodeFilter {
    /// Allowed nodes (a bit per node id); nil allows all.
    var allowed: UnsafePointer<UInt64>?
    var allowedLimit = 0
    /// Nodes whose graph entry is stale or deleted (pending changes, tombstones): traversed, never returned.
    var excludedA: BitmapChunks?
    var excludedB: BitmapChunks?

    @inline(__always)
    func accepts(_ node: UInt32) -> Bool {
        if let allowed {
            let index = Int(node)
            guard index < allowedLimit, allowed[index >> 6] & (1 << UInt64(index & 63)) != 0 else { return false }
        }
        if let excludedA, excludedA.contains(node) { return false }
        if let excludedB, excludedB.contains(node) { return false }
        return true
    }
}

/// A bitmap stored in chunks of `BitmapChunks.bitsPerChunk` bits; a missing chunk is all zeros.
struct BitmapChunks {
    static let chunkShift = 14
    static let bitsPerChunk = 1 << chunkShift
    static let bytesPerChunk = bitsPerChunk / 8
    /// Raw pointers: whoever made the table keeps it alive (a ``VectorIndexSnapshot``).
    let table: ChunkPointers

    init(table: ChunkTable) { self.table = ChunkPointers(table) }

    /// The 64 bits for nodes `base ..< base + 64` (`base` a multiple of 64).
    @inline(__always)
    func word(at base: Int) -> UInt64 {
        guard let chunk = table[base >> Self.chunkShift] else { return 0 }
        return chunk.loadUnaligned(fromByteOffset: ((base & (Self.bitsPerChunk - 1)) >> 6) * 8, as: UInt64.self)
    }

    @inline(__always)
    func contains(_ node: UInt32) -> Bool {
        let index = Int(node)
        guard let chunk = table[index >> Self.chunkShift] else { return false }
        let bit = index & (Self.bitsPerChunk - 1)
        return chunk.loadUnaligned(fromByteOffset: (bit >> 6) * 8, as: UInt64.self) & (1 << UInt64(bit & 63)) != 0
    }
}

// MARK: - Search

extension GraphView {
    /// Greedy descent through the upper layers to the closest node on level 1.
    func descend(_ query: UnsafePointer<Float>) -> Neighbor {
        var current = Neighbor(distance: distance(query, entryPoint), node: entryPoint)
        var level = maxLevel
        while level > 0 {
            var changed = true
            while changed {
                changed = false
                guard let list = links(current.node, level: level) else { break }
                let count = Int(list[0])
                for i in 1...max(count, 1) where i <= count {
                    let neighbor = list[i]
                    let d = distance(query, neighbor)
                    if d < current.distance {
                        current = Neighbor(distance: d, node: neighbor)
                        changed = true
                    }
                }
            }
            level -= 1
        }
        return current
    }

    /// Best-first search on level 0 from `start`, keeping the `ef` closest nodes that `filter` accepts.
    /// When accepted nodes are sparse, rejected neighbours are expanded one hop further (two-hop expansion) so the
    /// walk does not stall in rejected regions. Results are left in `context.results` (a max-heap).
    func searchLevel0(
        _ query: UnsafePointer<Float>, from start: Neighbor, ef: Int, filter: NodeFilter?, twoHop: Bool,
        context: SearchContext
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
        var bound = Float.infinity
        var scored = 1, accepted = 0
        defer {
            context.scoredAccepted = accepted
            context.scoredTotal = scored
        }
        if filter?.accepts(start.node) ?? true {
            accepted += 1
            results.push(start)
            bound = start.distance
        }
        while !candidates.isEmpty {
            let current = candidates.top
            if current.distance > bound && results.count >= ef { break }
            candidates.pop()
            if !candidates.isEmpty { prefetchLinks(candidates.top.node) }
            guard let list = links(current.node, level: 0) else { continue }
            let count = Int(list[0])
            var p = 1
            while p <= count {
                if !visited.contains(list[p]) { prefetch(list[p]) }
                p += 1
            }
            var i = 1
            while i <= count {
                let neighbor = list[i]
                i += 1
                guard visited.insert(neighbor) else { continue }
                let isAccepted = filter?.accepts(neighbor) ?? true
                let d = distance(query, neighbor)
                scored += 1
                if isAccepted { accepted += 1 }
                if results.count < ef || d < bound {
                    candidates.push(Neighbor(distance: d, node: neighbor))
                    if isAccepted {
                        results.push(Neighbor(distance: d, node: neighbor))
                        if results.count > ef { results.pop() }
                        bound = results.top.distance
                    }
                }
                if !isAccepted && twoHop, let second = links(neighbor, level: 0) {
                    let secondCount = Int(second[0])
                    var j = 1
                    while j <= secondCount {
                        let hop = second[j]
                        j += 1
                        guard filter?.accepts(hop) ?? true, visited.insert(hop) else { continue }
                        let d2 = distance(query, hop)
                        if results.count < ef || d2 < bound {
                            candidates.push(Neighbor(distance: d2, node: hop))
                            results.push(Neighbor(distance: d2, node: hop))
                            if results.count > ef { results.pop() }
                            bound = results.top.distance
                        }
                    }
                }
            }
        }
    }

    /// Best-first search on level 0 that only ever scores accepted nodes (ACORN-1 style): a node's neighbourhood is
    /// its accepted neighbours plus the accepted neighbours of its rejected ones (two hops), so the walk stays in
    /// the allowed subgraph and spends no distance computations on rejected nodes. Seeds are the accepted nodes
    /// nearest to `start` in link hops. Results are left in `results`.
    func searchAllowedSubgraph(
        _ query: UnsafePointer<Float>, from start: Neighbor, ef: Int, filter: NodeFilter, context: SearchContext
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
        var bound = Float.infinity
        @inline(__always) func consider(_ node: UInt32) {
            let d = distance(query, node)
            if results.count < ef || d < bound {
                candidates.push(Neighbor(distance: d, node: node))
                results.push(Neighbor(distance: d, node: node))
                if results.count > ef { results.pop() }
                bound = results.top.distance
            }
        }
        // Seeds: breadth-first from the start through any nodes until enough accepted ones are found.
        var frontier: [UInt32] = [start.node]
        _ = visited.insert(start.node)
        if filter.accepts(start.node) { consider(start.node) }
        var seeds = results.count
        var budget = 64 * ef
        var walked = 1
        defer {
            context.scoredAccepted = seeds
            context.scoredTotal = walked
        }
        while seeds < min(ef, 16) && !frontier.isEmpty && budget > 0 {
            var next: [UInt32] = []
            for node in frontier {
                guard let list = links(node, level: 0) else { continue }
                let count = Int(list[0])
                var i = 1
                while i <= count {
                    let neighbor = list[i]
                    i += 1
                    guard visited.insert(neighbor) else { continue }
                    budget -= 1
                    walked += 1
                    if filter.accepts(neighbor) {
                        consider(neighbor)
                        seeds += 1
                    } else {
                        next.append(neighbor)
                    }
                }
            }
            frontier = next
        }
        while !candidates.isEmpty {
            let current = candidates.top
            if current.distance > bound && results.count >= ef { break }
            candidates.pop()
            guard let list = links(current.node, level: 0) else { continue }
            let count = Int(list[0])
            var i = 1
            while i <= count {
                let neighbor = list[i]
                i += 1
                guard visited.insert(neighbor) else { continue }
                if filter.accepts(neighbor) {
                    consider(neighbor)
                    continue
                }
                guard let second = links(neighbor, level: 0) else { continue }
                let secondCount = Int(second[0])
                var j = 1
                while j <= secondCount {
                    let hop = second[j]
                    j += 1
                    if !visited.contains(hop) && filter.accepts(hop) {
                        _ = visited.insert(hop)
                        consider(hop)
                    }
                }
            }
        }
    }

    /// The `k` closest accepted nodes, closest first.
    func search(
        _ query: UnsafePointer<Float>, k: Int, ef: Int, filter: NodeFilter? = nil, twoHop: Bool = false,
        context: SearchContext
    ) -> [Neighbor] {
        guard nodeLimit > 0, vector(entryPoint) != nil else { return [] }
        let start = descend(query)
        if twoHop, let filter {
            searchAllowedSubgraph(query, from: start, ef: max(ef, k), filter: filter, context: context)
        } else {
            searchLevel0(query, from: start, ef: max(ef, k), filter: filter, twoHop: false, context: context)
        }
        while context.results.count > k { context.results.pop() }
        var found = Array(context.results.elements)
        found.sort()
        return found
    }
}
