import Foundation
import Synchronization

/// Whose vectors a space holds: items or users. A space may hold both (two-tower models).
public enum VectorKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The vectors of items, keyed by their internal ids.
    case items = 0
    /// The vectors of users (the user towers of factor models), keyed by their internal ids.
    case users = 1

    /// `items` or `users`, as commands and errors spell it.
    public var description: String { self == .items ? "items" : "users" }
}

/// A named embedding space: one model's vectors, with their dimension, metric, HNSW parameters and the
/// generation of the index that serves each kind.
public struct EmbeddingSpace: Sendable, Hashable {
    /// The space's name: 1 to 64 letters, digits, `_`, `-` or `.` (model generations' spaces also use `@`).
    public var name: String
    /// Short id used in keys.
    public var id: UInt16
    /// The number of floats in each vector, 1 to ``maxDimension``.
    public var dimension: Int
    /// How vectors are compared; fixed when the space is created.
    public var metric: Metric
    /// The HNSW parameters every build of this space uses.
    public var parameters: HNSWParameters
    /// The active index generation per kind (0: no index yet; searches scan exactly).
    public var generations: [UInt32]

    /// The longest allowed dimension.
    public static let maxDimension = 4096

    /// The active index generation for `kind`; 0 when none has been built.
    public func generation(_ kind: VectorKind) -> UInt32 { generations[Int(kind.rawValue)] }

    var bytes: [UInt8] {
        var writer = BinaryWriter()
        writer.write(id)
        writer.write(UInt32(dimension))
        writer.write(metric.code)
        writer.write(UInt16(parameters.m))
        writer.write(UInt16(parameters.m0))
        writer.write(UInt16(parameters.efConstruction))
        writer.write(UInt32(parameters.ef))
        writer.write(parameters.seed)
        for generation in generations { writer.write(generation) }
        writer.write(parameters.codes.code)  // since format 2 of the record; older records end before it (float32)
        return writer.bytes
    }

    init(name: String, id: UInt16, dimension: Int, metric: Metric, parameters: HNSWParameters, generations: [UInt32]) {
        self.name = name
        self.id = id
        self.dimension = dimension
        self.metric = metric
        self.parameters = parameters
        self.generations = generations
    }

    init(name: String, _ raw: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(raw)
        self.name = name
        id = try reader.readUInt16()
        dimension = Int(try reader.readUInt32())
        guard let metric = Metric(code: try reader.readUInt8()) else {
            throw RecDBError(.corrupted, "space '\(name)' has an unknown metric")
        }
        self.metric = metric
        let m = Int(try reader.readUInt16()), m0 = Int(try reader.readUInt16())
        let efConstruction = Int(try reader.readUInt16()), ef = Int(try reader.readUInt32())
        parameters = HNSWParameters(m: m, m0: m0, efConstruction: efConstruction, ef: ef, seed: try reader.readUInt64())
        generations = [try reader.readUInt32(), try reader.readUInt32()]
        if !reader.isAtEnd {
            let code = try reader.readUInt8()
            guard let codes = VectorCodes(code: code) else {
                throw RecDBError(.corrupted, "space '\(name)' has an unknown vector code kind \(code)")
            }
            parameters.codes = codes
        }
        guard (1...Self.maxDimension).contains(dimension), (try? parameters.validate()) != nil else {
            throw RecDBError(
                .corrupted,
                "space '\(name)' has dimension \(dimension), M \(m), M0 \(m0), efConstruction \(efConstruction), "
                    + "ef \(ef): out of range")
        }
    }
}

/// Keys of the vector databases.
enum VectorKeys {
    /// `space u16, kind u8, node u32`: a canonical vector (in `vectors`) or a pending change (in `vector_dirty`).
    static func node(_ space: UInt16, _ kind: VectorKind, _ node: UInt32) -> [UInt8] {
        var writer = BinaryWriter(capacity: 7)
        writer.write(space)
        writer.write(kind.rawValue)
        writer.write(node)
        return writer.bytes
    }

    static func prefix(_ space: UInt16, _ kind: VectorKind) -> [UInt8] {
        var writer = BinaryWriter(capacity: 3)
        writer.write(space)
        writer.write(kind.rawValue)
        return writer.bytes
    }

    /// Parts of one index generation, under `ann`.
    enum Part: UInt8 {
        case header = 0
        case vectors = 1
        case level0 = 2
        case upper = 3
        case tombstones = 4
        /// Pending-change bitmap; lives under generation 0 (it belongs to no generation).
        case dirty = 5
        /// Which nodes the generation holds a vector for.
        case present = 6
        /// Set while the first build of a kind runs, so that changes are recorded as pending before any index
        /// exists; lives under generation 0 and goes with the pending changes when the build switches.
        case building = 7
        /// int8 codes of the nodes, chunked like `level0` (spaces with ``VectorCodes/int8``; they have no `vectors`).
        case codes = 8
        /// The ``ScalarQuantizer`` the codes were made with.
        case quantizer = 9
    }

    /// `space u16, kind u8, generation u32, part u8, index u32`.
    static func ann(_ space: UInt16, _ kind: VectorKind, _ generation: UInt32, _ part: Part, _ index: UInt32 = 0) -> [UInt8] {
        var writer = BinaryWriter(capacity: 12)
        writer.write(space)
        writer.write(kind.rawValue)
        writer.write(generation)
        writer.write(part.rawValue)
        writer.write(index)
        return writer.bytes
    }

    static func annPrefix(_ space: UInt16, _ kind: VectorKind, _ generation: UInt32) -> [UInt8] {
        var writer = BinaryWriter(capacity: 7)
        writer.write(space)
        writer.write(kind.rawValue)
        writer.write(generation)
        return writer.bytes
    }
}

/// The databases of embedding spaces.
struct VectorSchema: Sendable {
    /// space name → ``EmbeddingSpace`` record.
    let spaces: Database<StringCodec, BytesCodec>
    /// (space, kind, node) → float32 × dimension, native byte order: the vectors as written.
    let vectors: Database<BytesCodec, BytesCodec>
    /// (space, kind, node) → `u64` change sequence: vectors written or removed since the index last took them in.
    let dirty: Database<BytesCodec, UInt64Codec>
    /// (space, kind, generation, part, index) → index chunks.
    let ann: Database<BytesCodec, BytesCodec>
    /// Upper-layer blobs this process has validated, so that a snapshot per request does not walk them again.
    let validatedBlobs = ValidatedBlobs()
    /// Copies of large index generations in huge-page memory (see ``ResidentGraph``).
    let residentGraphs = ResidentGraphs()

    init(environment env: Environment) throws {
        spaces = try env.database("spaces", key: StringCodec.self, value: BytesCodec.self)
        vectors = try env.database("vectors", key: BytesCodec.self, value: BytesCodec.self)
        dirty = try env.database("vector_dirty", key: BytesCodec.self, value: UInt64Codec.self)
        ann = try env.database("ann", key: BytesCodec.self, value: BytesCodec.self)
    }
}

/// The header of one stored index generation.
struct IndexHeader {
    var chunkShift: Int
    var nodeLimit: Int
    var entryPoint: UInt32
    var maxLevel: Int
    var nodeCount: Int
    var level0Slots: Int
    var upperSlots: Int
    var builtAt: Timestamp
    var buildSeconds: Double
    /// Vector changes up to this sequence are in the graph.
    var changeSequence: UInt64
    /// What the walks score; stored as a trailing byte (headers written before it existed end without it: float32).
    var codes: VectorCodes = .float32

    var bytes: [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt8(chunkShift))
        writer.write(UInt32(nodeLimit))
        writer.write(entryPoint)
        writer.write(UInt8(maxLevel))
        writer.write(UInt32(nodeCount))
        writer.write(UInt16(level0Slots))
        writer.write(UInt16(upperSlots))
        writer.write(builtAt.milliseconds)
        writer.write(buildSeconds)
        writer.write(changeSequence)
        writer.write(codes.code)
        return writer.bytes
    }

    init(
        chunkShift: Int, nodeLimit: Int, entryPoint: UInt32, maxLevel: Int, nodeCount: Int, level0Slots: Int,
        upperSlots: Int, builtAt: Timestamp, buildSeconds: Double, changeSequence: UInt64, codes: VectorCodes = .float32
    ) {
        self.codes = codes
        self.chunkShift = chunkShift
        self.nodeLimit = nodeLimit
        self.entryPoint = entryPoint
        self.maxLevel = maxLevel
        self.nodeCount = nodeCount
        self.level0Slots = level0Slots
        self.upperSlots = upperSlots
        self.builtAt = builtAt
        self.buildSeconds = buildSeconds
        self.changeSequence = changeSequence
    }

    /// Chunk sizes a stored header may name: 16 to 65,536 nodes per chunk (builds use 4,096).
    static let chunkShifts = 4...16

    /// Checks the header of `space`'s generation `generation` before anything trusts it: the chunk shift is in
    /// range, list widths are the space's `1 + M0` and `1 + M`, the node limit is within the catalog's id counter
    /// (`idLimit`), the node count within the node limit, the entry point below it and the top level no higher
    /// than a build assigns. Throws `corrupted` naming the space, kind and generation.
    func validate(space: EmbeddingSpace, kind: VectorKind, generation: UInt32, idLimit: Int) throws {
        func fail(_ problem: String) -> RecDBError {
            RecDBError(
                .corrupted, "index header of space '\(space.name)' (\(kind)) generation \(generation): \(problem)")
        }
        guard Self.chunkShifts.contains(chunkShift) else {
            throw fail("chunk shift \(chunkShift) is outside \(Self.chunkShifts)")
        }
        guard level0Slots == 1 + space.parameters.m0 else {
            throw fail("\(level0Slots) level-0 slots; the space's M0 \(space.parameters.m0) needs \(1 + space.parameters.m0)")
        }
        guard upperSlots == 1 + space.parameters.m else {
            throw fail("\(upperSlots) upper-level slots; the space's M \(space.parameters.m) needs \(1 + space.parameters.m)")
        }
        guard nodeLimit <= idLimit else { throw fail("node limit \(nodeLimit) is past the id counter \(idLimit)") }
        guard nodeCount <= nodeLimit else { throw fail("\(nodeCount) nodes under a node limit of \(nodeLimit)") }
        guard nodeLimit == 0 || Int(entryPoint) < nodeLimit else {
            throw fail("entry point \(entryPoint) is not below the node limit \(nodeLimit)")
        }
        guard maxLevel <= HNSWBuilder.maxLevel else { throw fail("top level \(maxLevel) is above \(HNSWBuilder.maxLevel)") }
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(raw)
        chunkShift = Int(try reader.readUInt8())
        nodeLimit = Int(try reader.readUInt32())
        entryPoint = try reader.readUInt32()
        maxLevel = Int(try reader.readUInt8())
        nodeCount = Int(try reader.readUInt32())
        level0Slots = Int(try reader.readUInt16())
        upperSlots = Int(try reader.readUInt16())
        builtAt = Timestamp(milliseconds: try reader.readInt64())
        buildSeconds = try reader.readDouble()
        changeSequence = try reader.readUInt64()
        if !reader.isAtEnd {
            let code = try reader.readUInt8()
            guard let codes = VectorCodes(code: code) else {
                throw RecDBError(.corrupted, "index header names an unknown vector code kind \(code)")
            }
            self.codes = codes
        }
    }
}

/// Stored values this process has validated in full, by where they are mapped and what they are: an index
/// generation's parts are written once, in the transaction that makes it active, and never change after (a new
/// build writes a new generation; space ids are not reused), so the same (space, kind, generation) at the same
/// address and size holds the same bytes. A remapped file gives new addresses and a new validation.
final class ValidatedBlobs: Sendable {
    struct Key: Hashable {
        var space: UInt16
        var kind: VectorKind
        var generation: UInt32
        var address: UInt
        var count: Int
    }

    private let keys = Mutex<Set<Key>>([])

    func contains(_ key: Key) -> Bool {
        keys.withLock { $0.contains(key) }
    }

    func insert(_ key: Key) {
        keys.withLock { keys in
            if keys.count >= 4096 { keys.removeAll() }
            keys.insert(key)
        }
    }
}
