import Foundation
import Testing

@testable import RecDB

/// Damaged model data (written through the storage API) fails the recommendation that reads it with `corrupted`,
/// naming the model and generation; nothing crashes.
@Suite("Model data corruption")
struct ModelCorruptionTests {
    static func key(_ model: String, part: UInt8, index: UInt32 = 0) -> [UInt8] {
        ModelSchema.dataKey(model, 1, part: part, index: index)
    }

    static func rewrite(_ db: RecDatabase, _ key: [UInt8], _ change: (inout [UInt8]) -> Void) throws {
        try IndexCorruptionTests.rewrite(db, db.modelSchema.data, key, change)
    }

    static func recommend(_ db: RecDatabase, _ model: String, user: String = "u1") throws {
        _ = try db.read { try $0.recommend(model: model, user: user, k: 3) }
    }

    static func expectCorrupted(_ body: () throws -> Void, mentioning parts: [String]) {
        IndexCorruptionTests.expectCorrupted(body, mentioning: parts)
    }

    @Test func foldInGramOfTheWrongLengthIsCorrupted() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als, threads: 1)
            try Self.rewrite(db, Self.key("als", part: ModelSchema.gramPart)) { $0.removeLast(4) }
            // An event after the refresh: the user's vector is folded in against the Gram matrix.
            try db.write { w in try w.addEvent(EventInput("u1", "view", "i2", at: 10_000)) }
            Self.expectCorrupted({ try Self.recommend(db, "als") }, mentioning: ["'als' generation 1", "3 floats", "need 4"])
        }
    }

    @Test func factorChunkOfTheWrongLengthIsCorrupted() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als, threads: 1)
            let space = try #require(try db.read { try $0.space("als@1") })
            let key = VectorKeys.ann(space.id, .items, space.generation(.items), .vectors, 0)
            try IndexCorruptionTests.rewrite(db, db.vectorSchema.ann, key) { $0.removeLast(2) }
            Self.expectCorrupted({ try Self.recommend(db, "als") }, mentioning: ["'als@1'", "vectors chunk 0"])
        }
    }

    @Test(arguments: ["table", "span", "id"])
    func neighbourListsAreCheckedAgainstTheirBytesAndTheItemLimit(damage: String) throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(.itemKNN(neighbours: 10), threads: 1)
            try Self.rewrite(db, Self.key("itemknn", part: ModelSchema.neighbourTablePart)) { bytes in
                let lists = Int(UInt32(bigEndian: IndexCorruptionTests.word(bytes, 0)))
                switch damage {
                case "table": IndexCorruptionTests.setWord(&bytes, 0, UInt32(5000).bigEndian)
                case "span": IndexCorruptionTests.setWord(&bytes, 2, UInt32(1_000_000).bigEndian)
                default:
                    // Every entry's item id (entries follow the count and lists + 1 offsets, two words each).
                    for word in stride(from: 2 + lists, to: bytes.count / 4, by: 2) {
                        IndexCorruptionTests.setWord(&bytes, word, UInt32(60_000).bigEndian)
                    }
                }
            }
            let expected = ["table": "a table of 5000 lists", "span": "spans bytes", "id": "past the item limit"]
            Self.expectCorrupted(
                { try Self.recommend(db, "itemknn") },
                mentioning: ["item-kNN model 'itemknn' generation 1, neighbour lists 0", expected[damage]!])
        }
    }

    /// The same checks on a generation written in the sequential layout of older versions.
    @Test(arguments: ["count", "id"])
    func sequentialNeighbourListsAreCheckedAgainstTheirBytesAndTheItemLimit(damage: String) throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            let record = try db.refresh(.itemKNN(neighbours: 10), threads: 1).record
            try NeighbourListTests.rewriteSequentially(
                db, record, try NeighbourListTests.storedLists(db, record, count: try NeighbourListTests.itemLimit(db)))
            try Self.rewrite(db, Self.key("itemknn", part: ModelSchema.neighboursPart)) { bytes in
                if damage == "count" {
                    IndexCorruptionTests.setWord(&bytes, 0, UInt32(1000).bigEndian)
                    return
                }
                var offset = 0
                while offset + 4 <= bytes.count {
                    let count = Int(UInt32(bigEndian: IndexCorruptionTests.word(bytes, offset / 4)))
                    for n in 0..<count { IndexCorruptionTests.setWord(&bytes, offset / 4 + 1 + 2 * n, UInt32(60_000).bigEndian) }
                    offset += 4 + count * 8
                }
            }
            let expected = damage == "count" ? "claims 1000 entries" : "past the item limit"
            Self.expectCorrupted(
                { try Self.recommend(db, "itemknn") },
                mentioning: ["item-kNN model 'itemknn' generation 1, neighbour lists 0", expected])
        }
    }

    @Test func popularityScoresOfTheWrongLengthAreCorrupted() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(.popularity(halfLifeDays: 30), threads: 1)
            try Self.rewrite(db, Self.key("popularity", part: ModelSchema.popularityPart)) { $0.append(7) }
            Self.expectCorrupted({ try Self.recommend(db, "popularity") }, mentioning: ["'popularity' generation 1, part 1"])
        }
    }

    @Test func sessionCountsAreCheckedAgainstTheirBytes() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(.session(SessionKNNModel.Parameters()), threads: 1)
            try Self.rewrite(db, Self.key("session", part: ModelSchema.sessionsPart)) { bytes in
                IndexCorruptionTests.setWord(&bytes, 0, UInt32(0x0FFF_FFFF).bigEndian)
            }
            Self.expectCorrupted(
                { _ = try db.read { try $0.recommend(RecommendRequest(.user("u1"), count: 3, models: [ModelWeight("session")])) } },
                mentioning: ["session model 'session' generation 1, sessions 0", "claims 268435455"])
        }
    }

    @Test func damagedModelRecordsAreCorrupted() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als, threads: 1)
            var record = try #require(try db.model("als"))
            record.parameters["factors"] = 1e300
            let huge = Array(try JSONEncoder().encode(record))
            try db.environment.write { txn in try db.modelSchema.models.put("als", huge, in: &txn) }
            try db.write { w in try w.addEvent(EventInput("u1", "view", "i2", at: 10_000)) }
            Self.expectCorrupted({ try Self.recommend(db, "als") }, mentioning: ["'als'", "factors is 1e+300"])
            try IndexCorruptionTests.rewrite(db, db.modelSchema.models, "als") { $0[0] = 0x7B ^ 0x40 }
            Self.expectCorrupted({ try Self.recommend(db, "als") }, mentioning: ["model record 'als'"])
        }
    }

    @Test func contentVocabularyCountsAndDimensionsAreChecked() throws {
        var writer = BinaryWriter()
        writer.write(UInt8(1))
        writer.write(UInt32(4))
        writer.write(UInt32(0x1000_0000))
        writer.write("word")
        writer.write(Float(1))
        func decode(dimension: Int?) -> RecDBError? {
            do {
                _ = try writer.bytes.withUnsafeBytes { try ContentProjection(vocabulary: $0, basis: [], dimension: dimension, "content") }
                return nil
            } catch {
                return error as? RecDBError
            }
        }
        let error = decode(dimension: nil)
        #expect(error?.code == .corrupted)
        #expect(error?.message.contains("claims 268435456 entries") == true, "\(String(describing: error))")
        #expect(decode(dimension: 8)?.code == .corrupted)
        #expect(decode(dimension: 8)?.message.contains("the space has 8") == true)
    }
}
