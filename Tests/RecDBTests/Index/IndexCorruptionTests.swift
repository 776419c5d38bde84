import Foundation
import Testing

@testable import RecDB

/// Damaged index values (written through the storage API, as flipped bytes in the file would leave them) fail the
/// search that meets them with `corrupted` and a message naming the place; nothing crashes.
@Suite("Index corruption")
struct IndexCorruptionTests {
    /// 300 items with vectors in space `s` (dimension 16, M 8, M0 16) and a built index (generation 1).
    static func makeIndexed(_ folder: TemporaryDirectory) throws -> (RecDatabase, [[Float]]) {
        let (db, vectors) = try VectorIndexTests.makeDatabase(folder, count: 300)
        try db.buildIndex(space: "s", threads: 1)
        return (db, vectors)
    }

    static func space(_ db: RecDatabase) throws -> EmbeddingSpace { try #require(try db.read { try $0.space("s") }) }

    static func annKey(_ db: RecDatabase, _ part: VectorKeys.Part, _ index: UInt32 = 0) throws -> [UInt8] {
        let space = try space(db)
        return VectorKeys.ann(space.id, .items, space.generation(.items), part, index)
    }

    static func header(_ db: RecDatabase) throws -> IndexHeader {
        let key = try annKey(db, .header)
        return try #require(try db.read { r in try db.vectorSchema.ann.withValue(key, in: r.txn) { try IndexHeader($0) } })
    }

    /// Rewrites the value under `key` of `table` with `change` applied, in one write transaction.
    static func rewrite<Key: ByteCodec>(
        _ db: RecDatabase, _ table: Database<Key, BytesCodec>, _ key: Key.Value, _ change: (inout [UInt8]) -> Void
    ) throws {
        try db.environment.write { txn in
            var bytes = try #require(try table.get(key, in: txn))
            change(&bytes)
            try table.put(key, bytes, in: &txn)
        }
    }

    static func word(_ bytes: [UInt8], _ index: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self) }
    }

    static func setWord(_ bytes: inout [UInt8], _ index: Int, _ value: UInt32) {
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: index * 4, as: UInt32.self) }
    }

    /// A search through the graph (no filter): the walk visits many level-0 lists.
    static func search(_ db: RecDatabase) throws {
        var generator = VectorIndexTests.Generator(state: 5)
        let query = generator.vector(16)
        _ = try db.read { try $0.nearest(in: "s", to: query, k: 10) }
    }

    static func expectCorrupted(_ body: () throws -> Void, mentioning parts: [String]) {
        let error = #expect(throws: RecDBError.self) { try body() }
        guard let error else { return }
        #expect(error.code == .corrupted, "\(error)")
        for part in parts { #expect(error.message.contains(part), "\(error.message) should mention \(part)") }
    }

    @Test func neighbourPastTheNodeLimitFailsTheWalk() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            let header = try Self.header(db)
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .level0)) { bytes in
                for node in 0..<header.nodeLimit where Self.word(bytes, node * header.level0Slots) > 0 {
                    Self.setWord(&bytes, node * header.level0Slots + 1, UInt32(header.nodeLimit + 7))
                }
            }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["'s'", "generation 1", "level0 chunk 0", "past the node limit 300"])
            // checkIndex reports instead of crashing.
            #expect(try !db.checkIndex(space: "s").problems.isEmpty)
        }
    }

    @Test func linkCountPastM0FailsTheWalk() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            let header = try Self.header(db)
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .level0)) { bytes in
                for node in 0..<header.nodeLimit { Self.setWord(&bytes, node * header.level0Slots, 1_000_000) }
            }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["level0 chunk 0", "1000000 links", "at most 16"])
        }
    }

    /// Chunks of vectors and level-0 links, a byte short or a byte long.
    @Test(arguments: [(VectorKeys.Part.vectors.rawValue, -1), (VectorKeys.Part.level0.rawValue, -1),
        (VectorKeys.Part.level0.rawValue, 1)])
    func chunkOfTheWrongSizeFailsTheSearch(part raw: UInt8, change: Int) throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            let part = try #require(VectorKeys.Part(rawValue: raw))
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, part)) { bytes in
                if change < 0 { bytes.removeLast() } else { bytes.append(0) }
            }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["'s'", "generation 1", "\(part) chunk 0", "bytes"])
        }
    }

    @Test func upperLayerOffsetPastTheEndFailsAtOpen() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .upper)) { bytes in
                let count = Int(Self.word(bytes, 0))
                precondition(count > 1, "the fixture has upper layers")
                Self.setWord(&bytes, 2 + count + count - 1, 1 << 30)
            }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["'s'", "generation 1", "upper layers"])
        }
    }

    @Test func upperLayerBlobShorterThanItsCountFailsAtOpen() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .upper)) { bytes in
                Self.setWord(&bytes, 0, 0x4000_0000)
            }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["upper layers", "claims 1073741824 nodes"])
        }
    }

    @Test func upperLinkCountPastMAndBadUpperLinksFailTheDescent() throws {
        for damage in ["count", "link"] {
            try TemporaryDirectory.with { folder in
                let (db, _) = try Self.makeIndexed(folder)
                let header = try Self.header(db)
                try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .upper)) { bytes in
                    let count = Int(Self.word(bytes, 0)), slots = Int(Self.word(bytes, 1))
                    let links = 2 + 2 * count
                    for list in stride(from: links, to: bytes.count / 4, by: slots) {
                        if damage == "count" {
                            Self.setWord(&bytes, list, 500)
                        } else {
                            Self.setWord(&bytes, list, 1)
                            Self.setWord(&bytes, list + 1, UInt32(header.nodeLimit))
                        }
                    }
                }
                let expected = damage == "count" ? "500 links" : "past the node limit"
                Self.expectCorrupted({ try Self.search(db) }, mentioning: ["upper layers", expected])
            }
        }
    }

    /// Header fields that a walk trusts, each broken on its own.
    @Test(arguments: ["entry", "limit", "count", "slots", "level", "shift"])
    func headerIsValidatedWhenTheSnapshotOpens(field: String) throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            var header = try Self.header(db)
            switch field {
            case "entry": header.entryPoint = UInt32(header.nodeLimit)
            case "limit": header.nodeLimit = 1 << 20
            case "count": header.nodeCount = header.nodeLimit + 1
            case "slots": header.level0Slots += 4
            case "level": header.maxLevel = 200
            default: header.chunkShift = 40
            }
            let bytes = header.bytes
            let key = try Self.annKey(db, .header)
            try db.environment.write { txn in _ = try db.vectorSchema.ann.put(key, bytes, in: &txn) }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["index header of space 's' (items) generation 1"])
        }
    }

    @Test func bitmapChunkOfTheWrongSizeFailsTheScan() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeIndexed(folder)
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .present)) { bytes in bytes.removeLast(100) }
            // A small allowed set is scanned exactly, word by word through the present bitmap.
            let allowed = AllowedSet((0..<10).map(UInt32.init))
            Self.expectCorrupted(
                { _ = try db.read { try $0.nearest(in: "s", to: vectors[3], k: 3, allowed: allowed) } },
                mentioning: ["present chunk 0", "1948 bytes"])
        }
    }

    @Test func linkingIntoADamagedGraphFails() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeIndexed(folder)
            let header = try Self.header(db)
            try Self.rewrite(db, db.vectorSchema.ann, try Self.annKey(db, .level0)) { bytes in
                Self.setWord(&bytes, 5 * header.level0Slots, UInt32(header.m0Capacity + 3))
            }
            try db.write { w in try w.setVector([Float](repeating: 0.5, count: 16), space: "s", item: "i1") }
            Self.expectCorrupted({ try db.buildIndex(space: "s", threads: 1) }, mentioning: ["node 5 on level 0", "links"])
        }
    }

    @Test func vectorValueOfTheWrongSizeFailsTheExactScan() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try VectorIndexTests.makeDatabase(folder, count: 50)
            let space = try Self.space(db)
            try Self.rewrite(db, db.vectorSchema.vectors, VectorKeys.node(space.id, .items, 7)) { $0.removeLast(3) }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["vector", "#7", "61 bytes", "64 bytes"])
            Self.expectCorrupted({ _ = try db.read { try $0.vector(space: "s", id: "i7") } }, mentioning: ["61 bytes"])
            // Once indexed, the same value is a pending change read beside the graph: the search still fails.
            try db.write { w in try w.setVector([Float](repeating: 1, count: 16), space: "s", item: "i7") }
            try db.buildIndex(space: "s", threads: 1)
            try db.write { w in try w.setVector([Float](repeating: 2, count: 16), space: "s", item: "i9") }
            try Self.rewrite(db, db.vectorSchema.vectors, VectorKeys.node(space.id, .items, 9)) { $0.append(1) }
            Self.expectCorrupted({ try Self.search(db) }, mentioning: ["#9", "65 bytes"])
        }
    }

    /// LMDB places a value right after its key: vectors under 7-byte keys sit at odd addresses. They are read
    /// correctly (copied), by the exact scan, by the pending-change scan and by `vector(space:id:)`.
    @Test func misalignedVectorsAreReadCorrectly() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try VectorIndexTests.makeDatabase(folder, count: 200)
            let misaligned = try db.read { r in
                var count = 0
                try db.vectorSchema.vectors.scanRaw(in: r.txn) { _, value in
                    if !StoredArray.isAligned(value.baseAddress, for: Float.self) { count += 1 }
                    return .next
                }
                return count
            }
            #expect(misaligned > 0, "LMDB gave every vector an aligned address: the test proves nothing")
            for i in [0, 17, 199] {
                #expect(try db.read { try $0.vector(space: "s", id: "i\(i)") } == vectors[i])
            }
            let found = try db.read { try $0.nearest(in: "s", to: vectors[42], k: 5) }.map(\.node)
            #expect(found == VectorIndexTests.exact(vectors, vectors[42], k: 5))
            #expect(found.first == 42)
        }
    }
}

extension IndexHeader {
    /// M0: the most links a level-0 list holds.
    var m0Capacity: Int { level0Slots - 1 }
}
