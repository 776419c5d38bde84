import Foundation
import Testing

@testable import RecDB

/// Re-runs of an import: each batch's transaction records how many rows of its file are committed, so running the
/// same import again over the same file adds each row once; a changed file or another mapping is not skipped.
@Suite("Import: re-runs resume")
struct ResumeImportTests {
    static let eventMap = try! FieldMap(kind: .events, mappings: [])

    static func storedValues(_ db: RecDatabase) throws -> [Int] {
        try db.read { r in try r.storedEvents().map { Int($0.value) } }
    }

    @Test(arguments: [1, 3, 4, 100])
    func rerunOfTheSameFileAddsNothing(batchSize: Int) throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 10))
            let db = try folder.createDatabase()
            let first = try importFile("csv", path, into: db, map: Self.eventMap, batchSize: batchSize)
            #expect(first.rowsImported == 10 && first.rowsSkipped == 0)

            let second = try importFile("csv", path, into: db, map: Self.eventMap, batchSize: batchSize)
            #expect(second.rowsRead == 10)
            #expect(second.rowsSkipped == 10)
            #expect(second.rowsImported == 0)
            #expect(second.batchesCommitted == 0)
            #expect(second.notes.contains { $0.contains("skipped the first 10 rows") }, "\(second.notes)")
            #expect(try Self.storedValues(db) == Array(1...10))
            #expect(try db.read { r in try r.eventCount } == 10)
            try expectConsistent(db)
        }
    }

    @Test func rerunAfterAStopImportsTheRestOnce() throws {
        try TemporaryDirectory.with { folder in
            // Row 8 is bad: batches of 3 commit rows 1–6, then the import stops.
            let path = try folder.write(
                "events.csv", numberedEventsCSV(rows: 10, replacing: [8: "u1,i1,view,1700000008,eight"]))
            let db = try folder.createDatabase()
            expectImportStopped(.malformedInput) {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 3)
            }
            #expect(try Self.storedValues(db) == Array(1...6))

            // The same file again with --skip-bad: rows 1–6 are skipped, 7, 9 and 10 imported, 8 rejected.
            let report = try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 3, skipBad: true)
            #expect(report.rowsSkipped == 6)
            #expect(report.rowsImported == 3)
            #expect(report.rowsRejected == 1)
            #expect(try Self.storedValues(db) == [1, 2, 3, 4, 5, 6, 7, 9, 10])

            // A third run skips everything, the rejected row included (its batch recorded it).
            let third = try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 3, skipBad: true)
            #expect(third.rowsSkipped == 10 && third.rowsImported == 0 && third.rowsRejected == 0)
            #expect(try Self.storedValues(db) == [1, 2, 3, 4, 5, 6, 7, 9, 10])
            try expectConsistent(db)
        }
    }

    @Test func changedFileIsImportedFromItsFirstRow() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 6))
            let db = try folder.createDatabase()
            try importFile("csv", path, into: db, map: Self.eventMap)

            // Same size, different content and time: not the same file.
            try folder.write("events.csv", numberedEventsCSV(rows: 6).replacingOccurrences(of: "u1,", with: "u5,"))
            let report = try importFile("csv", path, into: db, map: Self.eventMap)
            #expect(report.rowsSkipped == 0)
            #expect(report.rowsImported == 6)
            #expect(report.notes.contains { $0.contains("changed since an earlier run") }, "\(report.notes)")
            #expect(try Self.storedValues(db) == Array(1...6) + Array(1...6))

            // Its new marker makes the next run skip it.
            #expect(try importFile("csv", path, into: db, map: Self.eventMap).rowsSkipped == 6)
            try expectConsistent(db)
        }
    }

    @Test func anotherMappingOfTheSameFileIsNotSkipped() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 4))
            let db = try folder.createDatabase()
            try importFile("csv", path, into: db, map: Self.eventMap)
            let asClicks = try FieldMap(kind: .events, mappings: ["user=item", "item=user"])
            let report = try importFile("csv", path, into: db, map: asClicks)
            #expect(report.rowsSkipped == 0 && report.rowsImported == 4)
            #expect(try db.read { r in try r.eventCount } == 8)
        }
    }

    @Test func resumeOffImportsEveryRowAgain() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 5))
            let db = try folder.createDatabase()
            try importFile("csv", path, into: db, map: Self.eventMap)
            var options = importOptions()
            options.resume = false
            let report = try Importer.run(
                ImportFormats.make(name: "csv", path: path, map: Self.eventMap), into: db, options: options)
            #expect(report.rowsImported == 5 && report.rowsSkipped == 0)
            #expect(try Self.storedValues(db) == Array(1...5) + Array(1...5))
        }
    }

    /// A format that reads several files (MovieLens: items, users, ratings) resumes each file on its own.
    @Test func multiFileFormatResumesPerFile() throws {
        try TemporaryDirectory.with { folder in
            try folder.write("ml/u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
            try folder.write("ml/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
            let ratings = (1...7).map { "\($0 % 2 + 1)\t1\t\($0 % 5 + 1)\t\(881_250_949 + $0)" }
            try folder.write("ml/u.data", ratings.joined(separator: "\n") + "\n")
            let db = try folder.createDatabase()
            let first = try importFile("movielens", folder.appending("ml"), into: db, batchSize: 2)
            #expect(first.rowsImported == 10)
            let again = try importFile("movielens", folder.appending("ml"), into: db, batchSize: 2)
            #expect(again.rowsSkipped == 10 && again.rowsImported == 0)
            #expect(try db.read { r in try r.eventCount } == 7)
            try expectConsistent(db)
        }
    }
}
