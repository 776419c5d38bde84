import CLMDB
import Foundation

/// One search result: an item or user by internal id, with its distance and score.
public struct VectorMatch: Hashable, Sendable {
    /// Internal id of the item or user.
    public var node: UInt32
    /// The distance the index orders by (smaller is closer).
    public var distance: Float
    /// Similarity for cosine and inner product (larger is better), Euclidean distance for L2.
    public var score: Float
}

/// What a build did.
public struct IndexBuildReport: Sendable {
    public var space: String
    public var kind: VectorKind
    public var generation: UInt32
    public var nodes: Int
    public var seconds: Double
    public var bytes: Int
}

/// Statistics of a space's index.
public struct IndexStats: Sendable {
    public var space: EmbeddingSpace
    public var kind: VectorKind
    public var vectors: Int
    public var generation: UInt32
    public var indexedNodes: Int
    public var pending: Int
    public var tombstones: Int
    public var maxLevel: Int
    public var bytes: Int
    public var builtAt: Timestamp?
    public var buildSeconds: Double?
}

extension RecDatabase {
    /// Chunks hold `1 << indexChunkShift` nodes (4,096): a query resolves each chunk once per read transaction.
    static let indexChunkShift = 12

    /// The share of tombstones (deleted nodes still in the graph) above which linking rebuilds from scratch.
    public static let tombstoneRebuildRatio = 0.1

    /// Brings a space's index up to date and makes the result the active generation, in one small transaction.
    ///
    /// Without an index, or with `full`, or when deleted nodes would pass ``tombstoneRebuildRatio``, it builds a
    /// new graph from one snapshot of the vectors. Otherwise it links only the pending changes into a copy of the
    /// current graph (new and moved vectors are inserted, removed ones become tombstones that searches step over).
    /// Searches go on meanwhile on the previous generation; readers that began before the switch finish on it.
    /// A crash leaves the previous generation active and the partial one is removed at the next open.
    @discardableResult
    public func buildIndex(
        space name: String, kind: VectorKind = .items, threads: Int = 2, full: Bool = false,
        progress: (@Sendable (Double) -> Void)? = nil
    ) throws -> IndexBuildReport {
        try withJob(Self.indexJob(name, kind)) {
            try buildIndexHoldingLease(space: name, kind: kind, threads: threads, full: full, progress: progress)
        }
    }

    private func buildIndexHoldingLease(
        space name: String, kind: VectorKind, threads: Int, full: Bool, progress: (@Sendable (Double) -> Void)?
    ) throws -> IndexBuildReport {
        let started = Date()
        let chunkShift = Self.indexChunkShift
        try markFirstBuild(space: name, kind: kind)
        // 1. Snapshot the vectors (and, when linking, the current graph).
        let (space, builder, nodes, changeSequence, tombstones) = try read {
            r -> (EmbeddingSpace, HNSWBuilder, [UInt32], UInt64, [UInt32]) in
            let space = try r.requireSpace(name)
            let prefix = VectorKeys.prefix(space.id, kind)
            var last: UInt32 = 0
            var any = false
            try vectorSchema.vectors.scanRaw(in: r.txn, prefix: prefix, reverse: true) { key, _ in
                last = key.loadBigEndianUInt32(at: 3)
                any = true
                return .stop
            }
            let next = try schema.meta.get("next.vector_change", in: r.txn).map { raw in
                try raw.withUnsafeBytes { try UInt64Codec.decode($0) }
            } ?? 1
            func copyVector(_ node: UInt32, _ value: UnsafeRawBufferPointer, into builder: HNSWBuilder) throws {
                guard value.count == space.dimension * 4 else {
                    throw RecDBError(.corrupted, "vector of node \(node) in '\(name)' has \(value.count) bytes")
                }
                builder.vector(node).update(from: value.bindMemory(to: Float.self).baseAddress!, count: space.dimension)
            }
            // Link into the current graph when there is one and it is in good shape.
            let linked: (EmbeddingSpace, HNSWBuilder, [UInt32], UInt64, [UInt32])? = try r.withVectorIndex(
                space: name, kind: kind
            ) { index in
                guard !full, let graph = index.graph, let header = index.header, header.chunkShift == chunkShift,
                    header.level0Slots == 1 + space.parameters.m0, header.upperSlots == 1 + space.parameters.m
                else { return nil }
                var dead: [UInt32] = []
                for node in 0..<UInt32(header.nodeLimit) where index.tombstones.contains(node) { dead.append(node) }
                var changed: [UInt32] = []
                var removed: [UInt32] = []
                for node in index.pending {
                    if try vectorSchema.vectors.contains(VectorKeys.node(space.id, kind, node), in: r.txn) {
                        changed.append(node)
                    } else if Int(node) < header.nodeLimit && index.present.contains(node) {
                        removed.append(node)
                    }
                }
                let deadCount = Set(dead + removed).count
                guard Double(deadCount) <= Self.tombstoneRebuildRatio * Double(max(header.nodeCount, 1)) else { return nil }
                let limit = max(header.nodeLimit, any ? Int(last) + 1 : 0)
                let builder = HNSWBuilder(
                    dimension: space.dimension, metric: space.metric, parameters: space.parameters, nodeLimit: limit,
                    chunkShift: chunkShift)
                builder.load(graph, present: index.present)
                for node in changed {
                    try vectorSchema.vectors.withValue(VectorKeys.node(space.id, kind, node), in: r.txn) { value in
                        try copyVector(node, value, into: builder)
                    }
                }
                let tombstones = Array(Set(dead + removed).subtracting(changed)).sorted()
                return (space, builder, changed, next - 1, tombstones)
            }
            if let linked { return linked }
            let builder = HNSWBuilder(
                dimension: space.dimension, metric: space.metric, parameters: space.parameters,
                nodeLimit: any ? Int(last) + 1 : 0, chunkShift: chunkShift)
            var nodes: [UInt32] = []
            try vectorSchema.vectors.scanRaw(in: r.txn, prefix: prefix) { key, value in
                let node = key.loadBigEndianUInt32(at: 3)
                try copyVector(node, value, into: builder)
                nodes.append(node)
                return .next
            }
            return (space, builder, nodes, next - 1, [])
        }
        // 2. Build in memory.
        let total = nodes.count
        builder.insert(nodes, threads: threads) { done in progress?(Double(done) / Double(max(total, 1))) }
        let upperBlob = builder.upperBlob()
        let generation = space.generation(kind) + 1
        let chunk = 1 << chunkShift
        let chunks = builder.paddedNodes / chunk
        var present = [[UInt8]](repeating: [], count: (builder.paddedNodes + BitmapChunks.bitsPerChunk - 1) / BitmapChunks.bitsPerChunk)
        var hasNodes = [Bool](repeating: false, count: chunks)
        var graphNodes: [UInt32] = []
        for node in 0..<builder.nodeLimit where builder.levels[node] >= 0 { graphNodes.append(UInt32(node)) }
        for node in graphNodes {
            let index = Int(node)
            hasNodes[index >> chunkShift] = true
            let bitmap = index >> BitmapChunks.chunkShift
            if present[bitmap].isEmpty { present[bitmap] = [UInt8](repeating: 0, count: BitmapChunks.bytesPerChunk) }
            let bit = index & (BitmapChunks.bitsPerChunk - 1)
            present[bitmap][bit >> 3] |= 1 << UInt8(bit & 7)
        }
        // 3. Write the chunks of the new generation, several transactions of bounded size.
        var bytes = 0
        let vectorBytes = chunk * space.dimension * 4, linkBytes = chunk * builder.level0Slots * 4
        let chunksPerTransaction = max(1, (64 << 20) / (vectorBytes + linkBytes))
        var first = 0
        while first < chunks {
            let last = min(chunks, first + chunksPerTransaction)
            try environment.write { txn in
                for c in first..<last where hasNodes[c] {
                    let vectorKey = VectorKeys.ann(space.id, kind, generation, .vectors, UInt32(c))
                    let linkKey = VectorKeys.ann(space.id, kind, generation, .level0, UInt32(c))
                    try vectorKey.withUnsafeBytes { key in
                        try vectorSchema.ann.putRaw(
                            key: key,
                            value: UnsafeRawBufferPointer(start: builder.vectors + c * chunk * space.dimension, count: vectorBytes),
                            in: &txn)
                    }
                    try linkKey.withUnsafeBytes { key in
                        try vectorSchema.ann.putRaw(
                            key: key,
                            value: UnsafeRawBufferPointer(start: builder.level0 + c * chunk * builder.level0Slots, count: linkBytes),
                            in: &txn)
                    }
                    bytes += vectorBytes + linkBytes
                }
            }
            first = last
        }
        // 4. Switch to it in one small transaction.
        let header = IndexHeader(
            chunkShift: chunkShift, nodeLimit: builder.nodeLimit, entryPoint: builder.entryPoint,
            maxLevel: max(builder.maxLevel, 0), nodeCount: graphNodes.count, level0Slots: builder.level0Slots,
            upperSlots: builder.upperSlots, builtAt: .now, buildSeconds: Date().timeIntervalSince(started),
            changeSequence: changeSequence)
        try write { w in
            var txn = WriteTransaction(handle: w.handle)
            guard var current = try w.space(name), current.id == space.id else {
                throw RecDBError(.notFound, "embedding space '\(name)' was dropped during the build")
            }
            guard current.generation(kind) == space.generation(kind) else {
                throw RecDBError(.alreadyExists, "another build of '\(name)' finished first; this one is discarded")
            }
            try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .header), header.bytes, in: &txn)
            try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .upper), upperBlob, in: &txn)
            for (index, bits) in present.enumerated() where !bits.isEmpty {
                try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .present, UInt32(index)), bits, in: &txn)
            }
            var dead: [UInt32: [UInt8]] = [:]
            for node in tombstones {
                let index = Int(node)
                let bit = index & (BitmapChunks.bitsPerChunk - 1)
                dead[UInt32(index >> BitmapChunks.chunkShift), default: [UInt8](repeating: 0, count: BitmapChunks.bytesPerChunk)][
                    bit >> 3] |= 1 << UInt8(bit & 7)
            }
            for (index, bits) in dead {
                try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .tombstones, index), bits, in: &txn)
            }
            let old = current.generation(kind)
            if old != 0 { try deleteRange(vectorSchema.ann, prefix: VectorKeys.annPrefix(space.id, kind, old), in: &txn) }
            current.generations[Int(kind.rawValue)] = generation
            try vectorSchema.spaces.put(name, current.bytes, in: &txn)
            try resetDirty(space: current, kind: kind, through: changeSequence, in: &txn)
        }
        bytes += upperBlob.count
        #if DEBUG
        let problems = try checkIndex(space: name, kind: kind).problems
        precondition(problems.isEmpty, "index invariants broken after a build of '\(name)': \(problems)")
        #endif
        return IndexBuildReport(
            space: name, kind: kind, generation: generation, nodes: graphNodes.count - tombstones.count,
            seconds: Date().timeIntervalSince(started), bytes: bytes)
    }

    /// Forgets pending changes the new generation includes and rebuilds the pending bitmap from the rest.
    func resetDirty(space: EmbeddingSpace, kind: VectorKind, through sequence: UInt64, in txn: inout WriteTransaction) throws {
        try deleteRange(vectorSchema.ann, prefix: VectorKeys.annPrefix(space.id, kind, 0), in: &txn)
        var remaining: [UInt32] = []
        var done: [[UInt8]] = []
        try vectorSchema.dirty.scanRaw(in: ReadTransaction(handle: txn.handle), prefix: VectorKeys.prefix(space.id, kind)) {
            key, value in
            if value.loadBigEndianUInt64(at: 0) <= sequence {
                done.append(Array(key))
            } else {
                remaining.append(key.loadBigEndianUInt32(at: 3))
            }
            return .next
        }
        for key in done { try vectorSchema.dirty.delete(key, in: &txn) }
        var chunks: [UInt32: [UInt8]] = [:]
        for node in remaining {
            let index = Int(node)
            let chunk = UInt32(index >> BitmapChunks.chunkShift)
            let bit = index & (BitmapChunks.bitsPerChunk - 1)
            chunks[chunk, default: [UInt8](repeating: 0, count: BitmapChunks.bytesPerChunk)][bit >> 3] |= 1 << UInt8(bit & 7)
        }
        for (chunk, bits) in chunks {
            try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, 0, .dirty, chunk), bits, in: &txn)
        }
    }
}

// MARK: - Reading

/// A space's index as seen by one read transaction: the active graph, the pending changes beside it and the
/// vector table. Valid only inside the closure of ``CatalogReading/withVectorIndex(space:kind:_:)``.
public final class VectorIndexSnapshot {
    public let space: EmbeddingSpace
    public let kind: VectorKind
    let header: IndexHeader?
    let graph: GraphView?
    let dirty: BitmapChunks
    let tombstones: BitmapChunks
    let present: BitmapChunks
    private let bitmapTables: [ChunkTable]
    /// Whether any change waits beside the graph, and whether the graph holds deleted nodes.
    let hasPending: Bool
    let hasTombstones: Bool
    private let handle: OpaquePointer
    private let schema: VectorSchema
    private var pendingNodes: [UInt32]?
    private var upperStorage: UnsafeRawBufferPointer?
    /// Allowed sets at most this large are searched exactly instead of through the graph
    /// (default: an eighth of the graph, at least 2,048 and at most 32,768).
    public var exactSearchLimit: Int?
    /// When a filtered walk finds the filter accepting far fewer nodes around the query than overall (the allowed
    /// items lie away from the query: a correlated filter), the graph cannot be trusted and an exact scan answers
    /// instead, for allowed sets up to this size.
    public var exactFallbackLimit = 1 << 20

    init(
        space: EmbeddingSpace, kind: VectorKind, handle: OpaquePointer, schema: VectorSchema,
        meta: Database<StringCodec, BytesCodec>
    ) throws {
        self.space = space
        self.kind = kind
        self.handle = handle
        self.schema = schema
        let generation = space.generation(kind)
        let txn = ReadTransaction(handle: handle)
        let ann = schema.ann
        func table(_ generation: UInt32, _ part: VectorKeys.Part, count: Int) -> ChunkTable {
            ChunkTable(count: count) { chunk in
                let found = try? ann.withValue(
                    VectorKeys.ann(space.id, kind, generation, part, UInt32(chunk)), in: ReadTransaction(handle: handle)
                ) { $0.baseAddress }
                return found ?? nil
            }
        }
        let header = try generation == 0
            ? nil : ann.withValue(VectorKeys.ann(space.id, kind, generation, .header), in: txn) { try IndexHeader($0) }
        self.header = header
        // Ids below the catalog's next id can carry a vector; bitmaps need one chunk per 16,384 of them.
        let nextID = try CatalogSchemaAccess.nextID(kind == .items ? "next.item" : "next.user", handle: handle, meta: meta)
        let idLimit = max(Int(nextID), header?.nodeLimit ?? 0)
        let bitmapChunks = (idLimit >> BitmapChunks.chunkShift) + 1
        let dirtyTable = table(0, .dirty, count: bitmapChunks)
        let tombstoneTable = table(generation, .tombstones, count: bitmapChunks)
        let presentTable = table(generation, .present, count: bitmapChunks)
        bitmapTables = [dirtyTable, tombstoneTable, presentTable]
        dirty = BitmapChunks(table: dirtyTable)
        tombstones = BitmapChunks(table: tombstoneTable)
        present = BitmapChunks(table: presentTable)
        func anyKey(_ prefix: [UInt8]) -> Bool {
            var found = false
            try? ann.scanRaw(in: txn, prefix: prefix) { _, _ in
                found = true
                return .stop
            }
            return found
        }
        hasPending = anyKey(VectorKeys.annPrefix(space.id, kind, 0))
        var tombstonePrefix = VectorKeys.annPrefix(space.id, kind, generation)
        tombstonePrefix.append(VectorKeys.Part.tombstones.rawValue)
        hasTombstones = generation != 0 && anyKey(tombstonePrefix)
        guard let header else {
            graph = nil
            return
        }
        let blob = try ann.withValue(VectorKeys.ann(space.id, kind, generation, .upper), in: txn) {
            UnsafeRawBufferPointer($0)
        }
        guard let blob, let upper = UpperLayers(blob: blob.baseAddress!, size: blob.count) else {
            throw RecDBError(.corrupted, "index generation \(generation) of '\(space.name)' has no upper layers")
        }
        upperStorage = blob
        let chunks = (header.nodeLimit + (1 << header.chunkShift) - 1) >> header.chunkShift
        graph = GraphView(
            dimension: space.dimension, metric: space.metric, level0Slots: header.level0Slots,
            chunkShift: header.chunkShift, vectors: table(generation, .vectors, count: chunks),
            level0: table(generation, .level0, count: chunks), upper: upper,
            upperLinkCount: (blob.count - 8) / 4 - 2 * upper.count, entryPoint: header.entryPoint,
            maxLevel: header.maxLevel, nodeLimit: header.nodeLimit)
    }

    /// Nodes whose vectors changed since the graph was built (new, updated or removed).
    var pending: [UInt32] {
        if let pendingNodes { return pendingNodes }
        var nodes: [UInt32] = []
        try? schema.dirty.scanRaw(in: ReadTransaction(handle: handle), prefix: VectorKeys.prefix(space.id, kind)) { key, _ in
            nodes.append(key.loadBigEndianUInt32(at: 3))
            return .next
        }
        pendingNodes = nodes
        return nodes
    }

    /// The stored vector of a node (from the vector table), or nil.
    func storedVector<R>(_ node: UInt32, _ body: (UnsafePointer<Float>) -> R) -> R? {
        try? schema.vectors.withValue(VectorKeys.node(space.id, kind, node), in: ReadTransaction(handle: handle)) { raw in
            body(raw.bindMemory(to: Float.self).baseAddress!)
        }
    }

    /// The current vector of a node: from the graph when it is there and unchanged, else from the vector table.
    @inline(__always)
    func withVector<R>(_ node: UInt32, _ body: (UnsafePointer<Float>) -> R) -> R? {
        if let graph, !dirty.contains(node) {
            guard present.contains(node), !tombstones.contains(node), let vector = graph.vector(node) else { return nil }
            return body(vector)
        }
        return storedVector(node, body)
    }

    /// Prepares a query: checks its dimension and values, normalises it for cosine.
    public func prepare(_ query: [Float]) throws -> [Float] {
        guard query.count == space.dimension else {
            throw RecDBError(
                .invalidArgument, "query has \(query.count) dimensions; space '\(space.name)' has \(space.dimension)")
        }
        guard query.allSatisfy(\.isFinite) else { throw RecDBError(.invalidArgument, "query values must be finite") }
        var prepared = query
        if space.metric == .cosine {
            let ok = prepared.withUnsafeMutableBufferPointer { VectorKernels.normalize($0.baseAddress!, space.dimension) }
            guard ok else { throw RecDBError(.invalidArgument, "a zero query has no direction for cosine") }
        }
        return prepared
    }

    /// The `k` nearest nodes to `query` among `allowed` (all when nil), closest first.
    ///
    /// Plans the search: an exact SIMD scan when there is no graph yet or the allowed set is small; otherwise a
    /// walk of the graph that skips disallowed, deleted and changed nodes, with `ef` widened as the allowed share
    /// falls and two-hop expansion below 10 %, merged with an exact scan of the changes not yet in the graph.
    public func search(
        _ query: [Float], k: Int, ef: Int? = nil, allowed: AllowedSet? = nil, context: SearchContextBox? = nil
    ) throws -> [VectorMatch] {
        let prepared = try prepare(query)
        guard k > 0 else { return [] }
        if let allowed, allowed.count == 0 { return [] }
        let scratch = context?.context ?? SearchContextPool.shared.take()
        defer { if context == nil { SearchContextPool.shared.give(scratch) } }
        return prepared.withUnsafeBufferPointer { q in
            searchPrepared(q.baseAddress!, k: k, ef: ef ?? space.parameters.ef, allowed: allowed, context: scratch)
        }
    }

    func searchPrepared(
        _ query: UnsafePointer<Float>, k: Int, ef: Int, allowed: AllowedSet?, context: SearchContext
    ) -> [VectorMatch] {
        let metric = space.metric, dimension = space.dimension
        guard let graph, let header else { return exactScan(query, k: k, allowed: allowed) }
        let exactLimit = exactSearchLimit ?? max(2048, min(header.nodeCount / 8, 32768))
        if let allowed, allowed.count <= exactLimit { return exactScan(query, k: k, allowed: allowed) }
        let share = allowed.map { min(1, Double($0.count) / Double(max(header.nodeCount, 1))) } ?? 1
        let tuning = FilterTuning.current
        let widened = share >= tuning.widenBelow ? ef : min(4096, Int(Double(ef) * pow(1 / share, tuning.widenPower)))
        var excluded = NodeFilter()
        if hasPending { excluded.excludedA = dirty }
        if hasTombstones { excluded.excludedB = tombstones }
        var found: [Neighbor]
        if let allowed {
            found = allowed.withFilter(excluding: excluded) { filter in
                graph.search(query, k: k, ef: widened, filter: filter, twoHop: share < tuning.subgraphBelow, context: context)
            }
            let localShare = Double(context.scoredAccepted) / Double(max(context.scoredTotal, 1))
            if localShare < share * tuning.fallbackBelow && allowed.count <= exactFallbackLimit {
                return exactScan(query, k: k, allowed: allowed)
            }
        } else {
            let filter: NodeFilter? = hasPending || hasTombstones ? excluded : nil
            found = graph.search(query, k: k, ef: widened, filter: filter, context: context)
        }
        let pending = self.pending
        if !pending.isEmpty {
            for node in pending where allowed?.contains(node) ?? true {
                if let d = storedVector(node, { metric.distance(query, $0, dimension) }) {
                    found.append(Neighbor(distance: d, node: node))
                }
            }
            found.sort()
            found = Array(found.prefix(k))
        }
        return found.map { VectorMatch(node: $0.node, distance: $0.distance, score: metric.score(fromDistance: $0.distance)) }
    }

    /// Exact top-k by SIMD scan: over `allowed`, or over every stored vector.
    func exactScan(_ query: UnsafePointer<Float>, k: Int, allowed: AllowedSet?) -> [VectorMatch] {
        let metric = space.metric, dimension = space.dimension
        var heap = NeighborHeap(capacity: k + 1, isMax: true)
        defer { heap.deallocate() }
        @inline(__always) func offer(_ node: UInt32, _ d: Float) {
            if heap.count < k {
                heap.push(Neighbor(distance: d, node: node))
            } else if d < heap.top.distance {
                heap.pop()
                heap.push(Neighbor(distance: d, node: node))
            }
        }
        if let allowed, let graph {
            // Word by word: allowed ∧ in the graph ∧ not changed ∧ not deleted, read from the mapped chunks;
            // changed nodes come from the vector table.
            let chunkShift = graph.chunkShift, chunkMask = (1 << chunkShift) - 1
            let kernel = metric.kernel
            allowed.words.withUnsafeBufferPointer { words in
                for w in 0..<words.count where words[w] != 0 {
                    let base = w << 6
                    var eligible = words[w] & present.word(at: base) & ~tombstones.word(at: base)
                    let changed = words[w] & dirty.word(at: base)
                    eligible &= ~changed
                    if eligible != 0, let chunk = graph.vectors[base >> chunkShift] {
                        let vectors = chunk.assumingMemoryBound(to: Float.self)
                        var bits = eligible
                        while bits != 0 {
                            let node = base + bits.trailingZeroBitCount
                            bits &= bits - 1
                            offer(UInt32(node), kernel(query, vectors + (node & chunkMask) * dimension, dimension))
                        }
                    }
                    var pendingBits = changed
                    while pendingBits != 0 {
                        let node = UInt32(base + pendingBits.trailingZeroBitCount)
                        pendingBits &= pendingBits - 1
                        if let d = storedVector(node, { metric.distance(query, $0, dimension) }) { offer(node, d) }
                    }
                }
            }
        } else if let allowed {
            allowed.forEach { node in
                if let d = withVector(node, { metric.distance(query, $0, dimension) }) { offer(node, d) }
            }
        } else {
            try? schema.vectors.scanRaw(in: ReadTransaction(handle: handle), prefix: VectorKeys.prefix(space.id, kind)) {
                key, value in
                let d = metric.distance(query, value.bindMemory(to: Float.self).baseAddress!, dimension)
                offer(key.loadBigEndianUInt32(at: 3), d)
                return .next
            }
        }
        var found = Array(heap.elements)
        found.sort()
        return found.map { VectorMatch(node: $0.node, distance: $0.distance, score: metric.score(fromDistance: $0.distance)) }
    }
}

/// Scratch memories shared by searches that bring none: a query takes one and gives it back, so its visited set
/// (one stamp per node) is not allocated and cleared per query.
final class SearchContextPool: @unchecked Sendable {
    static let shared = SearchContextPool()
    private let lock = NSLock()
    private var free: [SearchContext] = []

    func take() -> SearchContext {
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? SearchContext()
    }

    func give(_ context: SearchContext) {
        lock.lock()
        defer { lock.unlock() }
        if free.count < 64 { free.append(context) }
    }
}

/// Search scratch memory that a thread keeps across queries (avoids allocating per query).
public final class SearchContextBox: @unchecked Sendable {
    let context = SearchContext()
    public init() {}
}

extension CatalogReading where Self: ~Copyable {
    /// Calls `body` with the index of `space` as of this transaction.
    public func withVectorIndex<R>(
        space name: String, kind: VectorKind = .items, _ body: (VectorIndexSnapshot) throws -> R
    ) throws -> R {
        let snapshot = try VectorIndexSnapshot(
            space: try requireSpace(name), kind: kind, handle: handle, schema: vectorSchema, meta: schema.meta)
        return try body(snapshot)
    }

    /// The `k` items (or users) nearest to `query` in `space`, optionally among `allowed` only.
    public func nearest(
        in space: String, to query: [Float], k: Int, ef: Int? = nil, kind: VectorKind = .items,
        allowed: AllowedSet? = nil
    ) throws -> [VectorMatch] {
        try withVectorIndex(space: space, kind: kind) { try $0.search(query, k: k, ef: ef, allowed: allowed) }
    }

    /// The `k` items nearest to item `id` in `space` (the item itself left out).
    public func nearest(
        in space: String, toItem id: String, k: Int, ef: Int? = nil, allowed: AllowedSet? = nil
    ) throws -> [VectorMatch] {
        guard let vector = try vector(space: space, .items, id: id) else {
            throw RecDBError(.notFound, "item '\(id)' has no vector in space '\(space)'")
        }
        let own = try itemID(for: id)!
        var set = allowed
        set?.remove(own)
        let found = try nearest(in: space, to: vector, k: k + 1, ef: ef, allowed: set)
        return Array(found.filter { $0.node != own }.prefix(k))
    }
}

enum CatalogSchemaAccess {
    /// A `u64` id counter from `meta` (0 when unset).
    static func nextID(_ name: String, handle: OpaquePointer, meta: Database<StringCodec, BytesCodec>) throws -> UInt64 {
        try meta.withValue(name, in: ReadTransaction(handle: handle)) { try UInt64Codec.decode($0) } ?? 0
    }
}

/// Knobs of the filtered-search planner, settable through `RECDB_FILTER_TUNING="widenBelow,widenPower,subgraphBelow"`
/// for benchmarking.
struct FilterTuning {
    var widenBelow = 0.5
    var widenPower = 0.5
    var subgraphBelow = 0.1
    var fallbackBelow = 0.8

    static let current: FilterTuning = {
        var tuning = FilterTuning()
        if let text = ProcessInfo.processInfo.environment["RECDB_FILTER_TUNING"] {
            let parts = text.split(separator: ",").compactMap { Double($0) }
            if parts.count == 4 {
                tuning = FilterTuning(
                    widenBelow: parts[0], widenPower: parts[1], subgraphBelow: parts[2], fallbackBelow: parts[3])
            }
        }
        return tuning
    }()
}
