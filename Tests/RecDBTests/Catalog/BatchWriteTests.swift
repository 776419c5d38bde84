import Foundation
import Testing

@testable import RecDB

/// `RecDatabase.writeBatch` and `CatalogWriter.savepoint`: statements that share one write transaction (recd's group
/// commit) each roll back alone, and the good ones run once.
@Suite("Batched writes")
struct BatchWriteTests {
    /// A session id over the limit: `EVENT` checks it only after creating its user and item.
    static let longSession = String(repeating: "s", count: CatalogLimits.maxIDBytes + 1)

    /// `n` statements, every `stride`-th one bad: alternately an unknown event type (fails before writing) and an
    /// event that creates user `half-i` and item `half-item-i` and then fails on its session id.
    static func statements(_ db: RecDatabase, count n: Int, badEvery stride: Int) throws -> [(Statement, good: Bool)] {
        try (0..<n).map { i in
            if i % stride == stride - 1 {
                let text = (i / stride) % 2 == 0
                    ? "EVENT nosuchtype USER 'bad-\(i)' ITEM 'g0'"
                    : "EVENT view USER 'half-\(i)' ITEM 'half-item-\(i)' SESSION '\(longSession)'"
                return (try db.prepare(text), false)
            }
            let text = i % 2 == 0
                ? "UPSERT ITEM 'g\(i)' SET title = 'Good \(i)', category = 'Books/Thriller'"
                : "EVENT purchase USER 'gu\(i)' ITEM 'g0' SESSION 'gs\(i)'"
            return (try db.prepare(text), true)
        }
    }

    @Test func failingStatementsRollBackAloneAndTheGoodOnesRunOnce() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let batch = try Self.statements(db, count: 60, badEvery: 5)
            var runs = [Int](repeating: 0, count: batch.count)
            let outcomes = try db.writeBatch(Array(batch.enumerated())) { w, element in
                runs[element.offset] += 1
                return try db.execute(element.element.0, in: &w)
            }
            #expect(runs == [Int](repeating: 1, count: batch.count), "each statement runs exactly once")
            for (index, (outcome, (_, good))) in zip(outcomes, batch).enumerated() {
                switch outcome {
                case .success: #expect(good, "statement \(index) should have failed")
                case .failure(let error): #expect(!good, "statement \(index) failed: \(error)")
                }
            }
            let goodEvents = batch.indices.filter { batch[$0].good && $0 % 2 == 1 }.count
            let goodItems = batch.indices.filter { batch[$0].good && $0 % 2 == 0 }.count
            try db.read { r throws in
                for i in batch.indices where !batch[i].good {
                    #expect(try r.userID(for: "half-\(i)") == nil, "a failed EVENT left its user")
                    #expect(try r.itemID(for: "half-item-\(i)") == nil, "a failed EVENT left its item")
                    #expect(try r.userID(for: "bad-\(i)") == nil)
                }
                #expect(try r.itemCount == goodItems)
                #expect(try r.userCount == goodEvents)
                #expect(try r.eventCount == goodEvents)
                let byType = try r.eventCountsByType()
                #expect(byType["purchase"] == goodEvents && byType["view"] ?? 0 == 0, "\(byType)")
                // Id counters rolled back with the failed statements: the good ones' ids are dense.
                let users = try batch.indices.filter { batch[$0].good && $0 % 2 == 1 }.map {
                    try #require(try r.userID(for: "gu\($0)"))
                }
                #expect(users == Array(0..<UInt32(goodEvents)))
                #expect(try r.lastEventSequence() == UInt64(goodEvents))
                // One item version for the transaction, whose change log lists exactly the good items.
                #expect(try r.itemsVersion == 1)
                var changed: [UInt32] = []
                try r.schema.itemChanges.scanRaw(in: r.txn) { key, value in
                    #expect(key.loadBigEndianUInt64(at: 0) == 1 && value[0] == 1)
                    for offset in stride(from: 1, to: value.count, by: 4) { changed.append(value.loadBigEndianUInt32(at: offset)) }
                    return .next
                }
                #expect(changed == Array(0..<UInt32(goodItems)))
            }
            #expect(try db.checkIntegrity() == [])
        }
    }

    /// A savepoint that fails after allocating ids and writing items leaves the writer's counters as they were, so
    /// what the transaction flushes at its end agrees with what it wrote.
    @Test func aFailedSavepointRestoresTheWritersCounters() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                try w.addEvent(EventInput("u0", "view", "i0", at: 0))
                let failed = try w.attempt { w throws in
                    try w.addEvent(EventInput("u1", "view", "i1", at: 1))
                    try w.upsertItem("i2", attributes: ["title": .string("Two")])
                    throw DeliberateFailure()
                }
                #expect(throws: DeliberateFailure.self) { try failed.get() }
                try w.addEvent(EventInput("u2", "view", "i3", at: 2))
            }
            try db.read { r throws in
                #expect(try r.userID(for: "u1") == nil)
                #expect(try r.itemID(for: "i1") == nil)
                #expect(try r.itemID(for: "i2") == nil)
                #expect(try r.userID(for: "u2") == 1)
                #expect(try r.itemID(for: "i3") == 1)
                #expect(try r.eventCountsByType()["view"] == 2)
                #expect(try r.lastEventSequence() == 2)
            }
            #expect(try db.checkIntegrity() == [])
        }
    }

    /// Big upserts between bad statements in a 1 MiB map: the map grows (the batch runs again), and the outcome is
    /// the same as in a roomy map.
    @Test func aBatchThatFillsTheMapGrowsItAndStaysAtomic() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.initialMapSize = 1 << 20
            options.storage.noSync = true
            let db = try folder.createDatabase(options: options)
            let payload = String(repeating: "x", count: 60_000)
            let texts = (0..<60).map { i in
                i % 6 == 5
                    ? "EVENT view USER 'half-\(i)' ITEM 'half-item-\(i)' SESSION '\(Self.longSession)'"
                    : "UPSERT ITEM 'big-\(i)' SET title = 'Big \(i)', description = '\(payload)'"
            }
            let statements = try texts.map { try db.prepare($0) }
            var runs = 0
            let outcomes = try db.writeBatch(statements) { w, statement in
                runs += 1
                return try db.execute(statement, in: &w)
            }
            #expect(runs > statements.count, "3.6 MB in a 1 MiB map must have grown the map and run the batch again")
            #expect(outcomes.map { (try? $0.get()) != nil } == (0..<60).map { $0 % 6 != 5 })
            try db.read { r throws in
                #expect(try r.itemCount == 50)
                #expect(try r.userCount == 0)
            }
            #expect(try db.checkIntegrity() == [])
        }
    }

    /// Batch throughput with savepoints against the abort-and-rerun loop recd used before (kept here only to
    /// compare): 1,024 statements with 1 in 20 bad. Prints the numbers; runs only with `RECDB_MEASURE=1`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RECDB_MEASURE"] != nil))
    func measureBatchThroughput() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try folder.createDatabase(options: options)
            for round in 0..<3 {
                // Fresh ids each round ('g…' becomes 'r0g…'), so every round creates what it writes.
                let statements = try Self.statements(db, count: 1024, badEvery: 20).map {
                    try db.prepare($0.0.text.replacingOccurrences(of: "'g", with: "'r\(round)g"))
                }
                // Before: one transaction; a failure aborts it and the batch runs again without the failed statement.
                var executions = 0
                var failed = Set<Int>()
                var started = Date()
                while true {
                    do {
                        try db.write { w in
                            for (index, statement) in statements.enumerated() where !failed.contains(index) {
                                executions += 1
                                do { _ = try db.execute(statement, in: &w) } catch { throw StatementFailed(index: index) }
                            }
                            throw Rollback()  // Measure only: commit nothing, the savepoint run writes the same.
                        }
                    } catch let failure as StatementFailed {
                        failed.insert(failure.index)
                        continue
                    } catch is Rollback {}
                    break
                }
                let before = Date().timeIntervalSince(started)
                started = Date()
                var runs = 0
                let outcomes = try db.writeBatch(statements) { w, statement in
                    runs += 1
                    return try db.execute(statement, in: &w)
                }
                let after = Date().timeIntervalSince(started)
                #expect(outcomes.filter { (try? $0.get()) == nil }.count == failed.count)
                print(
                    String(
                        format: "batch of %d, %d bad: rerun loop %d executions %.1f ms; savepoints %d executions %.1f ms",
                        statements.count, failed.count, executions, before * 1000, runs, after * 1000))
            }
        }
    }

    /// What a savepoint per statement costs when nothing fails: 1,024 good statements in one plain transaction
    /// against `writeBatch`. Prints the numbers; runs only with `RECDB_MEASURE=1`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RECDB_MEASURE"] != nil))
    func measureSavepointOverhead() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try folder.createDatabase(options: options)
            for round in 0..<6 {
                let statements = try Self.statements(db, count: 1024, badEvery: 4096).map {
                    try db.prepare($0.0.text.replacingOccurrences(of: "'g", with: "'r\(round)g"))
                }
                let started = Date()
                if round % 2 == 0 {
                    try db.write { w in for statement in statements { _ = try db.execute(statement, in: &w) } }
                } else {
                    _ = try db.writeBatch(statements) { w, statement in try db.execute(statement, in: &w) }
                }
                print(
                    String(
                        format: "1024 good statements, %@: %.1f ms", round % 2 == 0 ? "one transaction" : "savepoints",
                        Date().timeIntervalSince(started) * 1000))
            }
        }
    }

    private struct StatementFailed: Error { var index: Int }
    private struct Rollback: Error {}
}
