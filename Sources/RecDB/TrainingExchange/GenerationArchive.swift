import CZlib
import Foundation

/// One trained model generation as bytes, to install on another database holding the same catalog (a node of a
/// replicated cluster that reached the same log position): the model's record, its `model_data` values and the
/// vectors of its embedding space. Installing it (``RecDatabase/installGeneration(_:threads:)``) writes a new
/// generation and switches to it in one transaction, exactly like a refresh, building the space's HNSW index there.
///
/// ```swift
/// let archive = try trainer.exportGeneration(of: "als")        // after trainer.refresh(.named("als"))
/// try replica.installGeneration(try GenerationArchive(bytes: archive.bytes))
/// ```
///
/// Layout (`Schemas/storage-layout.md` keys; integers big-endian): `RDBGEN01`, a `u32`-length JSON header (the
/// record, the space's dimension, metric and HNSW parameters), `u32` count of `model_data` values each as
/// `u32`-length key suffix (part and index) and `u32`-length value, then for items and users a `u32` count of
/// vectors each as `u32` node and the stored float bytes; last a CRC-32 of everything before it.
public struct GenerationArchive: Sendable {
    /// The kinds whose generations are whole in `model_data` plus one embedding space (no side effects elsewhere,
    /// such as popularity's live counters): only these are shipped; others are retrained by every node.
    public static let shippableKinds: Set<ModelKind> = [.als, .bpr, .itemKNN, "ease", "sasrec", "ncf"]

    static let magic = Array("RDBGEN01".utf8)

    /// The model's record as the exporting database stored it (its generation number is replaced on install).
    public var record: ModelRecord
    /// The space's shape, when the generation has one.
    var space: SpaceShape?
    /// `model_data` values: the key after the model's name and generation (part and index), and the value.
    var data: [(suffix: [UInt8], value: [UInt8])]
    /// Item and user vectors by node, as stored (`dimension` floats each).
    var vectors: [VectorKind: [(node: UInt32, floats: [UInt8])]]
    /// The encoded archive.
    public let bytes: [UInt8]

    struct SpaceShape: Codable, Sendable {
        var dimension: Int
        var metric: UInt8
        var parameters: HNSWParameters
        /// Whether the source built an index over the item vectors (installs build one too).
        var indexedItems: Bool
    }

    private struct Header: Codable {
        var format = "recdb-generation"
        var record: ModelRecord
        var space: SpaceShape?
    }

    init(
        record: ModelRecord, space: SpaceShape?, data: [(suffix: [UInt8], value: [UInt8])],
        vectors: [VectorKind: [(node: UInt32, floats: [UInt8])]]
    ) throws {
        self.record = record
        self.space = space
        self.data = data
        self.vectors = vectors
        var out = Self.magic
        func append(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { out += $0 } }
        func appendSized(_ bytes: [UInt8]) {
            append(UInt32(bytes.count))
            out += bytes
        }
        appendSized(Array(try JSONEncoder().encode(Header(record: record, space: space))))
        append(UInt32(data.count))
        for (suffix, value) in data {
            appendSized(suffix)
            appendSized(value)
        }
        for kind in [VectorKind.items, .users] {
            let rows = vectors[kind] ?? []
            append(UInt32(rows.count))
            for row in rows {
                append(row.node)
                out += row.floats
            }
        }
        append(Self.checksum(out))
        bytes = out
    }

    /// Reads and checks an archive: anything that is not one (wrong magic, a bad checksum, a count past the end, a
    /// vector of the wrong length) is `malformed_input` naming what and where.
    public init(bytes: [UInt8]) throws {
        func fail(_ problem: String) -> RecDBError { RecDBError(.malformedInput, "generation archive: \(problem)") }
        guard bytes.count >= Self.magic.count + 4, Array(bytes.prefix(Self.magic.count)) == Self.magic else {
            throw fail("does not start with RDBGEN01 (\(bytes.count) bytes)")
        }
        let body = bytes.count - 4
        let stored = bytes[body...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let computed = Self.checksum(Array(bytes[..<body]))
        guard stored == computed else {
            throw fail("checksum \(String(stored, radix: 16)) does not match the content's \(String(computed, radix: 16))")
        }
        var offset = Self.magic.count
        func take(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
            guard count >= 0, count <= body - offset else {
                throw fail("\(what) needs \(count) bytes at offset \(offset); \(body - offset) are left")
            }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }
        func u32(_ what: String) throws -> UInt32 { try take(4, what).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        func sized(_ what: String) throws -> [UInt8] { Array(try take(Int(try u32(what)), what)) }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(try sized("the header")))
        } catch let error as RecDBError {
            throw error
        } catch {
            throw fail("the header is not valid JSON: \(error)")
        }
        guard header.format == "recdb-generation" else { throw fail("format '\(header.format)'") }
        if let space = header.space {
            guard (1...EmbeddingSpace.maxDimension).contains(space.dimension), Metric(code: space.metric) != nil else {
                throw fail("space of dimension \(space.dimension), metric code \(space.metric)")
            }
        }
        var data: [(suffix: [UInt8], value: [UInt8])] = []
        let dataCount = Int(try u32("the model_data count"))
        for i in 0..<dataCount {
            data.append((try sized("model_data key \(i)"), try sized("model_data value \(i)")))
        }
        var vectors: [VectorKind: [(node: UInt32, floats: [UInt8])]] = [:]
        let rowBytes = (header.space?.dimension ?? 0) * 4
        for kind in [VectorKind.items, .users] {
            let count = Int(try u32("the \(kind) vector count"))
            guard count == 0 || header.space != nil else { throw fail("\(count) \(kind) vectors but no space") }
            var rows: [(node: UInt32, floats: [UInt8])] = []
            rows.reserveCapacity(min(count, (body - offset) / max(rowBytes + 4, 1)))
            for i in 0..<count {
                rows.append((try u32("\(kind) vector \(i)"), Array(try take(rowBytes, "\(kind) vector \(i)"))))
            }
            vectors[kind] = rows
        }
        guard offset == body else { throw fail("\(body - offset) bytes after the vectors") }
        record = header.record
        space = header.space
        self.data = data
        self.vectors = vectors
        self.bytes = bytes
    }

    /// CRC-32 (zlib's) of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: uLong = 0
        var offset = 0
        bytes.withUnsafeBufferPointer { buffer in
            // zlib takes lengths as `uInt`: large archives go in 1 GiB steps.
            while offset < buffer.count {
                let step = min(buffer.count - offset, 1 << 30)
                crc = crc32(crc, buffer.baseAddress! + offset, uInt(step))
                offset += step
            }
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}

extension RecDatabase {
    /// The active generation of model `name` as a ``GenerationArchive``, read from one snapshot. Throws `notFound`
    /// for a model never refreshed and `invalidArgument` for a kind that is not in
    /// ``GenerationArchive/shippableKinds``.
    public func exportGeneration(of name: String) throws -> GenerationArchive {
        try read { r in
            guard let record = try r.model(name), record.generation > 0 else {
                throw RecDBError(.notFound, "model '\(name)' has no trained generation to export")
            }
            guard GenerationArchive.shippableKinds.contains(record.kind) else {
                throw RecDBError(
                    .invalidArgument,
                    "model '\(name)' is a \(record.kind) model, whose generations are not shipped; refresh it on each node")
            }
            var data: [(suffix: [UInt8], value: [UInt8])] = []
            let prefix = ModelSchema.dataPrefix(name, record.generation)
            try modelSchema.data.scanRaw(in: r.txn, prefix: prefix) { key, value in
                data.append((Array(key[prefix.count...]), Array(value)))
                return .next
            }
            var shape: GenerationArchive.SpaceShape?
            var vectors: [VectorKind: [(node: UInt32, floats: [UInt8])]] = [:]
            if let spaceName = record.space {
                let space = try r.requireSpace(spaceName)
                shape = .init(
                    dimension: space.dimension, metric: space.metric.code, parameters: space.parameters,
                    indexedItems: space.generation(.items) > 0)
                for kind in [VectorKind.items, .users] {
                    // A vector lives in the table or, once indexed, in the active generation's chunks (VectorStore).
                    var nodes = Set<UInt32>()
                    try vectorSchema.vectors.scanRaw(in: r.txn, prefix: VectorKeys.prefix(space.id, kind)) { key, _ in
                        if key.count == 7 { nodes.insert(key.loadBigEndianUInt32(at: 3)) }
                        return .next
                    }
                    try r.withVectorIndex(space: spaceName, kind: kind) { index in
                        index.forEachHeldVector { nodes.insert($0) }
                    }
                    vectors[kind] = try nodes.sorted().compactMap { node in
                        try r.storedVector(of: node, kind, in: space).map { vector in
                            (node, vector.withUnsafeBytes { Array($0) })
                        }
                    }
                }
            }
            return try GenerationArchive(record: record, space: shape, data: data, vectors: vectors)
        }
    }

    /// Installs `archive` as the next generation of its model and switches to it in one transaction, as a refresh
    /// does: the data and vectors are written beside the serving generation in chunked transactions, the item index
    /// is built (one node at a time, so it is the exporter's graph when that one was built reproducibly), then one
    /// small transaction switches. A node or item the archive names that this catalog lacks is `notFound`: the
    /// archive belongs to a database at the same log position. Busy while the model refreshes.
    @discardableResult
    public func installGeneration(_ archive: GenerationArchive, threads: Int = 2) throws -> RefreshReport {
        let started = Date()
        let name = archive.record.name
        return try withJob(Self.refreshJob(name), start: { w in (try w.model(name)?.generation ?? 0) + 1 }) {
            job, generation in
            try checkCatalog(for: archive)
            do {
                return try install(archive, as: generation, job: job, threads: threads, started: started)
            } catch {
                try? removeStaleModelData(of: name, except: job)  // what the failed install wrote
                throw error
            }
        }
    }

    /// Throws `notFound` unless every node the archive has a vector for is in this catalog: an archive of another
    /// database (or of a later log position) is refused before anything is written.
    private func checkCatalog(for archive: GenerationArchive) throws {
        try read { r in
            for kind in [VectorKind.items, .users] {
                for row in archive.vectors[kind] ?? [] {
                    let known = kind == .items
                        ? try schema.items.contains(row.node, in: r.txn)
                        : try schema.users.contains(row.node, in: r.txn)
                    guard known else {
                        throw RecDBError(
                            .notFound,
                            "the archive of '\(archive.record.name)' has a vector for \(kind) #\(row.node), which this database lacks")
                    }
                }
            }
        }
    }

    private func install(
        _ archive: GenerationArchive, as generation: UInt32, job: JobTicket, threads: Int, started: Date
    ) throws -> RefreshReport {
        let name = archive.record.name
        var record = archive.record
        record.generation = generation
        record.space = nil
        if let shape = archive.space, let metric = Metric(code: shape.metric) {
            let spaceName = ModelSchema.spaceName(name, generation)
            try dropSpace(spaceName, if: { _ in true })  // left by an install or refresh that crashed
            let space = try createSpace(
                spaceName, dimension: shape.dimension, metric: metric, parameters: shape.parameters, forModel: true)
            for kind in [VectorKind.items, .users] {
                let rows = archive.vectors[kind] ?? []
                var start = 0
                while start < rows.count {
                    let end = min(rows.count, start + 10_000)
                    try write { w in
                        for row in rows[start..<end] {
                            var floats = [Float](repeating: 0, count: shape.dimension)
                            floats.withUnsafeMutableBytes { $0.copyBytes(from: row.floats) }
                            try w.setVector(floats, space: space, kind: kind, node: row.node, owner: "\(kind) #\(row.node)")
                        }
                    }
                    start = end
                }
            }
            if shape.indexedItems {
                try RecDatabase.$reproducibleIndexBuilds.withValue(true) {
                    _ = try buildIndex(space: spaceName, kind: .items, threads: threads)
                }
            }
            record.space = spaceName
        }
        let prefix = ModelSchema.dataPrefix(name, generation)
        var start = 0
        while start < archive.data.count {
            let end = min(archive.data.count, start + 64)
            try environment.write { txn in
                for (suffix, value) in archive.data[start..<end] {
                    try modelSchema.data.put(prefix + suffix, value, in: &txn)
                }
            }
            start = end
        }
        let recordBytes = try JSONEncoder().encode(record)
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            guard (try w.model(name)?.generation ?? 0) + 1 == generation else {
                throw RecDBError(.busy, "another refresh of '\(name)' finished first; this install is discarded")
            }
            try modelSchema.models.put(name, Array(recordBytes), in: &txn)
        }
        try removeStaleModelData(of: name, except: job)
        return RefreshReport(record: record, seconds: Date().timeIntervalSince(started))
    }
}
