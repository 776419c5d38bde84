import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` in the middle of a long `recctl import`: each batch is one transaction, so the database must hold
/// exactly the batches committed before the kill, stay consistent, and take new writes.
@Suite("recctl import killed with SIGKILL")
struct KilledImportTests {
    static let rows = 300_000
    static let batchSize = 5_000
    static let types = ["view", "click", "cart"]

    /// `user,item,type,time,value` where value is the row number (1-based), so stored events can be matched to rows.
    static func writeEvents(to path: String) throws {
        var text = "user,item,type,time,value\n"
        text.reserveCapacity(rows * 36)
        for row in 1...rows {
            text += "u\(row % 1000),i\(row % 5000),\(types[row % 3]),\(1_700_000_000 + row),\(row)\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func killedImportKeepsExactlyTheCommittedBatches() throws {
        try TemporaryDirectory.with { folder in
            let csv = folder.appending("events.csv")
            try Self.writeEvents(to: csv)
            let path = folder.appending("db")
            try RecCtl.succeed("init", "--db", path)

            // Watch the import from this process (LMDB readers in other processes see each committed batch) and
            // kill it once three batches are visible.
            var visibleAtKill = 0
            let result: RecCtl.Result
            do {
                let watcher = try RecDatabase.open(at: path)
                let child = try RecCtl.Child([
                    "import", "csv", csv, "--kind", "events", "--batch-size", String(Self.batchSize), "--db", path,
                ])
                let deadline = Date().addingTimeInterval(60)
                while child.process.isRunning && Date() < deadline {
                    visibleAtKill = try watcher.read { r in try r.eventCount }
                    if visibleAtKill >= 3 * Self.batchSize { break }
                    usleep(1_000)
                }
                kill(child.pid, SIGKILL)
                result = child.finish()
            }
            try #require(
                result.reason == .uncaughtSignal && result.status == SIGKILL,
                "the import was not killed mid-way (it ended on its own, or never got going): \(result)")
            #expect(visibleAtKill >= 3 * Self.batchSize && visibleAtKill < Self.rows)

            // Reopen: the database is consistent and holds whole batches only, rows 1…N in file order.
            let db = try RecDatabase.open(at: path)
            #expect(try db.checkIntegrity() == [])
            let count = try db.read { r in try r.eventCount }
            #expect(count % Self.batchSize == 0, "\(count) events is not a whole number of batches")
            #expect(count >= visibleAtKill && count < Self.rows)

            var next: UInt64 = 1
            var mismatches: [String] = []
            try db.read { r throws in
                try r.forEachEvent { event in
                    if event.sequence != next || event.value != Double(next), mismatches.count < 5 {
                        mismatches.append("event \(event.sequence) has value \(event.value), expected \(next)")
                    }
                    next += 1
                    return .next
                }
                #expect(try r.event(sequence: 1)?.value == 1)
                let last = try #require(try r.event(sequence: UInt64(count)))
                #expect(last.value == Double(count))
                #expect(last.type == Self.types[count % 3])
                #expect(try r.externalUserID(last.userID) == "u\(count % 1000)")
                #expect(try r.externalItemID(last.itemID) == "i\(count % 5000)")
                #expect(last.timestamp == Timestamp(seconds: Double(1_700_000_000 + count)))
                #expect(try r.event(sequence: UInt64(count) + 1) == nil)
            }
            #expect(mismatches == [])
            #expect(next - 1 == UInt64(count))

            let check = try RecCtl.run("check", "--db", path)
            #expect(check.status == 0, "\(check)")

            // The killed writer held LMDB's write lock; a new write goes through and continues the sequence.
            let sequence = try db.write { w in
                try w.addEvent(EventInput(user: "after", item: "kill", type: "view", timestamp: .now))
            }
            #expect(sequence == UInt64(count) + 1)
            #expect(try db.checkIntegrity() == [])
        }
    }

    /// `kill -9` midway, then the same command again: the re-run skips the rows the killed run committed (its
    /// resume marker is written in each batch's transaction) and imports the rest, so every row of the file is
    /// stored exactly once, with the event counts of the file.
    @Test func rerunAfterKillStoresEachRowExactlyOnce() throws {
        try TemporaryDirectory.with { folder in
            let csv = folder.appending("events.csv")
            try Self.writeEvents(to: csv)
            let path = folder.appending("db")
            try RecCtl.succeed("init", "--db", path)
            let command = [
                "import", "csv", csv, "--kind", "events", "--batch-size", String(Self.batchSize), "--db", path, "--json",
            ]

            var visibleAtKill = 0
            do {
                let watcher = try RecDatabase.open(at: path)
                let child = try RecCtl.Child(command)
                let deadline = Date().addingTimeInterval(60)
                while child.process.isRunning && Date() < deadline {
                    visibleAtKill = try watcher.read { r in try r.eventCount }
                    if visibleAtKill >= 4 * Self.batchSize { break }
                    usleep(1_000)
                }
                kill(child.pid, SIGKILL)
                let result = child.finish()
                try #require(
                    result.reason == .uncaughtSignal && result.status == SIGKILL,
                    "the import was not killed mid-way: \(result)")
            }
            let committed = try RecDatabase.open(at: path).read { r in try r.eventCount }
            #expect(committed >= visibleAtKill && committed < Self.rows && committed % Self.batchSize == 0)

            let rerun = try RecCtl.Child(command).finish(timeout: 300)
            #expect(rerun.status == 0, "\(rerun)")
            #expect(rerun.json["rows_skipped"] as? Int == committed, "\(rerun)")
            #expect(rerun.json["rows_imported"] as? Int == Self.rows - committed)
            // A third run adds nothing.
            let third = try RecCtl.Child(command).finish(timeout: 300).json
            #expect(third["rows_imported"] as? Int == 0 && third["rows_skipped"] as? Int == Self.rows, "\(third)")

            let db = try RecDatabase.open(at: path)
            #expect(try db.checkIntegrity() == [])
            var counts: [Int] = Array(repeating: 0, count: Self.rows + 1)
            var byType: [String: Int] = [:]
            try db.read { r throws in
                #expect(try r.eventCount == Self.rows)
                try r.forEachEvent { event in
                    counts[Int(event.value)] += 1
                    byType[event.type, default: 0] += 1
                    return .next
                }
                // The stored counters agree with the log.
                #expect(try r.eventCountsByType() == byType)
            }
            #expect(counts.dropFirst().allSatisfy { $0 == 1 }, "rows stored other than once")
            let expected = Dictionary(grouping: 1...Self.rows) { Self.types[$0 % 3] }.mapValues(\.count)
            #expect(byType == expected)
            try RecCtl.succeed("check", "--db", path)
        }
    }
}
