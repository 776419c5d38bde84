import RecDB
import RecReplication
import RecTestSupport
import RecWire
import Testing

@Suite struct LogEntryTests {
    @Test func anEntrySurvivesItsEncoding() throws {
        let entry = LogEntry(
            query: "EVENT view USER $u ITEM 'i1'", parameters: ["u": .string("u\"1\n")],
            acceptedAt: Timestamp(milliseconds: 1_765_000_000_123), origin: "n1", writeID: "n1-x-7")
        #expect(try LogEntry(decoding: entry.encoded) == entry)
    }

    @Test func aBrokenEntryIsNamedNotCrashedOn() {
        expectRecDBError(.malformedInput) { _ = try LogEntry(decoding: Array("[1,2]".utf8)) }
        expectRecDBError(.malformedInput) { _ = try LogEntry(decoding: Array(#"{"v":2,"q":"x"}"#.utf8)) }
        expectRecDBError(.malformedInput) { _ = try LogEntry(decoding: Array(#"{"v":1,"q":"x","p":{}}"#.utf8)) }
    }

    @Test func theAppliedSequenceCommitsWithTheBatchAndOnlyMovesForward() throws {
        try TemporaryDirectory.with { folder in
            let db = try RecDatabase.open(at: folder.appending("db"), create: true)
            #expect(try db.appliedStreamSequence == 0)
            let statement = try db.prepare("EVENT view USER 'u1' ITEM 'i1'")
            let outcomes = try Timestamp.$pinned.withValue(Timestamp(milliseconds: 1_000)) {
                try db.writeBatch([statement]) { w, s in try db.execute(s, in: &w) } finally: { w in
                    try w.recordAppliedStreamSequence(7)
                }
            }
            #expect(outcomes.count == 1)
            #expect(try db.appliedStreamSequence == 7)
            // The pinned time is the event's time.
            let history = try db.execute(db.prepare("SHOW USER 'u1' HISTORY LIMIT 1"))
            #expect(history.jsonText.contains("1970-01-01T00:00:01.000Z"))
            // A batch whose `finally` throws commits nothing.
            #expect(throws: RecDBError.self) {
                _ = try db.writeBatch([statement]) { w, s in try db.execute(s, in: &w) } finally: { w in
                    try w.recordAppliedStreamSequence(3)
                }
            }
            #expect(try db.appliedStreamSequence == 7)
        }
    }
}
