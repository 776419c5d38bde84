import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// Input that is not a regular file, lines without end, and rows too long to quote in an error.
@Suite("Import: streams and limits")
struct InputLimitsTests {
    static let eventMap = try! FieldMap(kind: .events, mappings: [])

    static func run(_ path: String, into db: RecDatabase, _ configure: (inout ImportOptions) -> Void = { _ in })
        throws -> ImportReport
    {
        var options = importOptions()
        configure(&options)
        return try Importer.run(ImportFormats.make(name: "csv", path: path, map: Self.eventMap), into: db, options: options)
    }

    @Test func deviceAndFIFOAreRefusedWithoutStream() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let fifo = folder.appending("events.fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            for path in ["/dev/zero", fifo] {
                // Refused from `stat` alone: opening the FIFO would wait for a writer that never comes.
                let stopped = expectImportStopped(.invalidArgument, at: path) { _ = try Self.run(path, into: db) }
                #expect(stopped?.error.message.contains("not a regular file") == true, "\(String(describing: stopped))")
                #expect(stopped?.error.message.contains("--stream") == true)
            }
            #expect(try db.read { r in try r.eventCount } == 0)
        }
    }

    @Test func streamWithoutLineBreaksStopsAtTheLineLimit() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "/dev/zero:1") {
                _ = try Self.run("/dev/zero", into: db) {
                    $0.stream = true
                    $0.maxLineBytes = 1 << 20
                }
            }
            #expect(stopped?.error.message.contains("longer than the limit of 1048576 bytes") == true)
        }
    }

    @Test func fifoIsImportedWithStream() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let fifo = folder.appending("events.fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            let text = numberedEventsCSV(rows: 20)
            let writer = Thread {
                let handle = FileHandle(forWritingAtPath: fifo)
                handle?.write(Data(text.utf8))
                try? handle?.close()
            }
            writer.start()
            let report = try Self.run(fifo, into: db) { $0.stream = true }
            #expect(report.rowsImported == 20)
            #expect(report.notes.contains { $0.contains("is a stream") })
            #expect(try db.read { r in try r.storedEvents().map { Int($0.value) } } == Array(1...20))
        }
    }

    @Test func longLineOfARegularFileStopsAtTheLimit() throws {
        try TemporaryDirectory.with { folder in
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 3) + String(repeating: "x", count: 5000) + "\n")
            let db = try folder.createDatabase()
            expectImportStopped(.malformedInput, at: "\(path):5") {
                _ = try Self.run(path, into: db) { $0.maxLineBytes = 4096 }
            }
        }
    }

    @Test func unclosedQuoteStopsAtTheLimit() throws {
        try TemporaryDirectory.with { folder in
            var text = "user,item,type,time,value\nu1,\"i1,view,1,1\n"
            for _ in 0..<200 { text += String(repeating: "y", count: 100) + "\n" }
            let path = try folder.write("events.csv", text)
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.malformedInput, at: "\(path):2") {
                _ = try Self.run(path, into: db) { $0.maxLineBytes = 4096 }
            }
            #expect(stopped?.error.message.contains("quoted field runs over") == true)
        }
    }

    /// A 20 MB header line without the columns a format needs: the error quotes 64 bytes of it and its size.
    @Test(arguments: ["online-retail", "csv"])
    func hugeHeaderLineGivesAShortError(format: String) throws {
        try TemporaryDirectory.with { folder in
            let header = String(repeating: "h", count: 20 << 20)
            let path = try folder.write("events.csv", header + "\nu1,i1,view,1700000000,1\n")
            let db = try folder.createDatabase()
            let map = try FieldMap(kind: .events, mappings: ["user=customer"])
            let stopped = expectImportStopped(.malformedInput, at: "\(path):1") {
                try importFile(format, path, into: db, map: map)
            }
            let text = stopped?.description ?? ""
            #expect(text.utf8.count < 1_000, "\(text.utf8.count) bytes")
            #expect(text.contains("… (20971520 bytes)"), "\(text)")
        }
    }

    /// A rejected row of megabytes is quoted short in the kept rejections as in the stop.
    @Test func hugeCellIsQuotedShort() throws {
        try TemporaryDirectory.with { folder in
            let bad = "u1,i1,view,\(String(repeating: "7", count: 1 << 20))x,1"
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 3, replacing: [2: bad]))
            let db = try folder.createDatabase()
            let report = try importFile("csv", path, into: db, map: Self.eventMap, skipBad: true)
            #expect(report.rowsRejected == 1)
            #expect((report.rejections.first?.reason.utf8.count ?? .max) < 1_100)
            let stopped = expectImportStopped(.malformedInput) {
                try importFile("csv", path, into: try folder.createDatabase("other"), map: Self.eventMap)
            }
            #expect((stopped?.description.utf8.count ?? .max) < 1_500)
        }
    }

    @Test func overLongAndEmptyIdsStopAsInvalidArgument() throws {
        try TemporaryDirectory.with { folder in
            let long = String(repeating: "u", count: 300)
            let path = try folder.write("events.csv", numberedEventsCSV(rows: 4, replacing: [3: "\(long),i1,view,1,3"]))
            let db = try folder.createDatabase()
            let stopped = expectImportStopped(.invalidArgument, at: "\(path):4") {
                try importFile("csv", path, into: db, map: Self.eventMap, batchSize: 1)
            }
            #expect(stopped?.error.message.contains("user id has 300 bytes; the limit is 255") == true)
            #expect(try db.read { r in try r.eventCount } == 2)

            let items = try folder.write("items.jsonl", "{\"id\": \"a\", \"tags\": [\"ok\", \"\"]}\n")
            let itemMap = try FieldMap(kind: .items, mappings: [])
            let tagStop = expectImportStopped(.invalidArgument, at: "\(items):1") {
                try importFile("jsonl", items, into: db, map: itemMap)
            }
            #expect(tagStop?.error.message.contains("tag is empty") == true, "\(String(describing: tagStop))")
            try expectConsistent(db)
        }
    }
}
