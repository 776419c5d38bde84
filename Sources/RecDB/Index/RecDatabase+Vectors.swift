import Foundation

extension RecDatabase {
    /// Creates an embedding space. Its vectors are searched exactly until
    /// ``buildIndex(space:kind:threads:full:progress:)`` builds an HNSW graph.
    @discardableResult
    public func createSpace(
        _ name: String, dimension: Int, metric: Metric, parameters: HNSWParameters = HNSWParameters()
    ) throws -> EmbeddingSpace {
        try createSpace(name, dimension: dimension, metric: metric, parameters: parameters, forModel: false)
    }

    /// Spaces of model generations are named `MODEL@GENERATION`; `@` is reserved for them.
    func createSpace(
        _ name: String, dimension: Int, metric: Metric, parameters: HNSWParameters = HNSWParameters(), forModel: Bool
    ) throws -> EmbeddingSpace {
        let allowed = forModel ? "_-.@" : "_-."
        guard !name.isEmpty, name.utf8.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || allowed.contains($0) })
        else {
            throw RecDBError(.invalidArgument, "space names have 1 to 64 letters, digits, '_', '-' or '.': '\(name)'")
        }
        guard (1...EmbeddingSpace.maxDimension).contains(dimension) else {
            throw RecDBError(.invalidArgument, "dimension must be 1…\(EmbeddingSpace.maxDimension), not \(dimension)")
        }
        try parameters.validate()
        return try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            if try vectorSchema.spaces.contains(name, in: txn) {
                throw RecDBError(.alreadyExists, "embedding space '\(name)' exists")
            }
            let id = UInt16(try w.allocateID("next.space", startingAt: 1))
            let space = EmbeddingSpace(
                name: name, id: id, dimension: dimension, metric: metric, parameters: parameters, generations: [0, 0])
            try vectorSchema.spaces.put(name, space.bytes, in: &txn)
            return space
        }
    }

    /// Removes a space with its vectors and indexes.
    public func dropSpace(_ name: String) throws {
        guard try dropSpace(name, if: { _ in true }) else {
            throw RecDBError(.notFound, "unknown embedding space '\(name)'")
        }
    }

    /// Drops space `name` when it exists and `condition` holds, both decided in the write transaction that drops it
    /// (so that a clean-up decided on an older snapshot never drops what a job started meanwhile). Returns whether
    /// it dropped the space.
    @discardableResult
    func dropSpace(_ name: String, if condition: (borrowing CatalogWriter) throws -> Bool) throws -> Bool {
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            guard let space = try w.space(name), try condition(w) else { return false }
            for kind in VectorKind.allCases {
                for database in [vectorSchema.vectors.name, vectorSchema.ann.name] {
                    let table = database == vectorSchema.vectors.name ? vectorSchema.vectors : vectorSchema.ann
                    try deleteRange(table, prefix: VectorKeys.prefix(space.id, kind), in: &txn)
                }
                try deleteRange(vectorSchema.dirty, prefix: VectorKeys.prefix(space.id, kind), in: &txn)
            }
            try vectorSchema.spaces.delete(name, in: &txn)
            return true
        }
    }

    /// Every embedding space.
    public func spaces() throws -> [EmbeddingSpace] {
        try read { r in
            var result: [EmbeddingSpace] = []
            try vectorSchema.spaces.scanRaw(in: ReadTransaction(viewing: r.handle)) { key, value in
                result.append(try EmbeddingSpace(name: try StringCodec.decode(key), value))
                return .next
            }
            return result
        }
    }

    func deleteRange<V: ByteCodec>(
        _ table: Database<BytesCodec, V>, prefix: [UInt8], in txn: inout WriteTransaction
    ) throws {
        var keys: [[UInt8]] = []
        try table.scanRaw(in: ReadTransaction(viewing: txn.handle), prefix: prefix) { key, _ in
            keys.append(Array(key))
            return .next
        }
        for key in keys { try table.delete(key, in: &txn) }
    }

    /// Before the first build of a kind takes its snapshot: from here on vector changes are recorded as pending
    /// (as they are once an index exists), so those committed while the build runs stay visible after it switches.
    func markFirstBuild(space name: String, kind: VectorKind) throws {
        try write { w in
            guard let space = try w.space(name), space.generation(kind) == 0 else { return }
            var txn = WriteTransaction(continuing: w.handle)
            try vectorSchema.ann.put(VectorKeys.ann(space.id, kind, 0, .building), [1], in: &txn)
        }
    }

    /// Removes index generations that are not active: what a build interrupted by a crash left behind.
    func removeAbandonedGenerations() throws {
        // Look in a read transaction first: opening a database must not wait for another process's writer, and
        // must not touch a generation that a live build in another process is still writing.
        let stale = try read { r -> [(space: String, kind: VectorKind, key: [UInt8])] in
            var stale: [(space: String, kind: VectorKind, key: [UInt8])] = []
            try vectorSchema.spaces.scanRaw(in: r.txn) { key, value in
                let space = try EmbeddingSpace(name: try StringCodec.decode(key), value)
                for kind in VectorKind.allCases where !(try isJobRunning(Self.indexJob(space.name, kind), in: r.txn)) {
                    let active = space.generation(kind)
                    try vectorSchema.ann.scanRaw(in: r.txn, prefix: VectorKeys.prefix(space.id, kind)) { key, _ in
                        let generation = key.loadBigEndianUInt32(at: 3)
                        if generation != 0 && generation != active { stale.append((space.name, kind, Array(key))) }
                        return .next
                    }
                }
                return .next
            }
            return stale
        }
        guard !stale.isEmpty else { return }
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            for (name, kind, key) in stale {
                // Decided again here: a build may have started or switched since the snapshot.
                guard let space = try w.space(name), key.starts(with: VectorKeys.prefix(space.id, kind)),
                    key.withUnsafeBytes({ $0.loadBigEndianUInt32(at: 3) }) != space.generation(kind),
                    !(try isJobRunning(Self.indexJob(name, kind), in: w.txn))
                else { continue }
                try vectorSchema.ann.delete(key, in: &txn)
            }
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    var vectorSchema: VectorSchema { database.vectorSchema }

    /// An embedding space by name, or nil.
    public func space(_ name: String) throws -> EmbeddingSpace? {
        try vectorSchema.spaces.withValue(name, in: txn) { try EmbeddingSpace(name: name, $0) }
    }

    func requireSpace(_ name: String) throws -> EmbeddingSpace {
        guard let space = try space(name) else {
            throw RecDBError(.notFound, "unknown embedding space '\(name)' (create it with `recctl vectors create`)")
        }
        return space
    }

    /// The stored vector of an item or user, or nil.
    public func vector(space name: String, _ kind: VectorKind = .items, id: String) throws -> [Float]? {
        let space = try requireSpace(name)
        guard let node = kind == .items ? try itemID(for: id) : try userID(for: id) else {
            throw RecDBError(.notFound, "unknown \(kind == .items ? "item" : "user") '\(id)'")
        }
        return try storedVector(of: node, kind, in: space)
    }

}

extension CatalogWriter {
    mutating func allocateID(_ name: String, startingAt first: UInt64) throws -> UInt64 {
        try allocate(name, startingAt: first)
    }

    /// Stores the vector of an item (in the same transaction as any change to the item). The item must exist.
    /// The vector is searchable as soon as the transaction commits: by exact scan until the index takes it in.
    public mutating func setVector(_ values: [Float], space: String, item id: String) throws {
        guard let node = try itemID(for: id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
        try setVector(values, space: try requireSpace(space), kind: .items, node: node, owner: "item '\(id)'")
    }

    /// Stores the vector of a user. The user must exist.
    public mutating func setVector(_ values: [Float], space: String, user id: String) throws {
        guard let node = try userID(for: id) else { throw RecDBError(.notFound, "unknown user '\(id)'") }
        try setVector(values, space: try requireSpace(space), kind: .users, node: node, owner: "user '\(id)'")
    }

    /// Removes the vector of an item or user; returns whether there was one.
    @discardableResult
    public mutating func removeVector(space name: String, _ kind: VectorKind = .items, id: String) throws -> Bool {
        let space = try requireSpace(name)
        guard let node = kind == .items ? try itemID(for: id) : try userID(for: id) else { return false }
        return try removeVector(space: space, kind: kind, node: node)
    }

    mutating func removeVector(space: EmbeddingSpace, kind: VectorKind, node: UInt32) throws -> Bool {
        var txn = WriteTransaction(continuing: handle)
        // Checked before the delete: a vector may live only in the active generation (see `VectorStore.swift`).
        guard try hasVector(node, kind, in: space) else { return false }
        _ = try vectorSchema.vectors.delete(VectorKeys.node(space.id, kind, node), in: &txn)
        try markDirty(space: space, kind: kind, node: node)
        return true
    }

    func validate(_ values: UnsafeBufferPointer<Float>, space: EmbeddingSpace, owner: String) throws {
        guard values.count == space.dimension else {
            throw RecDBError(
                .invalidArgument,
                "vector of \(owner) has \(values.count) dimensions; space '\(space.name)' has \(space.dimension)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw RecDBError(.invalidArgument, "vector of \(owner) has \(values[bad]) at position \(bad); values must be finite")
        }
    }

    mutating func setVector(_ values: [Float], space: EmbeddingSpace, kind: VectorKind, node: UInt32, owner: String)
        throws
    {
        var vector = values
        try vector.withUnsafeBufferPointer { try validate($0, space: space, owner: owner) }
        if space.metric == .cosine {
            let ok = vector.withUnsafeMutableBufferPointer { VectorKernels.normalize($0.baseAddress!, space.dimension) }
            guard ok else { throw RecDBError(.invalidArgument, "vector of \(owner) is zero; cosine needs a direction") }
        }
        var txn = WriteTransaction(continuing: handle)
        try vector.withUnsafeBytes { bytes in
            try VectorKeys.node(space.id, kind, node).withUnsafeBytes { key in
                // Nodes are numbered in order of arrival, so new vectors come in key order: appended, they fill
                // their pages (two 384-dimension vectors to a page, not one).
                try vectorSchema.vectors.putRawInKeyOrder(key: key, value: bytes, in: &txn)
            }
        }
        try markDirty(space: space, kind: kind, node: node)
    }

    /// Records that a node's vector changed after the active index was built, so searches take it from the
    /// vector table (exact scan) instead of the graph until the index links it. Before the first index there is
    /// nothing to record, except while the first build runs: a change after its snapshot must stay pending.
    mutating func markDirty(space: EmbeddingSpace, kind: VectorKind, node: UInt32) throws {
        var txn = WriteTransaction(continuing: handle)
        guard
            try space.generation(kind) != 0
                || vectorSchema.ann.contains(VectorKeys.ann(space.id, kind, 0, .building), in: txn)
        else { return }
        let sequence = try allocate("next.vector_change", startingAt: 1)
        try vectorSchema.dirty.put(VectorKeys.node(space.id, kind, node), sequence, in: &txn)
        let chunk = UInt32(Int(node) >> BitmapChunks.chunkShift)
        let key = VectorKeys.ann(space.id, kind, 0, .dirty, chunk)
        var bits = try vectorSchema.ann.get(key, in: txn) ?? [UInt8](repeating: 0, count: BitmapChunks.bytesPerChunk)
        let bit = Int(node) & (BitmapChunks.bitsPerChunk - 1)
        bits[bit >> 3] |= 1 << UInt8(bit & 7)
        try vectorSchema.ann.put(key, bits, in: &txn)
    }

    /// Removes every vector of an item or user being deleted.
    mutating func removeVectors(of kind: VectorKind, node: UInt32) throws {
        var spaces: [EmbeddingSpace] = []
        try vectorSchema.spaces.scanRaw(in: txn) { key, value in
            spaces.append(try EmbeddingSpace(name: try StringCodec.decode(key), value))
            return .next
        }
        for space in spaces { _ = try removeVector(space: space, kind: kind, node: node) }
    }
}
