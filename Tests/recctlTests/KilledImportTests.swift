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
}
