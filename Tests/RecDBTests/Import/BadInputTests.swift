import Foundation
import Testing

@testable import RecDB

/// Malformed, truncated and missing input: an import stops at the first bad row with its `file:line`, the
/// database keeps exactly the batches committed before it, and it stays consistent.
@Suite("Import: bad input")
struct BadInputTests {
    static let eventMap = try! FieldMap(kind: .events, mappings: [])

    /// The values (row numbers) of every stored event, in write order.
    static func storedValues(_ db: RecDatabase) throws -> [Int] {
        try db.read { r in try r.storedEvents().map { Int($0.value) } }
    }

    // MARK: - A malformed row

    @Test(arguments: [1, 3, 4, 7, 100])
    func malformedRowStopsWithTheBatchesBeforeIt(batchSize: Int) throws {
        try TemporaryDirectory.with { folder in
            // Row 8 is on line 9 (after the header).
            let path = try folder.write(
                "events.csv", numberedEventsCSV(rows: 10, replacing: [8: "u1,i1,view,1700000008,eight"]))
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):9") {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: batchSize)
            }
            #expect(stopped?.error.message.contains("column 'value' is not a number: 'eight'") == true)
            #expect(stopped?.description.hasPrefix("\(path):9: ") == true)

            // The seven good rows before it fill whole batches; only those are committed, in order.
            let committed = 7 / batchSize * batchSize
            #expect(stopped?.report.rowsImported == committed)
            #expect(stopped?.report.batchesCommitted == 7 / batchSize)
            #expect(stopped?.report.rowsRejected == 1)
            #expect(try Self.storedValues(db) == Array(0..<committed).map { $0 + 1 })
            try expectConsistent(db)
        }
    }

    @Test func skipBadImportsTheGoodRowsAndCountsTheRest() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "events.csv",
                numberedEventsCSV(
                    rows: 10,
                    replacing: [
                        3: "u1,i1,view,yesterday,3",
                        8: "u1,i1,view,1700000008,eight",
                        9: ",i1,view,1700000009,9",
                    ]))
            let db = try folder.createDatabase()
            var options = importOptions(batchSize: 3, skipBad: true)
            options.keptRejections = 2
            let report = try Importer.run(
                ImportFormats.make(name: "csv", path: path, map: Self.eventMap), into: db, options: options)

            #expect(report.rowsRead == 10)
            #expect(report.rowsImported == 7)
            #expect(report.rowsRejected == 3)
            #expect(report.batchesCommitted == 3)
            // All are counted; only the first `keptRejections` are kept.
            #expect(report.rejections.map(\.location) == ["\(path):4", "\(path):9"])
            #expect(report.rejections[0].reason.contains("column 'time' is not a time: 'yesterday'"))
            #expect(try Self.storedValues(db) == [1, 2, 4, 5, 6, 7, 10])
            try expectConsistent(db)
        }
    }

    @Test func unknownEventTypeNamesTheRowAndTheFix() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write(
                "events.csv", numberedEventsCSV(rows: 4, replacing: [2: "u1,i1,share,1700000002,2"]))
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):3") {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 1)
            }
            #expect(stopped?.error.message.contains("recctl types set share=WEIGHT") == true)
            #expect(try Self.storedValues(db) == [1])

            let retry = try folder.createDatabase("retry")
            try retry.defineEventType(EventType(name: "share", weight: 1.5))
            #expect(try importFile("csv", path, into: retry, map: Self.eventMap).rowsImported == 4)
            try expectConsistent(db)
            try expectConsistent(retry)
        }
    }

    // MARK: - Invalid UTF-8

    /// The same rows as CSV and as JSON Lines, with bytes that are not UTF-8 in the user id of row 4.
    static func invalidUTF8Fixture(_ format: String, in folder: TemporaryDirectory) throws -> (path: String, line: Int)
    {
        let broken: [UInt8] = [0x75, 0xC3, 0x28, 0xFF]  // "u", a lead byte without its continuation, 0xFF
        var bytes: [UInt8] = []
        if format == "csv" {
            bytes += Array("user,item,type,time,value\n".utf8)
            for row in 1...6 {
                bytes += row == 4 ? broken : Array("u\(row % 4)".utf8)
                bytes += Array(",i\(row),view,\(1_700_000_000 + row),\(row)\n".utf8)
            }
            return (try folder.write("events.csv", bytes: bytes), 5)
        }
        for row in 1...6 {
            bytes += Array("{\"user\": \"".utf8) + (row == 4 ? broken : Array("u\(row % 4)".utf8))
            bytes += Array(
                "\", \"item\": \"i\(row)\", \"type\": \"view\", \"time\": \(1_700_000_000 + row), \"value\": \(row)}\n"
                    .utf8)
        }
        return (try folder.write("events.jsonl", bytes: bytes), 4)
    }

    @Test(arguments: ["csv", "jsonl"])
    func invalidUTF8StopsWithItsCodeAndLine(format: String) throws {
        try TemporaryDirectory.with { folder in
            let (path, line) = try Self.invalidUTF8Fixture(format, in: folder)
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.invalidUTF8, at: "\(path):\(line)") {
                try importFile(format, path, into: db, map: Self.eventMap, batchSize: 3)
            }
            #expect(stopped?.error.message.contains("invalid UTF-8 at byte") == true, "\(String(describing: stopped))")
            #expect(try Self.storedValues(db) == [1, 2, 3])
            try expectConsistent(db)
        }
    }

    @Test(arguments: ["csv", "jsonl"])
    func invalidUTF8RowIsSkippedWithSkipBad(format: String) throws {
        try TemporaryDirectory.with { folder in
            let (path, line) = try Self.invalidUTF8Fixture(format, in: folder)
            let db = try folder.createDatabase()
            let report = try importFile(format, path, into: db, map: Self.eventMap, batchSize: 3, skipBad: true)
            #expect(report.rowsRead == 6)
            #expect(report.rowsImported == 5)
            #expect(report.rowsRejected == 1)
            #expect(report.rejections.first?.location == "\(path):\(line)")
            #expect(try Self.storedValues(db) == [1, 2, 3, 5, 6])
            try expectConsistent(db)
        }
    }

    // MARK: - Truncated input

    @Test func truncatedGzipStopsAndKeepsTheCommittedBatches() throws {
        try TemporaryDirectory.with { folder in
            let rows = 3000
            let whole = try folder.gzip(folder.write("whole.csv", numberedEventsCSV(rows: rows)))
            let bytes = try contents(of: whole)
            let path = try folder.write("events.csv.gz", bytes: Array(bytes.prefix(bytes.count / 2)))
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.truncatedInput, at: path) {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 100)
            }

            let values = try Self.storedValues(db)
            #expect(values.count > 0 && values.count < rows)
            #expect(values.count % 100 == 0)
            #expect(values == Array(1...max(values.count, 1)))
            #expect(stopped?.report.rowsImported == values.count)
            try expectConsistent(db)

            // The same truncation stops an import with --skip-bad too: the rest of the file is missing, not bad.
            let skipping = try folder.createDatabase("skipping")
            expectImportStopped(.truncatedInput, at: path) {
                try importFile("csv", path, into: skipping, map: Self.eventMap, batchSize: 100, skipBad: true)
            }
            try expectConsistent(skipping)
        }
    }

    @Test func plainCSVCutMidRowRejectsTheLastRow() throws {
        try TemporaryDirectory.with { folder in
            let text = numberedEventsCSV(rows: 10)
            // Cut row 10 ("u2,i3,view,…") after its second comma and two more bytes, without a final newline.
            let lastRow = text.dropLast().lastIndex(of: "\n").map { text.index(after: $0) }!
            let cut = text[lastRow...].firstIndex(of: "v").map { text.index($0, offsetBy: 2) }!
            let path = try folder.write("events.csv", String(text[..<cut]))

            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):11") {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 3)
            }
            #expect(stopped?.error.message.contains("expected 5 fields as in the header, found 3") == true)
            #expect(try Self.storedValues(db) == Array(1...9))
            try expectConsistent(db)

            let skipping = try folder.createDatabase("skipping")
            let report = try importFile("csv", path, into: skipping, map: Self.eventMap, batchSize: 3, skipBad: true)
            #expect(report.rowsImported == 9)
            #expect(report.rowsRejected == 1)
            try expectConsistent(skipping)
        }
    }

    @Test func quoteOpenAtTheEndOfTheFileIsTruncatedInput() throws {
        try TemporaryDirectory.with { folder in
            // Row 6 opens a quote that never closes: rows 7 and 8 would be part of its field.
            let path = try folder.write(
                "events.csv", numberedEventsCSV(rows: 8, replacing: [6: "u1,i1,\"view,1700000006,6"]))
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.truncatedInput, at: "\(path):7") {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 3)
            }
            #expect(stopped?.error.message.contains("quoted field is still open") == true)
            #expect(try Self.storedValues(db) == [1, 2, 3])
            try expectConsistent(db)
        }
    }

    // MARK: - Formats and files that do not exist

    @Test func unknownFormatListsTheKnownOnes() {
        let error = #expect(throws: RecDBError.self) {
            _ = try ImportFormats.make(name: "netflix", path: "/nonexistent")
        }
        #expect(error?.code == .unknownFormat)
        for name in ImportFormats.names {
            #expect(error?.message.contains(name) == true, "\(name) missing from: \(String(describing: error))")
        }
    }

    @Test(arguments: ImportFormats.names)
    func missingFileIsNotFound(format: String) throws {
        try TemporaryDirectory.with { folder in
            let path = folder.appending("no-such-file.csv")
            let error = #expect(throws: RecDBError.self) {
                _ = try ImportFormats.make(name: format, path: path, map: Self.eventMap)
            }
            #expect(error?.code == .notFound, "\(String(describing: error))")
            #expect(error?.location == path)
        }
    }
}
