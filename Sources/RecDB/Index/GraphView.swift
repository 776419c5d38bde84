import CRecSupport

/// Links above level 0: a sorted list of the nodes that have them, with per-node offsets into one link array where
/// each level holds `1 + M` slots (count, then links). Serialised as one value: `u32 count, u32 slots,
/// nodes[count], offsets[count], links[...]` (native byte order).
///
/// A stored blob is validated once when a snapshot opens (``init(stored:slots:nodeLimit:maxLevel:copies:_:)``):
/// afterwards every node's lists lie inside the link array, so lookups only clamp counts and check neighbour ids.
struct UpperLayers {
    let count: Int
    let slots: Int
    let nodes: UnsafePointer<UInt32>
    let offsets: UnsafePointer<UInt32>
    let links: UnsafePointer<UInt32>
    /// Entries (`UInt32`) of the link array.
    let linkCount: Int
    /// Owns the aligned copy of a misaligned blob.
    private let copies: AlignedCopies?

    /// Reads a blob this process made (the builder's own, in aligned memory): its layout is trusted.
    init(trusted blob: UnsafeRawBufferPointer) {
        let copies = AlignedCopies()
        let words = try! StoredArray.pointer(blob, as: UInt32.self, .within(2...Int.max), copies: copies, "upper layers")
        self.init(words: words, copies: copies.count > 0 ? copies : nil)
    }

    private init(words: UnsafeBufferPointer<UInt32>, copies: AlignedCopies?) {
        let base = words.baseAddress!
        count = Int(base[0])
        slots = Int(base[1])
        nodes = base + 2
        offsets = base + 2 + count
        links = base + 2 + 2 * count
        linkCount = words.count - 2 - 2 * count
        self.copies = copies
    }

    /// Reads a stored blob and validates it against the header: the count fits the blob, `slots` is the space's
    /// `1 + M`, nodes are sorted, distinct and below `nodeLimit`, and each node's levels (from consecutive offsets)
    /// are a whole number of lists, between 1 and `maxLevel`, that end inside the link array. Throws `corrupted`
    /// prefixed with `what`.
    init(
        stored blob: UnsafeRawBufferPointer, slots expected: Int, nodeLimit: Int, maxLevel: Int, copies: AlignedCopies,
        validated: Bool = false, _ what: @autoclosure () -> String
    ) throws {
        let words = try StoredArray.pointer(blob, as: UInt32.self, .within(2...Int.max), copies: copies, what())
        let count = Int(words[0]), slots = Int(words[1])
        func fail(_ problem: String) -> RecDBError { RecDBError(.corrupted, "\(what()): \(problem)") }
        guard slots == expected else { throw fail("\(slots) slots per list; the space has \(expected)") }
        guard count <= (words.count - 2) / 2, count <= nodeLimit else {
            throw fail("claims \(count) nodes in \(blob.count) bytes (node limit \(nodeLimit))")
        }
        self.init(words: words, copies: nil)
        // The same bytes were validated by an earlier snapshot: the count and slots above are all that can differ.
        if validated { return }
        var previous = -1
        var expectedOffset = 0
        for i in 0..<count {
            let node = Int(nodes[i])
            guard node > previous, node < nodeLimit else {
                throw fail("node \(node) at position \(i) is out of order or past the node limit \(nodeLimit)")
            }
            previous = node
            let start = Int(offsets[i]), end = i + 1 < count ? Int(offsets[i + 1]) : linkCount
            // Levels by subtraction (most nodes have one): no division per node.
            var rest = end - start, levels = 0
            while rest > 0 && levels <= maxLevel {
                rest -= slots
                levels += 1
            }
            guard start == expectedOffset, end <= linkCount, rest == 0, levels >= 1, levels <= maxLevel else {
                throw fail(
                    "node \(node) has links \(start)..<\(end) of \(linkCount); levels must be whole lists of \(slots), "
                        + "1…\(maxLevel)")
            }
            expectedOffset = end
        }
        guard expectedOffset == linkCount else { throw fail("\(linkCount - expectedOffset) link slots belong to no node") }
    }

    static let empty: [UInt8] = [0, 0, 0, 0, 1, 0, 0, 0]

    /// The list (count, then links) of `node` at `level` ≥ 1, or nil when the node does not reach that level.
    @inline(__always)
    func list(_ node: UInt32, level: Int) -> UnsafePointer<UInt32>? {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) >> 1
            if nodes[mid] < node { low = mid + 1 } else { high = mid }
        }
        guard low < count, nodes[low] == node, level <= self.level(ofIndex: low) else { return nil }
        return links + Int(offsets[low]) + (level - 1) * slots
    }

    /// The highest level of the `index`-th node.
    @inline(__always)
    func level(ofIndex index: Int) -> Int {
        let end = index + 1 < count ? Int(offsets[index + 1]) : linkCount
        return (end - Int(offsets[index])) / max(slots, 1)
    }
}

/// A graph to search: vectors and level-0 links in chunks of `1 << chunkShift` nodes, upper layers, entry point.
/// The same view serves a graph being built in memory and one mapped from LMDB.
///
/// Walks are bounds-checked without throwing (they are the hot path): a list's count is clamped to its capacity
/// and every neighbour id is compared with the node limit before it indexes the visited set or a chunk table. A
/// violation is noted in the ``SearchContext`` (``SearchContext/linkFault``) and the walk goes on without it; the
/// caller turns the note into a `corrupted` error after the walk.
struct GraphView {
    let dimension: Int
    let metric: Metric
    let kernel: DistanceKernel
    /// Slots per node on level 0: 1 (count) + M0.
    let level0Slots: Int
    let chunkShift: Int
    let vectors: ChunkPointers
    let level0: ChunkPointers
    /// With int8 or float16 codes: `1 << chunkShift` × ``codeBytes`` bytes per chunk (and for int8 the quantiser
    /// that made them). Walks then score codes, and `vectors` holds nothing (the full-precision vectors are in the
    /// vector table).
    let codes: ChunkPointers?
    let codeKind: VectorCodes
    /// Bytes of one node's codes: `dimension` × the kind's bytes per dimension.
    let codeBytes: Int
    let quantizer: ScalarQuantizer?
    /// Keeps the tables alive as long as the view.
    let owners: [ChunkTable]
    let upper: UpperLayers?
    let entryPoint: UInt32
    let maxLevel: Int
    /// One past the largest node id.
    let nodeLimit: Int
    /// `nodeLimit` for the comparisons in the walks.
    let idLimit: UInt32
    /// The most links a list holds on level 0 (M0) and above it (M).
    let level0Capacity: Int
    let upperCapacity: Int

    /// The vector of `node`: inside a chunk whose size and alignment the table checked when it resolved it.
    @inline(__always)
    func vector(_ node: UInt32) -> UnsafePointer<Float>? {
        let index = Int(node)
        guard let chunk = vectors[index >> chunkShift] else { return nil }
        let offset = (index & ((1 << chunkShift) - 1)) * dimension
        // The table validated this chunk (exact size, aligned or copied) and bound it to Float when it resolved it.
        return chunk.assumingMemoryBound(to: Float.self) + offset
    }

    /// The list (count, then up to the level's capacity of links) of `node` at `level`. The count is as stored:
    /// callers clamp it (``clampedCount(_:node:level:context:)``) and check each id against ``idLimit``.
    @inline(__always)
    func links(_ node: UInt32, level: Int) -> UnsafePointer<UInt32>? {
        if level == 0 {
            let index = Int(node)
            guard let chunk = level0[index >> chunkShift] else { return nil }
            // A validated chunk (exact size, aligned or copied), bound to UInt32 when resolved.
            return chunk.assumingMemoryBound(to: UInt32.self) + (index & ((1 << chunkShift) - 1)) * level0Slots
        }
        return upper?.list(node, level: level)
    }

    /// The stored count of a list, clamped to the level's capacity; a count past it is noted as a fault.
    @inline(__always)
    func clampedCount(_ list: UnsafePointer<UInt32>, node: UInt32, level: Int, context: SearchContext) -> Int {
        let count = Int(list[0])
        let capacity = level == 0 ? level0Capacity : upperCapacity
        if count > capacity {
            context.noteLinkFault(LinkFault(node: node, level: level, count: count, neighbour: nil))
            return capacity
        }
        return count
    }

    @inline(__always)
    func distance(_ query: UnsafePointer<Float>, _ node: UInt32) -> Float {
        guard let vector = vector(node) else { return .infinity }
        return kernel(query, vector, dimension)
    }

    /// The codes of `node`, inside a chunk the table checked (exact size) when it resolved it; nil without codes.
    @inline(__always)
    func nodeCodes(_ node: UInt32) -> UnsafeRawPointer? {
        let index = Int(node)
        guard let codes, let chunk = codes[index >> chunkShift] else { return nil }
        return chunk + (index & ((1 << chunkShift) - 1)) * codeBytes
    }

    /// The walk's distance to `node`: from its codes when the query scores codes, else exact.
    @inline(__always)
    func distance(_ query: GraphQuery, _ node: UInt32) -> Float {
        if let scorer = query.scorer {
            guard let codes = nodeCodes(node) else { return .infinity }
            return scorer(codes)
        }
        return distance(query.vector, node)
    }

    /// Whether the graph holds what a walk scores for `node` (its vector, or its codes).
    func isScorable(_ node: UInt32) -> Bool { codes == nil ? vector(node) != nil : nodeCodes(node) != nil }

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
        if let codes {
            if let chunk = codes[index >> chunkShift] {
                let start = chunk + (index & ((1 << chunkShift) - 1)) * codeBytes
                var offset = 0
                while offset < codeBytes {
                    recdb_prefetch(start + offset)
                    offset += 64
                }
            }
            return
        }
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
        dimension: Int, metric: Metric, level0Slots: Int, upperSlots: Int, chunkShift: Int, vectors: ChunkTable,
        level0: ChunkTable, codes: ChunkTable? = nil, codeKind: VectorCodes = .float32,
        quantizer: ScalarQuantizer? = nil, upper: UpperLayers?,
        entryPoint: UInt32, maxLevel: Int, nodeLimit: Int
    ) {
        self.dimension = dimension
        self.metric = metric
        kernel = metric.kernel
        self.level0Slots = level0Slots
        self.chunkShift = chunkShift
        self.vectors = ChunkPointers(vectors)
        self.level0 = ChunkPointers(level0)
        self.codes = codes.map(ChunkPointers.init)
        self.codeKind = codes == nil ? .float32 : codeKind
        codeBytes = dimension * self.codeKind.bytesPerDimension
        self.quantizer = codes == nil ? nil : quantizer
        owners = [vectors, level0] + (codes.map { [$0] } ?? [])
        self.upper = upper
        self.entryPoint = entryPoint
        self.maxLevel = maxLevel
        self.nodeLimit = nodeLimit
        idLimit = UInt32(clamping: nodeLimit)
        level0Capacity = level0Slots - 1
        upperCapacity = upperSlots - 1
    }
}

/// A query as a walk scores it: the vector, and with codes the scorer prepared for it.
struct GraphQuery {
    let vector: UnsafePointer<Float>
    let scorer: CodeScorer?
}

extension GraphView {
    /// `query` ready for a walk: with int8 codes, its weights are computed into `context`'s buffers; float16 codes
    /// are scored against the query as it is.
    func prepare(_ query: UnsafePointer<Float>, context: SearchContext) -> GraphQuery {
        if codeKind == .float16 {
            return GraphQuery(
                vector: query,
                scorer: CodeScorer(
                    metric: metric, dimension: dimension, weights: query, targets: query, offset: 0,
                    avx2: VectorKernels.useF16C, kind: .float16))
        }
        guard let quantizer else { return GraphQuery(vector: query, scorer: nil) }
        let (weights, targets) = context.queryBuffers(dimension: dimension)
        let offset = quantizer.prepare(query, metric: metric, weights: weights, targets: targets)
        return GraphQuery(
            vector: query,
            scorer: CodeScorer(
                metric: metric, dimension: dimension, weights: weights, targets: targets, offset: offset,
                avx2: kernel.avx2))
    }
}

/// A broken link list met by a walk: a count past the list's capacity, or a neighbour id past the node limit.
struct LinkFault: Equatable {
    var node: UInt32
    var level: Int
    /// The stored count, when that was the problem.
    var count: Int?
    /// The neighbour id, when that was the problem.
    var neighbour: UInt32?
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

// MARK: - Search

extension GraphView {
    /// Greedy descent through the upper layers to the closest node on level 1.
    func descend(_ query: GraphQuery, context: SearchContext) -> Neighbor {
        var current = Neighbor(distance: distance(query, entryPoint), node: entryPoint)
        var level = maxLevel
        let limit = idLimit
        while level > 0 {
            var changed = true
            while changed {
                changed = false
                guard let list = links(current.node, level: level) else { break }
                let count = clampedCount(list, node: current.node, level: level, context: context)
                var i = 1
                while i <= count {
                    let neighbor = list[i]
                    i += 1
                    guard neighbor < limit else {
                        context.noteLinkFault(LinkFault(node: current.node, level: level, neighbour: neighbor))
                        break
                    }
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
        _ query: GraphQuery, from start: Neighbor, ef: Int, filter: NodeFilter?, twoHop: Bool,
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
        let limit = idLimit
        guard start.node < limit else { return }
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
            var count = clampedCount(list, node: current.node, level: 0, context: context)
            // Checks every id once, before anything indexes with it; a bad id ends the list there.
            var p = 1
            while p <= count {
                let neighbor = list[p]
                if neighbor >= limit {
                    context.noteLinkFault(LinkFault(node: current.node, level: 0, neighbour: neighbor))
                    count = p - 1
                    break
                }
                if !visited.contains(neighbor) { prefetch(neighbor) }
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
                    let secondCount = clampedCount(second, node: neighbor, level: 0, context: context)
                    var j = 1
                    while j <= secondCount {
                        let hop = second[j]
                        j += 1
                        guard hop < limit else {
                            context.noteLinkFault(LinkFault(node: neighbor, level: 0, neighbour: hop))
                            break
                        }
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
        _ query: GraphQuery, from start: Neighbor, ef: Int, filter: NodeFilter, context: SearchContext
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
        let limit = idLimit
        guard start.node < limit else { return }
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
                let count = clampedCount(list, node: node, level: 0, context: context)
                var i = 1
                while i <= count {
                    let neighbor = list[i]
                    i += 1
                    guard neighbor < limit else {
                        context.noteLinkFault(LinkFault(node: node, level: 0, neighbour: neighbor))
                        break
                    }
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
            let count = clampedCount(list, node: current.node, level: 0, context: context)
            var i = 1
            while i <= count {
                let neighbor = list[i]
                i += 1
                guard neighbor < limit else {
                    context.noteLinkFault(LinkFault(node: current.node, level: 0, neighbour: neighbor))
                    break
                }
                guard visited.insert(neighbor) else { continue }
                if filter.accepts(neighbor) {
                    consider(neighbor)
                    continue
                }
                guard let second = links(neighbor, level: 0) else { continue }
                let secondCount = clampedCount(second, node: neighbor, level: 0, context: context)
                var j = 1
                while j <= secondCount {
                    let hop = second[j]
                    j += 1
                    guard hop < limit else {
                        context.noteLinkFault(LinkFault(node: neighbor, level: 0, neighbour: hop))
                        break
                    }
                    if !visited.contains(hop) && filter.accepts(hop) {
                        _ = visited.insert(hop)
                        consider(hop)
                    }
                }
            }
        }
    }

    /// The `k` closest accepted nodes, closest first. A broken list met on the way is noted in
    /// ``SearchContext/linkFault`` (cleared here first) and the results are then not to be trusted.
    func search(
        _ query: UnsafePointer<Float>, k: Int, ef: Int, filter: NodeFilter? = nil, twoHop: Bool = false,
        context: SearchContext
    ) -> [Neighbor] {
        context.linkFault = nil
        guard nodeLimit > 0, entryPoint < idLimit, isScorable(entryPoint) else { return [] }
        let prepared = prepare(query, context: context)
        let start = descend(prepared, context: context)
        if twoHop, let filter {
            searchAllowedSubgraph(prepared, from: start, ef: max(ef, k), filter: filter, context: context)
        } else {
            searchLevel0(prepared, from: start, ef: max(ef, k), filter: filter, twoHop: false, context: context)
        }
        while context.results.count > k { context.results.pop() }
        var found = Array(context.results.elements)
        found.sort()
        return found
    }
}
