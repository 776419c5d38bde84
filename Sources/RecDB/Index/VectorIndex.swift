import Foundation
import Synchronization

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
    /// The name of the space that was indexed.
    public var space: String
    /// Whether the item or the user vectors of the space were indexed.
    public var kind: VectorKind
    /// The generation the build wrote and made active; searches that start after the build use it.
    public var generation: UInt32
    /// Nodes live in the new graph (tombstones not counted).
    public var nodes: Int
    /// Wall-clock duration of the build, snapshot to switch.
    public var seconds: Double
    /// Bytes written for the new generation (vectors copied into the graph chunks, links and upper levels).
    public var bytes: Int
}

/// Statistics of a space's index.
public struct IndexStats: Sendable {
    /// The space with its dimension, metric and HNSW parameters.
    public var space: EmbeddingSpace
    /// Whether these are the statistics of the item or the user index.
    public var kind: VectorKind
    /// Vectors stored in the space for this kind, indexed or not.
    public var vectors: Int
    /// The active index generation; 0 when no index has been built (searches scan exactly).
    public var generation: UInt32
    /// Nodes in the active graph, tombstones included.
    public var indexedNodes: Int
    /// Nodes whose vectors were added, changed or removed since the active graph was built; searches read them from the
    /// vector table until the next build links them.
    public var pending: Int
    /// Nodes of the active graph whose vectors were removed; searches step over them, and past
    /// ``RecDatabase/tombstoneRebuildRatio`` the next build starts from scratch.
    public var tombstones: Int
    /// The top level of the HNSW graph (0 when it has one level or no graph exists).
    public var maxLevel: Int
    /// Bytes of the active generation's stored parts in LMDB (0 without an index).
    public var bytes: Int
    /// When the active generation was built; nil without an index.
    public var builtAt: Timestamp?
    /// How long building the active generation took; nil without an index.
    public var buildSeconds: Double?
}

// MARK: - Reading

/// A space's index as seen by one read transaction: the active graph, the pending changes beside it and the
/// vector table. Valid only inside the closure of ``CatalogReading/withVectorIndex(space:kind:_:)``.
///
/// Validated once when it opens (the header against the space and the catalog's id counter, the upper layers in
/// full); each chunk is checked for its exact size when a walk first resolves it, and walks check every count and
/// id they follow (see `GraphView`). Corruption found on the way fails the search with `corrupted`, naming the
/// space, generation, part and chunk (or node).
public final class VectorIndexSnapshot {
    /// The space as this snapshot sees it (its active generations included).
    public let space: EmbeddingSpace
    /// Whether this is the item or the user index of the space.
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
    private let handle: TransactionHandle
    private let schema: VectorSchema
    private var pendingNodes: [UInt32]?
    /// The first bad chunk a table met while resolving (it then reads as absent).
    let faults = IndexFaults()
    /// Aligned copies of misaligned values (the upper layers, chunks), kept as long as the snapshot.
    private let copies = AlignedCopies()
    /// The resident copy the graph is walked in, when it has one (kept as long as the snapshot).
    private var resident: ResidentGraph?
    /// With codes, the resident float32 copy the exact re-rank reads, when the graph is resident too.
    private(set) var residentVectors: ResidentVectors?
    /// Allowed sets at most this large are searched exactly instead of through the graph
    /// (default: an eighth of the graph, at least 2,048 and at most 32,768).
    public var exactSearchLimit: Int?
    /// When a filtered walk finds the filter accepting far fewer nodes around the query than overall (the allowed
    /// items lie away from the query: a correlated filter), the graph cannot be trusted and an exact scan answers
    /// instead, for allowed sets up to this size.
    public var exactFallbackLimit = 1 << 20

    init(
        space: EmbeddingSpace, kind: VectorKind, handle: TransactionHandle, schema: VectorSchema,
        meta: Database<StringCodec, BytesCodec>
    ) throws {
        self.space = space
        self.kind = kind
        self.handle = handle
        self.schema = schema
        let generation = space.generation(kind)
        let txn = ReadTransaction(viewing: handle)
        let ann = schema.ann
        let faults = faults, copies = copies
        /// A table whose chunks must hold exactly `elements` values of `T` each.
        func table<T: BitwiseCopyable>(
            _ generation: UInt32, _ part: VectorKeys.Part, count: Int, of type: T.Type, elements: Int
        ) -> ChunkTable {
            ChunkTable(count: count) { chunk in
                do {
                    let key = VectorKeys.ann(space.id, kind, generation, part, UInt32(chunk))
                    let found = try ann.withValue(key, in: ReadTransaction(viewing: handle)) { bytes in
                        try StoredArray.pointer(
                            bytes, as: T.self, .exactly(elements), copies: copies,
                            "index of space '\(space.name)' (\(kind)) generation \(generation): \(part) chunk \(chunk)")
                    }
                    return found.flatMap { $0.baseAddress.map(UnsafeRawPointer.init) }
                } catch {
                    faults.note(error as? RecDBError ?? RecDBError(.storage, "\(error)"))
                    return nil
                }
            }
        }
        let header = try generation == 0
            ? nil : ann.withValue(VectorKeys.ann(space.id, kind, generation, .header), in: txn) { try IndexHeader($0) }
        if generation != 0 && header == nil {
            throw RecDBError(.corrupted, "index generation \(generation) of space '\(space.name)' (\(kind)) has no header")
        }
        // Ids below the catalog's next id can carry a vector; bitmaps need one chunk per 16,384 of them.
        let nextID = try CatalogSchemaAccess.idLimit(kind == .items ? "next.item" : "next.user", handle: handle, meta: meta)
        try header?.validate(space: space, kind: kind, generation: generation, idLimit: nextID)
        self.header = header
        let idLimit = max(nextID, header?.nodeLimit ?? 0)
        let bitmapChunks = (idLimit >> BitmapChunks.chunkShift) + 1
        let bitmapBytes = BitmapChunks.bytesPerChunk
        let dirtyTable = table(0, .dirty, count: bitmapChunks, of: UInt8.self, elements: bitmapBytes)
        let tombstoneTable = table(generation, .tombstones, count: bitmapChunks, of: UInt8.self, elements: bitmapBytes)
        let presentTable = table(generation, .present, count: bitmapChunks, of: UInt8.self, elements: bitmapBytes)
        bitmapTables = [dirtyTable, tombstoneTable, presentTable]
        dirty = BitmapChunks(table: dirtyTable)
        tombstones = BitmapChunks(table: tombstoneTable)
        present = BitmapChunks(table: presentTable)
        func anyKey(_ prefix: [UInt8]) throws -> Bool {
            var found = false
            try ann.scanRaw(in: txn, prefix: prefix) { _, _ in
                found = true
                return .stop
            }
            return found
        }
        hasPending = try anyKey(VectorKeys.annPrefix(space.id, kind, 0))
        var tombstonePrefix = VectorKeys.annPrefix(space.id, kind, generation)
        tombstonePrefix.append(VectorKeys.Part.tombstones.rawValue)
        hasTombstones = try generation != 0 && anyKey(tombstonePrefix)
        guard let header else {
            graph = nil
            return
        }
        let upperKey = VectorKeys.ann(space.id, kind, generation, .upper)
        let upper = try ann.withValue(upperKey, in: txn) { blob in
            let seen = ValidatedBlobs.Key(
                space: space.id, kind: kind, generation: generation, address: UInt(bitPattern: blob.baseAddress),
                count: blob.count)
            let validated = schema.validatedBlobs.contains(seen)
            let upper = try UpperLayers(
                stored: blob, slots: header.upperSlots, nodeLimit: header.nodeLimit, maxLevel: header.maxLevel,
                copies: copies, validated: validated,
                "index of space '\(space.name)' (\(kind)) generation \(generation): upper layers")
            if !validated { schema.validatedBlobs.insert(seen) }
            return upper
        }
        guard let upper else {
            throw RecDBError(.corrupted, "index generation \(generation) of '\(space.name)' has no upper layers")
        }
        let chunk = 1 << header.chunkShift
        let chunks = (header.nodeLimit + chunk - 1) >> header.chunkShift
        var codes: ChunkTable?, quantizer: ScalarQuantizer?
        if header.codes == .int8 {
            let place = "index of space '\(space.name)' (\(kind)) generation \(generation): quantizer"
            quantizer = try ann.withValue(VectorKeys.ann(space.id, kind, generation, .quantizer), in: txn) {
                try ScalarQuantizer(stored: $0, dimension: space.dimension, place)
            }
            guard quantizer != nil else { throw RecDBError(.corrupted, "\(place) is missing") }
            codes = table(generation, .codes, count: chunks, of: Int8.self, elements: chunk * space.dimension)
        } else if header.codes == .float16 {
            codes = table(generation, .codes, count: chunks, of: UInt16.self, elements: chunk * space.dimension)
        }
        var vectors = table(
            generation, .vectors, count: header.codes == .float32 ? chunks : 0, of: Float.self,
            elements: chunk * space.dimension)
        var level0 = table(generation, .level0, count: chunks, of: UInt32.self, elements: chunk * header.level0Slots)
        // Large graphs are walked in a resident copy (huge pages) made once per generation and process.
        if let minimum = ResidentGraph.minimumNodes, header.nodeCount >= minimum, chunks > 0 {
            let data = codes ?? vectors
            let dataBytes = chunk * space.dimension * header.codes.bytesPerDimension
            let links = level0
            let made = schema.residentGraphs.image(space: space.id, kind: kind, generation: generation) {
                ResidentGraph(
                    chunks: chunks, links: links, linkChunkBytes: chunk * header.level0Slots * 4, data: data,
                    dataChunkBytes: dataBytes, faulted: { faults.first != nil })
            }
            if let made {
                resident = made
                level0 = made.linkTable()
                if codes != nil { codes = made.dataTable() } else { vectors = made.dataTable() }
            }
        }
        // Graphs over codes re-rank from a resident copy of the vectors (when it fits the cap).
        if header.codes != .float32, let cap = ResidentVectors.maximumBytes,
            header.nodeLimit <= cap / max(4 * space.dimension, 1)
        {
            let table = schema.vectors, prefix = VectorKeys.prefix(space.id, kind), dimension = space.dimension
            residentVectors = schema.residentGraphs.vectors(space: space.id, kind: kind, generation: generation) {
                ResidentVectors(nodeLimit: header.nodeLimit, dimension: dimension) { take in
                    try table.scanRaw(in: ReadTransaction(viewing: handle), prefix: prefix) { key, value in
                        guard key.count == 7 else { throw RecDBError(.corrupted, "vector key of \(key.count) bytes") }
                        let node = key.loadBigEndianUInt32(at: 3)
                        try StoredArray.with(value, as: Float.self, .exactly(dimension), "vector #\(node)") {
                            take(node, $0.baseAddress!)
                        }
                        return .next
                    }
                }
            }
        }
        graph = GraphView(
            dimension: space.dimension, metric: space.metric, level0Slots: header.level0Slots,
            upperSlots: header.upperSlots, chunkShift: header.chunkShift, vectors: vectors, level0: level0,
            codes: codes, codeKind: header.codes, quantizer: quantizer, upper: upper, entryPoint: header.entryPoint,
            maxLevel: header.maxLevel, nodeLimit: header.nodeLimit)
    }

    /// Throws the first corruption met so far: a bad chunk resolved by any walk of this snapshot, or a broken link
    /// list that the last walk with `context` noted.
    func checkFaults(_ context: SearchContext? = nil) throws {
        if let error = faults.first { throw error }
        if let fault = context?.linkFault {
            context?.linkFault = nil
            throw corruption(fault)
        }
    }

    /// The error for a broken list: which space, generation, part, chunk and node.
    func corruption(_ fault: LinkFault) -> RecDBError {
        let generation = space.generation(kind)
        var place = "index of space '\(space.name)' (\(kind)) generation \(generation): "
        if fault.level == 0, let graph {
            place += "level0 chunk \(Int(fault.node) >> graph.chunkShift), "
        } else {
            place += "upper layers, "
        }
        place += "node \(fault.node) on level \(fault.level)"
        if let count = fault.count {
            let capacity = fault.level == 0 ? (graph?.level0Capacity ?? 0) : (graph?.upperCapacity ?? 0)
            return RecDBError(.corrupted, "\(place) has \(count) links; a list holds at most \(capacity)")
        }
        return RecDBError(
            .corrupted, "\(place) links to \(fault.neighbour ?? 0), past the node limit \(graph?.nodeLimit ?? 0)")
    }

    /// Nodes whose vectors changed since the graph was built (new, updated or removed).
    var pending: [UInt32] {
        if let pendingNodes { return pendingNodes }
        var nodes: [UInt32] = []
        try? schema.dirty.scanRaw(in: ReadTransaction(viewing: handle), prefix: VectorKeys.prefix(space.id, kind)) { key, _ in
            if key.count == 7 { nodes.append(key.loadBigEndianUInt32(at: 3)) }
            return .next
        }
        pendingNodes = nodes
        return nodes
    }

    /// The stored vector of a node (from the vector table), or nil; a value that is not `dimension` floats throws
    /// `corrupted`. Read in place when aligned, else from a copy.
    func storedVector<R>(_ node: UInt32, _ body: (UnsafePointer<Float>) -> R) throws -> R? {
        try schema.vectors.withArray(
            VectorKeys.node(space.id, kind, node), as: Float.self, .exactly(space.dimension),
            in: ReadTransaction(viewing: handle), "vector of \(kind == .items ? "item" : "user") #\(node) in '\(space.name)'"
        ) { body($0.baseAddress!) }
    }

    /// The current vector of a node: from the graph when it keeps vectors and the node is there and unchanged, else
    /// from the vector table.
    @inline(__always)
    func withVector<R>(_ node: UInt32, _ body: (UnsafePointer<Float>) -> R) throws -> R? {
        if let graph, graph.codes == nil, !dirty.contains(node) {
            guard present.contains(node), !tombstones.contains(node), let vector = graph.vector(node) else { return nil }
            return body(vector)
        }
        return try storedVector(node, body)
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
    /// Throws `corrupted` when the walk or the scan met a damaged part of the index.
    ///
    /// With int8 codes (``VectorCodes/int8``) the walk keeps its best `rerank` candidates (default
    /// ``defaultRerank(k:)``; at least `k`, at most `ef`) and orders them by their exact distances from the full-precision vectors.
    public func search(
        _ query: [Float], k: Int, ef: Int? = nil, rerank: Int? = nil, allowed: AllowedSet? = nil,
        context: SearchContextBox? = nil
    ) throws -> [VectorMatch] {
        let prepared = try prepare(query)
        guard k > 0 else { return [] }
        if let allowed, allowed.count == 0 { return [] }
        func run(_ scratch: SearchContext) throws -> [VectorMatch] {
            try prepared.withUnsafeBufferPointer { q in
                try searchPrepared(
                    q.baseAddress!, k: k, ef: ef ?? space.parameters.ef, rerank: rerank, allowed: allowed,
                    context: scratch)
            }
        }
        if let context { return try run(context.context) }
        return try ThreadSearchContext.with(run)
    }

    /// The re-rank depth a search over int8 codes uses when the query names none: `2 × k`, at least 20.
    public static func defaultRerank(k: Int) -> Int { max(2 * k, 20) }

    func searchPrepared(
        _ query: UnsafePointer<Float>, k: Int, ef: Int, rerank: Int? = nil, allowed: AllowedSet?, context: SearchContext
    ) throws -> [VectorMatch] {
        let metric = space.metric, dimension = space.dimension
        guard let graph, let header else { return try exactScan(query, k: k, allowed: allowed) }
        let exactLimit = exactSearchLimit ?? max(2048, min(header.nodeCount / 8, 32768))
        if let allowed, allowed.count <= exactLimit {
            return try graph.codes == nil
                ? exactScan(query, k: k, allowed: allowed)
                : scanCodes(query, k: k, rerank: rerank, allowed: allowed, graph: graph, context: context)
        }
        let share = allowed.map { min(1, Double($0.count) / Double(max(header.nodeCount, 1))) } ?? 1
        let tuning = FilterTuning.current
        let widened = share >= tuning.widenBelow ? ef : min(4096, Int(Double(ef) * pow(1 / share, tuning.widenPower)))
        var excluded = NodeFilter()
        if hasPending { excluded.excludedA = dirty }
        if hasTombstones { excluded.excludedB = tombstones }
        var found: [Neighbor]
        // Over codes the walk hands its best `depth` candidates (at most its `ef`) to the exact re-rank.
        let depth = graph.codes == nil ? k : max(k, min(rerank ?? Self.defaultRerank(k: k), widened))
        if let allowed {
            found = allowed.withFilter(excluding: excluded) { filter in
                graph.search(
                    query, k: depth, ef: widened, filter: filter, twoHop: share < tuning.subgraphBelow,
                    context: context)
            }
            try checkFaults(context)
            let localShare = Double(context.scoredAccepted) / Double(max(context.scoredTotal, 1))
            if localShare < share * tuning.fallbackBelow && allowed.count <= exactFallbackLimit {
                return try graph.codes == nil
                    ? exactScan(query, k: k, allowed: allowed)
                    : scanCodes(query, k: k, rerank: rerank, allowed: allowed, graph: graph, context: context)
            }
        } else {
            let filter: NodeFilter? = hasPending || hasTombstones ? excluded : nil
            found = graph.search(query, k: depth, ef: widened, filter: filter, context: context)
            try checkFaults(context)
        }
        if graph.codes != nil { found = try rerankExactly(query, found, k: k, context: context) }
        let pending = self.pending
        if !pending.isEmpty {
            for node in pending where allowed?.contains(node) ?? true {
                if let d = try storedVector(node, { metric.distance(query, $0, dimension) }) {
                    found.append(Neighbor(distance: d, node: node))
                }
            }
            found.sort()
            found = Array(found.prefix(k))
        }
        return found.map { VectorMatch(node: $0.node, distance: $0.distance, score: metric.score(fromDistance: $0.distance)) }
    }

    /// Exact top-k by SIMD scan: over `allowed`, or over every stored vector.
    func exactScan(_ query: UnsafePointer<Float>, k: Int, allowed: AllowedSet?) throws -> [VectorMatch] {
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
        if let allowed, let graph, graph.codes == nil {
            // Word by word: allowed ∧ in the graph ∧ not changed ∧ not deleted, read from the mapped chunks;
            // changed nodes come from the vector table.
            let chunkShift = graph.chunkShift, chunkMask = (1 << chunkShift) - 1
            let kernel = metric.kernel
            try allowed.words.withUnsafeBufferPointer { words in
                for w in 0..<words.count where words[w] != 0 {
                    let base = w << 6
                    var eligible = words[w] & present.word(at: base) & ~tombstones.word(at: base)
                    let changed = words[w] & dirty.word(at: base)
                    eligible &= ~changed
                    if eligible != 0, let chunk = graph.vectors[base >> chunkShift] {
                        // A chunk the table validated (exact size, aligned or copied) and bound to Float.
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
                        if let d = try storedVector(node, { metric.distance(query, $0, dimension) }) { offer(node, d) }
                    }
                }
            }
        } else if let allowed {
            try allowed.forEach { node in
                if let d = try withVector(node, { metric.distance(query, $0, dimension) }) { offer(node, d) }
            }
        } else {
            let what = "vector in '\(space.name)'"
            try schema.vectors.scanRaw(in: ReadTransaction(viewing: handle), prefix: VectorKeys.prefix(space.id, kind)) {
                key, value in
                guard key.count == 7 else { throw RecDBError(.corrupted, "\(what) has a key of \(key.count) bytes") }
                let node = key.loadBigEndianUInt32(at: 3)
                let d = try StoredArray.with(value, as: Float.self, .exactly(dimension), "\(what) #\(node)") {
                    metric.distance(query, $0.baseAddress!, dimension)
                }
                offer(node, d)
                return .next
            }
        }
        try checkFaults()
        var found = Array(heap.elements)
        found.sort()
        return found.map { VectorMatch(node: $0.node, distance: $0.distance, score: metric.score(fromDistance: $0.distance)) }
    }
}

/// The first corruption that chunk tables met while resolving (a walk cannot throw; the search reports it after).
final class IndexFaults {
    private(set) var first: RecDBError?

    @inline(never)
    func note(_ error: RecDBError) {
        if first == nil { first = error }
    }
}

/// The search context of each thread, for searches that bring none: the thread's queries reuse it, so its visited
/// set (one stamp per node) is not allocated and cleared per query, and no lock is taken to find it. It is freed
/// when the thread exits. A search nested in another on the same thread gets a fresh one.
enum ThreadSearchContext {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<SearchContext>.fromOpaque(raw).release() }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// Calls `body` with this thread's context.
    static func with<R>(_ body: (SearchContext) throws -> R) rethrows -> R {
        let context: SearchContext
        if let raw = pthread_getspecific(key) {
            context = Unmanaged<SearchContext>.fromOpaque(raw).takeUnretainedValue()
        } else {
            context = SearchContext()
            pthread_setspecific(key, Unmanaged.passRetained(context).toOpaque())
        }
        if context.borrowed { return try body(SearchContext()) }
        context.borrowed = true
        defer { context.borrowed = false }
        return try body(context)
    }
}

/// Search scratch memory that a thread keeps across queries (avoids allocating per query). Not `Sendable`: it
/// belongs to the one thread that searches with it.
public final class SearchContextBox {
    let context = SearchContext()
    /// Creates empty scratch memory; it grows on the first searches and is reused after. Use one box per thread: it is
    /// not safe to share between concurrent searches.
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

    /// The `k` items (or users) nearest to `query` in `space`, optionally among `allowed` only; `rerank` is the
    /// exact re-rank depth of spaces with int8 codes (see ``VectorIndexSnapshot/search(_:k:ef:rerank:allowed:context:)``).
    public func nearest(
        in space: String, to query: [Float], k: Int, ef: Int? = nil, rerank: Int? = nil, kind: VectorKind = .items,
        allowed: AllowedSet? = nil
    ) throws -> [VectorMatch] {
        try withVectorIndex(space: space, kind: kind) { try $0.search(query, k: k, ef: ef, rerank: rerank, allowed: allowed) }
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
