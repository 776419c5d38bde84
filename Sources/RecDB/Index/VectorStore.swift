// Where a node's vector lives, so that each vector is stored once.
//
// A vector is written to the `vectors` table. A build of a float32 space copies the vectors it takes in into the
// new generation's chunks (part 1, which its walks read in place) and deletes them from the table in the
// transaction that switches to it. The table then holds only what the active generation does not: new and changed
// vectors (pending) and, in int8 and float16 spaces, every vector (their graphs keep codes, and the exact re-rank
// reads the table). Reading a node's vector looks in the table first, then in the active float32 generation when
// the node is there, not deleted and not changed since. Databases of format version 2 kept both copies; both readings agree
// on them, and their next build drops the table's copy.
extension CatalogReading where Self: ~Copyable {
    /// The stored vector of an internal id, or nil: exactly `space.dimension` floats, else `corrupted`. From the
    /// vector table, else from the active generation (see the note at the top of `VectorStore.swift`).
    func storedVector(of node: UInt32, _ kind: VectorKind, in space: EmbeddingSpace) throws -> [Float]? {
        if let vector = try tableVector(of: node, kind, in: space) { return vector }
        return try generationVector(of: node, kind, in: space)
    }

    /// Whether the node has a vector in the space (in the table or in the active generation).
    func hasVector(_ node: UInt32, _ kind: VectorKind, in space: EmbeddingSpace) throws -> Bool {
        if try vectorSchema.vectors.contains(VectorKeys.node(space.id, kind, node), in: txn) { return true }
        guard let (generation, header) = try vectorGeneration(kind, of: space) else { return false }
        return try generationHolds(node, kind, in: space, generation: generation, header: header)
    }

    /// The node's vector as the `vectors` table holds it, or nil.
    func tableVector(of node: UInt32, _ kind: VectorKind, in space: EmbeddingSpace) throws -> [Float]? {
        try vectorSchema.vectors.withArray(
            VectorKeys.node(space.id, kind, node), as: Float.self, .exactly(space.dimension), in: txn,
            "vector of \(kind == .items ? "item" : "user") #\(node) in '\(space.name)'"
        ) { Array($0) }
    }

    /// The active generation of `kind` with its header when it keeps the vectors (float32 codes), else nil.
    func vectorGeneration(_ kind: VectorKind, of space: EmbeddingSpace) throws -> (UInt32, IndexHeader)? {
        let generation = space.generation(kind)
        guard generation != 0,
            let header = try vectorSchema.ann.withValue(
                VectorKeys.ann(space.id, kind, generation, .header), in: txn, { try IndexHeader($0) }),
            header.codes == .float32
        else { return nil }
        return (generation, header)
    }

    /// Whether the active generation holds the node's current vector: the node is present, not deleted and not
    /// changed since the build.
    func generationHolds(
        _ node: UInt32, _ kind: VectorKind, in space: EmbeddingSpace, generation: UInt32, header: IndexHeader
    ) throws -> Bool {
        guard Int(node) < header.nodeLimit else { return false }
        func bit(_ generation: UInt32, _ part: VectorKeys.Part) throws -> Bool {
            let index = Int(node)
            let bit = index & (BitmapChunks.bitsPerChunk - 1)
            let key = VectorKeys.ann(space.id, kind, generation, part, UInt32(index >> BitmapChunks.chunkShift))
            return try vectorSchema.ann.withValue(key, in: txn) { bytes in
                bytes.count == BitmapChunks.bytesPerChunk && bytes[bit >> 3] & (1 << UInt8(bit & 7)) != 0
            } ?? false
        }
        return try bit(generation, .present) && !bit(generation, .tombstones) && !bit(0, .dirty)
    }

    /// The node's vector from the active float32 generation's chunk, when the generation holds it.
    private func generationVector(of node: UInt32, _ kind: VectorKind, in space: EmbeddingSpace) throws -> [Float]? {
        guard let (generation, header) = try vectorGeneration(kind, of: space),
            try generationHolds(node, kind, in: space, generation: generation, header: header)
        else { return nil }
        let chunk = 1 << header.chunkShift, dimension = space.dimension
        let key = VectorKeys.ann(space.id, kind, generation, .vectors, UInt32(Int(node) >> header.chunkShift))
        let place = "index of space '\(space.name)' (\(kind)) generation \(generation): vectors of node \(node)"
        let vector = try vectorSchema.ann.withValue(key, in: txn) { bytes -> [Float] in
            guard bytes.count == chunk * dimension * 4 else {
                throw RecDBError(.corrupted, "\(place): chunk of \(bytes.count) bytes, not \(chunk * dimension * 4)")
            }
            let offset = (Int(node) & (chunk - 1)) * dimension * 4
            return (0..<dimension).map { bytes.loadUnaligned(fromByteOffset: offset + 4 * $0, as: Float.self) }
        }
        guard let vector else { throw RecDBError(.corrupted, "\(place): the chunk is missing") }
        return vector
    }

    /// How many vectors of `kind` a space holds.
    public func vectorCount(space name: String, _ kind: VectorKind = .items) throws -> Int {
        let space = try requireSpace(name)
        return try withVectorIndex(space: name, kind: kind) { index in
            var count = 0
            let graphKeeps = index.header?.codes == .float32
            try vectorSchema.vectors.scanRaw(in: txn, prefix: VectorKeys.prefix(space.id, kind)) { key, _ in
                // A copy that a version-2 build left beside the generation's is counted there.
                if !(graphKeeps && key.count == 7 && index.holdsCurrentVector(key.loadBigEndianUInt32(at: 3))) {
                    count += 1
                }
                return .next
            }
            if graphKeeps { index.forEachHeldVector { _ in count += 1 } }
            return count
        }
    }
}

extension VectorIndexSnapshot {
    /// Whether the active graph holds `node`'s current vector: present, not deleted, not changed since the build
    /// (and the graph keeps vectors, not only codes).
    func holdsCurrentVector(_ node: UInt32) -> Bool {
        guard let header, header.codes == .float32, Int(node) < header.nodeLimit else { return false }
        return present.contains(node) && !tombstones.contains(node) && !dirty.contains(node)
    }

    /// Calls `body` with every node whose current vector the active float32 graph holds, in id order.
    func forEachHeldVector(_ body: (UInt32) throws -> Void) rethrows {
        guard let header, header.codes == .float32 else { return }
        var base = 0
        while base < header.nodeLimit {
            var bits = present.word(at: base) & ~tombstones.word(at: base) & ~dirty.word(at: base)
            while bits != 0 {
                let node = base + bits.trailingZeroBitCount
                bits &= bits - 1
                if node < header.nodeLimit { try body(UInt32(node)) }
            }
            base += 64
        }
    }
}

extension RecDatabase {
    /// After a float32 space switched to a new generation: deletes the table's copies of the vectors the active
    /// generation holds (present, not deleted, not changed since: changed ones stay pending in the table), in write
    /// transactions of at most `batch` deletions each, so that a large first build neither holds the writer long
    /// nor overflows one transaction. Each transaction decides again on what it sees, and until the last one the
    /// copies are harmless (the table and the generation agree; a crash leaves them for the next build).
    func dropTableCopies(space name: String, kind: VectorKind, batch: Int = 16_384) throws {
        let nodes = try read { r -> [UInt32] in
            guard let space = try r.space(name) else { return [] }
            var nodes: [UInt32] = []
            try vectorSchema.vectors.scanRaw(in: r.txn, prefix: VectorKeys.prefix(space.id, kind)) { key, _ in
                if key.count == 7 { nodes.append(key.loadBigEndianUInt32(at: 3)) }
                return .next
            }
            return nodes
        }
        var start = 0
        while start < nodes.count {
            let slice = nodes[start..<min(nodes.count, start + batch)]
            start += batch
            try write { w in
                guard let space = try w.space(name), let (generation, header) = try w.vectorGeneration(kind, of: space)
                else { return }
                var held: [UInt32] = []
                for node in slice {
                    if try w.generationHolds(node, kind, in: space, generation: generation, header: header) {
                        held.append(node)
                    }
                }
                var txn = WriteTransaction(continuing: w.handle)
                for node in held { _ = try vectorSchema.vectors.delete(VectorKeys.node(space.id, kind, node), in: &txn) }
            }
        }
    }
}

extension RecDatabase {
    /// Raises an older format version to ``formatVersion`` when a writable process opens the database. Version 3
    /// changes no stored bytes of a version-2 file (its table copies stay valid beside the graph's); it only keeps
    /// version-2 builds, which read vectors from the table alone, from opening a file whose builds moved them.
    func raiseFormatVersion() throws {
        let meta = schema.meta
        let stored = try read { r in try meta.get("format", in: r.txn) }
        guard let stored, stored.count == Self.magic.count + 4,
            stored.withUnsafeBytes({ $0.loadBigEndianUInt32(at: Self.magic.count) }) < Self.formatVersion
        else { return }
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            var format = BinaryWriter()
            format.write(Self.formatVersion)
            try meta.put("format", Self.magic + format.bytes, in: &txn)
        }
    }
}
