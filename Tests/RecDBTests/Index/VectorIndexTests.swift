import Foundation
import Testing

@testable import RecDB

@Suite("Vector index in LMDB")
struct VectorIndexTests {
    struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
        }
        mutating func vector(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
    }

    /// A database with `count` items `i0…` carrying random vectors in space `s` (dimension 16).
    static func makeDatabase(
        _ folder: TemporaryDirectory, count: Int, metric: Metric = .l2, seed: UInt64 = 1
    ) throws -> (RecDatabase, [[Float]]) {
        let db = try folder.createDatabase()
        try db.createSpace("s", dimension: 16, metric: metric, parameters: HNSWParameters(m: 8, efConstruction: 64))
        var generator = Generator(state: seed)
        let vectors = (0..<count).map { _ in generator.vector(16) }
        try db.write { w in
            for (i, vector) in vectors.enumerated() {
                try w.upsertItem("i\(i)", attributes: ["category": .string(i % 10 == 0 ? "Rare" : "Common")])
                try w.setVector(vector, space: "s", item: "i\(i)")
            }
        }
        return (db, vectors)
    }

    static func exact(_ vectors: [[Float]], _ query: [Float], k: Int, allowed: (Int) -> Bool = { _ in true }) -> [UInt32] {
        var scored: [(Float, UInt32)] = []
        for (index, vector) in vectors.enumerated() where allowed(index) {
            var sum: Float = 0
            for i in 0..<vector.count {
                let d = vector[i] - query[i]
                sum += d * d
            }
            scored.append((sum, UInt32(index)))
        }
        scored.sort { $0.0 < $1.0 }
        return scored.prefix(k).map { $0.1 }
    }

    @Test func exactSearchBeforeAnyIndexMatchesBruteForce() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeDatabase(folder, count: 300)
            var generator = Generator(state: 99)
            for _ in 0..<10 {
                let query = generator.vector(16)
                let found = try db.read { try $0.nearest(in: "s", to: query, k: 5) }.map(\.node)
                #expect(found == Self.exact(vectors, query, k: 5))
            }
        }
    }

    @Test func builtIndexReachesRecallAndFiltersNeverLeak() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeDatabase(folder, count: 2000)
            let report = try db.buildIndex(space: "s")
            #expect(report.nodes == 2000 && report.generation == 1)
            var generator = Generator(state: 5)
            var hits = 0
            let rare = try db.read { r in AllowedSet(try r.items(inCategory: "Rare")) }
            for _ in 0..<50 {
                let query = generator.vector(16)
                let found = try db.read { try $0.nearest(in: "s", to: query, k: 10, ef: 64) }.map(\.node)
                hits += Set(found).intersection(Self.exact(vectors, query, k: 10)).count
                // Filtered: every result allowed, and exact because the allowed set is small.
                let filtered = try db.read { try $0.nearest(in: "s", to: query, k: 10, allowed: rare) }.map(\.node)
                #expect(filtered.allSatisfy { rare.contains($0) })
                #expect(filtered == Self.exact(vectors, query, k: 10) { $0 % 10 == 0 })
            }
            #expect(Double(hits) / 500 >= 0.95)
            // A filtered graph walk (allowed set above the exact limit) never returns a disallowed node either.
            let common = try db.read { r in AllowedSet(try r.items(inCategory: "Common")) }
            let walked = try db.read { r in
                try r.withVectorIndex(space: "s") { index -> [UInt32] in
                    index.exactSearchLimit = 0
                    return try index.search(generator.vector(16), k: 10, allowed: common).map(\.node)
                }
            }
            #expect(walked.count == 10 && walked.allSatisfy { common.contains($0) })
        }
    }

    @Test func pendingChangesAreSearchableBeforeLinking() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeDatabase(folder, count: 500)
            try db.buildIndex(space: "s")
            let target = vectors[7].map { $0 + 0.001 }
            // A new item and a moved one are found at once, by the exact scan beside the graph.
            try db.write { w in
                try w.upsertItem("new", attributes: [:])
                try w.setVector(target, space: "s", item: "new")
                try w.setVector(vectors[7].map { -$0 }, space: "s", item: "i8")
            }
            let newID = try db.read { try $0.itemID(for: "new")! }
            let found = try db.read { try $0.nearest(in: "s", to: target, k: 2) }.map(\.node)
            #expect(found == [newID, 7])
            let moved = try db.read { try $0.nearest(in: "s", to: vectors[8], k: 10) }.map(\.node)
            #expect(!moved.contains(8))
            // Deleting an item removes it from results immediately.
            try db.write { w in _ = try w.deleteItem("i7") }
            let afterDelete = try db.read { try $0.nearest(in: "s", to: vectors[7], k: 5) }.map(\.node)
            #expect(!afterDelete.contains(7))
            // A rebuild takes the changes in and clears the pending set.
            try db.buildIndex(space: "s")
            try db.read { r in
                try r.withVectorIndex(space: "s") { index in #expect(index.pending.isEmpty) }
            }
            let rebuilt = try db.read { try $0.nearest(in: "s", to: target, k: 1) }.map(\.node)
            #expect(rebuilt == [newID])
        }
    }

    @Test func abortedWriteLeavesNoVectorAndReadersKeepTheirSnapshot() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeDatabase(folder, count: 200)
            try db.buildIndex(space: "s")
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                try db.write { w in
                    try w.upsertItem("ghost", attributes: [:])
                    try w.setVector(vectors[3], space: "s", item: "ghost")
                    throw Abort()
                }
            }
            #expect(try db.read { try $0.nearest(in: "s", to: vectors[3], k: 1) }.map(\.node) == [3])
            // A reader that began before a change and a rebuild keeps seeing the old vectors.
            try db.read { r in
                let before = try r.nearest(in: "s", to: vectors[3], k: 1).map(\.node)
                try db.write { w in _ = try w.removeVector(space: "s", id: "i3") }
                try db.buildIndex(space: "s")
                #expect(try r.nearest(in: "s", to: vectors[3], k: 1).map(\.node) == before)
            }
            #expect(try db.read { try $0.nearest(in: "s", to: vectors[3], k: 1) }.map(\.node) != [3])
        }
    }

    @Test func badVectorsAndUnknownSpacesAreClearErrors() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeDatabase(folder, count: 3, metric: .cosine)
            func expectCode(_ code: RecDBError.Code, _ body: () throws -> Void) {
                do {
                    try body()
                    Issue.record("expected \(code)")
                } catch let error as RecDBError {
                    #expect(error.code == code, "\(error)")
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
            expectCode(.invalidArgument) { try db.write { w in try w.setVector([1, 2], space: "s", item: "i0") } }
            expectCode(.invalidArgument) {
                try db.write { w in try w.setVector([Float.nan] + Array(repeating: 0, count: 15), space: "s", item: "i0") }
            }
            expectCode(.invalidArgument) {
                try db.write { w in try w.setVector(Array(repeating: 0, count: 16), space: "s", item: "i0") }
            }
            expectCode(.notFound) { try db.write { w in try w.setVector(Array(repeating: 1, count: 16), space: "x", item: "i0") } }
            expectCode(.notFound) { try db.write { w in try w.setVector(Array(repeating: 1, count: 16), space: "s", item: "nope") } }
            expectCode(.notFound) { _ = try db.read { try $0.nearest(in: "x", to: [1], k: 1) } }
            expectCode(.invalidArgument) { _ = try db.read { try $0.nearest(in: "s", to: [1], k: 1) } }
            expectCode(.alreadyExists) { try db.createSpace("s", dimension: 4, metric: .l2) }
            expectCode(.invalidArgument) { try db.createSpace("bad name!", dimension: 4, metric: .l2) }
            // The data already stored is untouched by the failures.
            #expect(try db.read { try $0.vectorCount(space: "s") } == 3)
        }
    }
}

@Suite("Vector index churn")
struct VectorIndexChurnTests {
    @Test func linkingDeletesAndReinsertsKeepsRecallAndInvariants() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try VectorIndexTests.makeDatabase(folder, count: 1500)
            try db.buildIndex(space: "s")
            #expect(try db.checkIndex(space: "s").problems.isEmpty)
            // Delete 8 % of the items and insert their vectors again under new ids; move a few others.
            var renamed: [UInt32: UInt32] = [:]
            try db.write { w in
                for victim in stride(from: 0, to: 1500, by: 12) {
                    _ = try w.deleteItem("i\(victim)")
                    let id = try w.upsertItem("again\(victim)", attributes: [:])
                    try w.setVector(vectors[victim], space: "s", item: "again\(victim)")
                    renamed[UInt32(victim)] = id
                }
            }
            for round in 0..<2 {
                let report = try db.buildIndex(space: "s")
                #expect(report.generation == UInt32(2 + round))
                let check = try db.checkIndex(space: "s")
                #expect(check.problems.isEmpty, "\(check.problems)")
                let stats = try db.indexStats(space: "s")
                #expect(stats.pending == 0)
                #expect(stats.tombstones == (round == 0 ? 125 : 125))
            }
            var generator = VectorIndexTests.Generator(state: 11)
            var hits = 0
            for _ in 0..<40 {
                let query = generator.vector(16)
                let truth = VectorIndexTests.exact(vectors, query, k: 10).map { renamed[$0] ?? $0 }
                let found = try db.read { try $0.nearest(in: "s", to: query, k: 10, ef: 64) }.map(\.node)
                #expect(found.allSatisfy { renamed[$0] == nil })  // deleted ids never come back
                hits += Set(found).intersection(truth).count
            }
            #expect(Double(hits) / 400 >= 0.95)
            // Past the tombstone ratio a build starts over: no tombstones remain.
            try db.write { w in
                for victim in stride(from: 1, to: 1500, by: 7) where victim % 12 != 0 { _ = try w.deleteItem("i\(victim)") }
            }
            try db.buildIndex(space: "s")
            #expect(try db.indexStats(space: "s").tombstones == 0)
            #expect(try db.checkIndex(space: "s").problems.isEmpty)
        }
    }
}

@Suite("Clean-up at open")
struct CleanupAtOpenTests {
    @Test func partialGenerationOfALiveBuildSurvivesAnOpenAndADeadOnesDoesNot() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try VectorIndexTests.makeDatabase(folder, count: 50)
            try db.buildIndex(space: "s")
            let space = try #require(try db.read { try $0.space("s") })
            let partial = VectorKeys.ann(space.id, .items, 9, .vectors, 0)
            func plant(holder: Int32) throws {
                try db.environment.write { txn in
                    try db.vectorSchema.ann.put(partial, [1, 2, 3, 4], in: &txn)
                    var writer = BinaryWriter()
                    writer.write(UInt32(bitPattern: holder))
                    try db.schema.meta.put(RecDatabase.jobKey(RecDatabase.indexJob("s", .items)), writer.bytes, in: &txn)
                }
            }
            func partialSurvivesReopen() throws -> Bool {
                let reopened = try RecDatabase.open(at: db.path)
                return try reopened.read { r in try reopened.vectorSchema.ann.contains(partial, in: r.txn) }
            }
            try plant(holder: 1)  // init: alive, and not this process
            #expect(try partialSurvivesReopen())
            try plant(holder: Int32.max - 7)  // no such process: the build died
            #expect(try !partialSurvivesReopen())
        }
    }
}
