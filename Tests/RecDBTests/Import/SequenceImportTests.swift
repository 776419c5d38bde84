import Foundation
import Testing

@testable import RecDB

@Suite("Import: sequences (S3-Rec / SASRec layout)")
struct SequenceImportTests {
    /// Three users; line 3 names a user without items; user 1 comes back on line 5.
    static let sequences = "1 10 11 12\n2 11\t13\n7\n\n1 14\n3 12 13 10 11\n"

    @Test func sequencesImportInOrderOneSecondApart() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.gzip(folder.write("Toy.txt", Self.sequences))
            let db = try folder.createDatabase()
            let report = try importFile("s3rec", path, into: db, batchSize: 2, skipBad: true)
            #expect(report.rowsImported == 4)
            #expect(report.rowsRejected == 1)
            #expect(report.rejections.first?.location == "\(path):3")
            #expect(report.rejections.first?.reason.contains("no items") == true)
            try db.read { r throws in
                #expect(try r.userCount == 3)
                #expect(try r.itemCount == 5)
                #expect(try r.eventCountsByType() == ["purchase": 10])
                let base = millis("2018-01-01T00:00:00Z")
                // Line 5 continues user 1 after line 1's third second.
                #expect(
                    try r.storedEvents(ofUser: "1") == [10, 11, 12, 14].enumerated().map {
                        StoredEvent(
                            user: "1", item: "\($0.element)", type: "purchase", value: 1,
                            time: base + Int64($0.offset) * 1000)
                    })
            }
            try expectConsistent(db)

            // The leave-last-out split holds out each user's last item (test) and second-last (validation).
            let split = try db.read { r in EvaluationSplit(try r.interactionLog(), kind: .leaveLastOut) }
            let ids = try db.read { r in
                (try r.userID(for: "3")!, try r.itemID(for: "11")!, try r.itemID(for: "10")!)
            }
            #expect(split.test[ids.0] == [ids.1])
            #expect(split.validation[ids.0] == [ids.2])

            // A re-run adds nothing.
            let again = try importFile("sequences", path, into: db, batchSize: 2, skipBad: true)
            #expect(again.rowsImported == 0 && again.rowsSkipped == 5)
            #expect(try db.read { r in try r.eventCount } == 10)
        }
    }

    @Test func aLineWithoutItemsStopsTheImportAtItsLine() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("Toy.txt", Self.sequences)
            let db = try folder.createDatabase()
            expectImportStopped(.malformedInput, at: "\(path):3") {
                try importFile("sequences", path, into: db, batchSize: 1)
            }
            #expect(try db.read { r in try r.eventCount } == 5)
        }
    }

    @Test func theEventTypeIsChosenByTheCaller() throws {
        try TemporaryDirectory.with { folder in
            _ = try folder.write("seq/Toy.txt", "u1 a b\n")
            let db = try folder.createDatabase()
            let source = try ImportFormats.make(name: "sequences", path: folder.appending("seq"), eventType: "view")
            _ = try Importer.run(source, into: db, options: importOptions())
            #expect(try db.read { r in try r.eventCountsByType() } == ["view": 2])
        }
    }
}
