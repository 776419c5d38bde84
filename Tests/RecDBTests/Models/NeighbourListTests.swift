import Foundation
import Testing

@testable import RecDB

/// Item-kNN neighbour lists as stored: the indexed layout written now, and the sequential layout of generations
/// written before it, which must still serve.
@Suite("Neighbour lists")
struct NeighbourListTests {
    typealias List = [(item: UInt32, similarity: Float)]

    /// Every stored list of `record`, for items `0..<count`.
    static func storedLists(_ db: RecDatabase, _ record: ModelRecord, count: Int) throws -> [List] {
        try db.read { r in
            let source = try r.neighbourListSource(record)
            return try (0..<count).map { item in
                var list: List = []
                try r.forEachNeighbour(of: UInt32(item), in: source) { list.append(($0, $1)) }
                return list
            }
        }
    }

    /// The catalog's item id counter.
    static func itemLimit(_ db: RecDatabase) throws -> Int {
        try db.read { r in try CatalogSchemaAccess.idLimit("next.item", handle: r.handle, meta: r.schema.meta) }
    }

    static func same(_ a: [List], _ b: [List]) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { x, y in
                x.count == y.count && zip(x, y).allSatisfy { $0.item == $1.item && $0.similarity == $1.similarity }
            }
    }

    /// Rewrites a generation's lists in the sequential layout of older versions (part 2, no part 7), as a database
    /// written before the indexed layout holds them.
    static func rewriteSequentially(_ db: RecDatabase, _ record: ModelRecord, _ lists: [List]) throws {
        let prefix = ModelSchema.dataPrefix(record.name, record.generation) + [ModelSchema.neighbourTablePart]
        try db.environment.write { txn in
            var keys: [[UInt8]] = []
            try db.modelSchema.data.scanRaw(in: txn, prefix: prefix) { key, _ in
                keys.append(Array(key))
                return .next
            }
            for key in keys { _ = try db.modelSchema.data.delete(key, in: &txn) }
            let perValue = NeighbourLists.itemsPerValue
            for chunk in 0..<max(1, (lists.count + perValue - 1) / perValue) {
                let range = min(lists.count, chunk * perValue)..<min(lists.count, (chunk + 1) * perValue)
                try db.modelSchema.data.put(
                    ModelSchema.dataKey(record.name, record.generation, part: ModelSchema.neighboursPart, index: UInt32(chunk)),
                    NeighbourLists.sequentialValue(lists[range]), in: &txn)
            }
        }
    }

    /// 9,000 lists of 0 to 6 neighbours over a catalog of 10 items: three values, a short last one.
    @Test func everyListIsReadInBothLayoutsAcrossValues() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                for i in 0..<10 { try w.upsertItem("i\(i)", attributes: [:]) }
            }
            let lists: [List] = (0..<9_000).map { i in
                (0..<(i % 7)).map { k in (UInt32((i + k) % 10), Float(i) + Float(k) / 8) }
            }
            let record = ModelRecord(
                name: "knn", kind: "itemknn", parameters: ["neighbours": 6], generation: 1, space: nil,
                trainedAt: "", trainingSeconds: 0, events: 0)
            try db.writeNeighbourLists("knn", 1, lists)
            let indexed = try db.read { try $0.neighbourListSource(record) }
            #expect(indexed.indexed)
            #expect(Self.same(try Self.storedLists(db, record, count: 9_100), lists + Array(repeating: [], count: 100)))

            try Self.rewriteSequentially(db, record, lists)
            #expect(try db.read { try $0.neighbourListSource(record) }.indexed == false)
            #expect(Self.same(try Self.storedLists(db, record, count: 9_100), lists + Array(repeating: [], count: 100)))
        }
    }

    @Test func aRefreshWritesTheIndexedLayoutOfTheTrainedLists() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            let record = try db.refresh(.itemKNN(neighbours: 3), threads: 1).record
            let trained = ItemKNNModel(log: try db.read { try $0.interactionLog() }, neighbours: 3, threads: 1)
            #expect(Self.same(try Self.storedLists(db, record, count: trained.lists.count), trained.lists))
            let parts = try db.read { r in
                var parts = Set<UInt8>()
                try r.modelSchema.data.scanRaw(in: r.txn, prefix: ModelSchema.dataPrefix("itemknn", 1)) { key, _ in
                    parts.insert(key[key.count - 5])
                    return .next
                }
                return parts
            }
            #expect(parts == [ModelSchema.neighbourTablePart])
        }
    }

    /// A generation written by an older version (sequential lists) serves the same recommendations, similar items
    /// and pages as the same lists indexed.
    @Test func aGenerationInTheSequentialLayoutStillServes() throws {
        try RecommendTests.with { db in
            let record = try #require(try db.model("itemknn"))
            let itemLimit = try Self.itemLimit(db)
            func served() throws -> [[String]] {
                var pages: [[String]] = []
                for user in stride(from: 0, to: 30, by: 3) {
                    var request = RecommendRequest(.user("u\(user)"), count: 10, models: [ModelWeight("itemknn")])
                    request.strict = true
                    pages.append(try db.recommend(request).map(\.id))
                }
                pages.append(try db.recommend(RecommendRequest(.similarTo("t3"), count: 5)).map(\.id))
                pages.append(try db.read { r in try r.similarItems(to: ["c1", "c2"], k: 5).map { "#\($0.item)" } })
                return pages
            }
            let before = try served()
            #expect(before.allSatisfy { !$0.isEmpty })
            try Self.rewriteSequentially(db, record, try Self.storedLists(db, record, count: itemLimit))
            #expect(try db.read { try $0.neighbourListSource(record) }.indexed == false)
            #expect(try served() == before)
        }
    }
}
