import Foundation
import Synchronization

// Building an index generation: the graph of a space's vectors written beside the active one, then switched to.
// Reading it is `VectorIndex.swift`.
extension RecDatabase {
    /// Chunks hold `1 << indexChunkShift` nodes (4,096): a query resolves each chunk once per read transaction.
    static let indexChunkShift = 12

    /// The share of tombstones (deleted nodes still in the graph) above which linking rebuilds from scratch.
    public static let tombstoneRebuildRatio = 0.1

    /// While bound to `true` (`RecDatabase.$reproducibleIndexBuilds.withValue(true) { … }`), index builds on this
    /// thread link their nodes one at a time, in node order, whatever `threads` they are given: the same vectors and
    /// seed then give the same graph byte for byte. Parallel workers interleave their insertions by timing, so two
    /// builds of the same vectors differ in a few links, and an approximate search's tail with them. The nodes of a
    /// replicated cluster build under it (each node's refresh of the log's `REFRESH`), so every node answers alike.
    @TaskLocal public static var reproducibleIndexBuilds = false

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
                guard Int(node) < builder.nodeLimit else {
                    throw RecDBError(.corrupted, "vector of node \(node) in '\(name)' is past the node limit \(builder.nodeLimit)")
                }
                try StoredArray.with(value, as: Float.self, .exactly(space.dimension), "vector of node \(node) in '\(name)'") {
                    builder.vector(node).update(from: $0.baseAddress!, count: space.dimension)
                }
            }
            return try r.withVectorIndex(space: name, kind: kind) { index in
                // Link into the current graph when there is one and it is in good shape.
                linking: do {
                    // Graphs over codes keep no vectors to link against: they are rebuilt in full.
                    guard !full, let graph = index.graph, let header = index.header, header.chunkShift == chunkShift,
                        header.codes == .float32, space.parameters.codes == .float32,
                        header.level0Slots == 1 + space.parameters.m0, header.upperSlots == 1 + space.parameters.m
                    else { break linking }
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
                    guard Double(deadCount) <= Self.tombstoneRebuildRatio * Double(max(header.nodeCount, 1)) else { break linking }
                    let limit = max(header.nodeLimit, any ? Int(last) + 1 : 0)
                    let builder = HNSWBuilder(
                        dimension: space.dimension, metric: space.metric, parameters: space.parameters, nodeLimit: limit,
                        chunkShift: chunkShift)
                    try builder.load(graph, present: index.present)
                    try index.checkFaults()
                    for node in changed {
                        try vectorSchema.vectors.withValue(VectorKeys.node(space.id, kind, node), in: r.txn) { value in
                            try copyVector(node, value, into: builder)
                        }
                    }
                    let tombstones = Array(Set(dead + removed).subtracting(changed)).sorted()
                    return (space, builder, changed, next - 1, tombstones)
                }
                // Else build from every vector: the table's, and those the active generation holds alone.
                var held: [UInt32] = []
                index.forEachHeldVector { held.append($0) }
                let limit = max(any ? Int(last) + 1 : 0, held.last.map { Int($0) + 1 } ?? 0)
                let builder = HNSWBuilder(
                    dimension: space.dimension, metric: space.metric, parameters: space.parameters, nodeLimit: limit,
                    chunkShift: chunkShift)
                var nodes: [UInt32] = []
                var inTable = [Bool](repeating: false, count: limit)
                try vectorSchema.vectors.scanRaw(in: r.txn, prefix: prefix) { key, value in
                    let node = key.loadBigEndianUInt32(at: 3)
                    try copyVector(node, value, into: builder)
                    inTable[Int(node)] = true
                    nodes.append(node)
                    return .next
                }
                if let graph = index.graph {
                    for node in held where !inTable[Int(node)] {
                        guard let vector = graph.vector(node) else { continue }
                        builder.vector(node).update(from: vector, count: space.dimension)
                        nodes.append(node)
                    }
                    try index.checkFaults()
                    nodes.sort()
                }
                return (space, builder, nodes, next - 1, [])
            }
        }
        // 2. Build in memory.
        let total = nodes.count
        let workers = Self.reproducibleIndexBuilds ? 1 : threads
        builder.insert(nodes, threads: workers) { done in progress?(Double(done) / Double(max(total, 1))) }
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
        // With int8 or float16 codes the graph keeps codes, not vectors (those stay in the vector table only); a
        // float32 generation keeps the vectors, and the switch deletes the table's copies.
        let codes = space.parameters.codes
        var quantizer: ScalarQuantizer?
        var codeBuffer: UnsafeMutableRawPointer?
        defer { codeBuffer?.deallocate() }
        let codeCount = builder.paddedNodes * space.dimension
        switch codes {
        case .float32: break
        case .int8:
            let fitted = ScalarQuantizer(fitting: builder.vectors, nodes: graphNodes, dimension: space.dimension)
            let buffer = UnsafeMutablePointer<Int8>.allocate(capacity: codeCount)
            buffer.initialize(repeating: 0, count: codeCount)
            for node in graphNodes {
                fitted.encode(builder.vector(node), into: buffer + Int(node) * space.dimension)
            }
            quantizer = fitted
            codeBuffer = UnsafeMutableRawPointer(buffer)
        case .float16:
            let buffer = UnsafeMutablePointer<UInt16>.allocate(capacity: codeCount)
            buffer.initialize(repeating: 0, count: codeCount)
            for node in graphNodes {
                let row = buffer + Int(node) * space.dimension
                HalfCodes.encode(builder.vector(node), dimension: space.dimension, into: row)
            }
            codeBuffer = UnsafeMutableRawPointer(buffer)
        }
        // 3. Write the chunks of the new generation, several transactions of bounded size.
        var bytes = 0
        let vectorBytes = chunk * space.dimension * codes.bytesPerDimension, linkBytes = chunk * builder.level0Slots * 4
        let chunksPerTransaction = max(1, (64 << 20) / (vectorBytes + linkBytes))
        var first = 0
        while first < chunks {
            let last = min(chunks, first + chunksPerTransaction)
            try environment.write { txn in
                for c in first..<last where hasNodes[c] {
                    let part: VectorKeys.Part = codes == .float32 ? .vectors : .codes
                    let vectorKey = VectorKeys.ann(space.id, kind, generation, part, UInt32(c))
                    let linkKey = VectorKeys.ann(space.id, kind, generation, .level0, UInt32(c))
                    let vectorStart: UnsafeRawPointer =
                        if let codeBuffer { UnsafeRawPointer(codeBuffer + c * vectorBytes) } else {
                            UnsafeRawPointer(builder.vectors + c * chunk * space.dimension)
                        }
                    _ = try vectorKey.withUnsafeBytes { key in
                        try vectorSchema.ann.putRaw(
                            key: key, value: UnsafeRawBufferPointer(start: vectorStart, count: vectorBytes), in: &txn)
                    }
                    _ = try linkKey.withUnsafeBytes { key in
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
            changeSequence: changeSequence, codes: codes)
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            guard var current = try w.space(name), current.id == space.id else {
                throw RecDBError(.notFound, "embedding space '\(name)' was dropped during the build")
            }
            guard current.generation(kind) == space.generation(kind) else {
                throw RecDBError(.alreadyExists, "another build of '\(name)' finished first; this one is discarded")
            }
            try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .header), header.bytes, in: &txn)
            try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .upper), upperBlob, in: &txn)
            if let quantizer {
                try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, generation, .quantizer), quantizer.bytes, in: &txn)
            }
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
        // A float32 generation is the store of the vectors it holds: the table keeps only the others.
        if codes == .float32 { try dropTableCopies(space: name, kind: kind) }
        bytes += upperBlob.count + (quantizer?.bytes.count ?? 0)
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
        try vectorSchema.dirty.scanRaw(in: ReadTransaction(viewing: txn.handle), prefix: VectorKeys.prefix(space.id, kind)) {
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
