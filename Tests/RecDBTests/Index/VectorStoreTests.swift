import Foundation
import Testing

@testable import RecDB

/// Each vector is stored once: a float32 build moves the vectors it takes in from the table into its generation,
/// and every reading (one vector, counts, searches, later builds) finds them there.
@Suite("One copy of each vector")
struct VectorStoreTests {
    /// Entries of space `s` in the `vectors` table.
    static func tableEntries(_ db: RecDatabase, space: String = "s") throws -> Int {
        try db.read { r in
            let id = try #require(try r.space(space)).id
            var count = 0
            try db.vectorSchema.vectors.scanRaw(in: r.txn, prefix: VectorKeys.prefix(id, .items)) { _, _ in
                count += 1
                return .next
            }
            return count
        }
    }

    @Test func aFloat32BuildMovesTheVectorsOutOfTheTable() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try VectorIndexTests.makeDatabase(folder, count: 600)
            #expect(try Self.tableEntries(db) == 600)
            try db.buildIndex(space: "s")
            #expect(try Self.tableEntries(db) == 0, "the generation is the only copy")
            #expect(try db.read { try $0.vectorCount(space: "s") } == 600)
            #expect(try db.indexStats(space: "s").vectors == 600)
            for i in [0, 17, 599] {
                #expect(try db.read { try $0.vector(space: "s", id: "i\(i)") } == vectors[i])
            }
            #expect(try db.checkIndex(space: "s").problems.isEmpty)
            // Search still finds each vector itself first.
            let found = try db.read { try $0.nearest(in: "s", to: vectors[42], k: 1, ef: 64) }
            #expect(found.first?.node == 42)
        }
    }

    @Test func changesAfterTheBuildLiveInTheTableUntilTheNextBuild() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try VectorIndexTests.makeDatabase(folder, count: 500)
            try db.buildIndex(space: "s")
            let moved = [Float](repeating: 0.25, count: 16)
            try db.write { w in
                try w.setVector(moved, space: "s", item: "i3")
                #expect(try w.removeVector(space: "s", id: "i4"), "a vector only the graph holds can be removed")
                #expect(try !w.removeVector(space: "s", id: "i4"), "and is gone after")
            }
            #expect(try Self.tableEntries(db) == 1)
            #expect(try db.read { try $0.vector(space: "s", id: "i3") } == moved)
            #expect(try db.read { try $0.vector(space: "s", id: "i4") } == nil)
            #expect(try db.read { try $0.vector(space: "s", id: "i5") } == vectors[5])
            #expect(try db.read { try $0.vectorCount(space: "s") } == 499)
            var found = try db.read { try $0.nearest(in: "s", to: moved, k: 1, ef: 64) }
            #expect(found.first?.node == 3)
            // Linking the changes moves them too; a full rebuild reads the graph's vectors back.
            try db.buildIndex(space: "s")
            #expect(try Self.tableEntries(db) == 0)
            #expect(try db.read { try $0.vector(space: "s", id: "i3") } == moved)
            try db.buildIndex(space: "s", full: true)
            #expect(try Self.tableEntries(db) == 0)
            #expect(try db.read { try $0.vectorCount(space: "s") } == 499)
            #expect(try db.read { try $0.vector(space: "s", id: "i5") } == vectors[5])
            #expect(try db.read { try $0.vector(space: "s", id: "i4") } == nil)
            found = try db.read { try $0.nearest(in: "s", to: vectors[5], k: 1, ef: 64) }
            #expect(found.first?.node == 5)
            #expect(try db.checkIndex(space: "s").problems.isEmpty)
        }
    }

    @Test func int8SpacesKeepTheFullVectorsInTheTable() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try QuantizedIndexTests.makeQuantized(folder, count: 300)
            #expect(try Self.tableEntries(db, space: "q") == 300, "the exact re-rank reads them there")
            #expect(try db.read { try $0.vector(space: "q", id: "i7") } == vectors[7])
        }
    }

    @Test func aVersion2DatabaseIsRaisedToVersion3WhenOpenedForWriting() throws {
        try TemporaryDirectory.with { folder in
            let path = folder.appending("db")
            do { _ = try folder.createDatabase() }
            func stored() throws -> UInt32 {
                let env = try Environment.open(at: path)
                let meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
                let bytes = try #require(try env.read { txn throws in try meta.get("format", in: txn) })
                return bytes.withUnsafeBytes { $0.loadBigEndianUInt32(at: 5) }
            }
            do {
                let env = try Environment.open(at: path)
                let meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
                var version = BinaryWriter()
                version.write(UInt32(2))
                try env.write { txn in _ = try meta.put("format", Array("RECDB".utf8) + version.bytes, in: &txn) }
            }
            #expect(try stored() == 2)
            do { _ = try RecDatabase.open(at: path) }
            #expect(try stored() == RecDatabase.formatVersion)
            #expect(RecDatabase.formatVersion == 4)
        }
    }
}
