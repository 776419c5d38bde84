import Foundation
import Testing

@testable import RecDB

/// `exportTrainingSnapshot`: the files hold exactly the matrix ALS trains on, with the id maps and schema, and the
/// filters and faults behave.
@Suite("Training export for Spark")
struct TrainingExportTests {
    /// u0 views i0 and buys i1; u1 buys i1 and returns it (sum 0: left out) and rates i2 4; u2 views i2 twice
    /// (summed) and, a day later, carts i0. Ids with a comma and a quote test the JSON maps.
    static func makeDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        try db.write { w in
            try w.addEvent(EventInput("u0", "view", "i0", at: 0))
            try w.addEvent(EventInput("u0", "purchase", "i1", at: 1))
            try w.addEvent(EventInput("u1", "purchase", "i1", at: 2))
            try w.addEvent(EventInput("u1", "return", "i1", at: 3))
            try w.addEvent(EventInput(user: "u1", item: "i2", type: "rating", value: 4, timestamp: Clock.minute(4)))
            try w.addEvent(EventInput("u2", "view", "i2", at: 5))
            try w.addEvent(EventInput("u2", "view", "i2", at: 6))
            try w.addEvent(EventInput("u2,\"x\"", "cart", "i0", at: 24 * 60))
        }
        return db
    }

    /// Every line of a gzip (or plain) file.
    static func lines(_ path: String) throws -> [String] {
        let reader = try LineReader(path: path)
        var lines: [String] = []
        while let line = try reader.nextLine() { lines.append(line) }
        return lines
    }

    /// `user,item,weight` rows of an export, as (external user, external item, weight).
    static func rows(_ folder: String) throws -> Set<String> {
        var users: [String: String] = [:], items: [String: String] = [:]
        for line in try lines(folder + "/users.jsonl.gz") {
            let row = try QueryValue(jsonBytes: Array(line.utf8))
            users[String(Int(try #require(row["user"]?.numberValue)))] = try #require(row["id"]?.stringValue)
        }
        for line in try lines(folder + "/items.jsonl.gz") {
            let row = try QueryValue(jsonBytes: Array(line.utf8))
            items[String(Int(try #require(row["item"]?.numberValue)))] = try #require(row["id"]?.stringValue)
        }
        var result = Set<String>()
        let parts = try FileManager.default.contentsOfDirectory(atPath: folder + "/interactions").sorted()
        for part in parts {
            let lines = try lines(folder + "/interactions/" + part)
            #expect(lines.first == "user,item,weight")
            for line in lines.dropFirst() {
                let cells = line.split(separator: ",").map(String.init)
                result.insert("\(try #require(users[cells[0]]))|\(try #require(items[cells[1]]))|\(cells[2])")
            }
        }
        return result
    }

    @Test func exportHoldsTheSummedMatrixALSTrainsOn() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let out = folder.appending("export")
            var options = TrainingExport.Options()
            options.rowsPerFile = 2
            let summary = try db.exportTrainingSnapshot(to: out, options: options)
            #expect(try Self.rows(out) == ["u0|i0|1.0", "u0|i1|5.0", "u1|i2|4.0", "u2|i2|2.0", "u2,\"x\"|i0|3.0"])
            #expect(summary.events == 8 && summary.interactions == 5 && summary.users == 4 && summary.items == 3)
            #expect(summary.files == ["interactions/part-00000.csv.gz", "interactions/part-00001.csv.gz",
                                      "interactions/part-00002.csv.gz"])
            // The same matrix as ALS builds from the snapshot.
            let matrix = InteractionMatrix(try db.read { r in try r.interactionLog() })
            #expect(matrix.nonZeros == summary.interactions)
            let schema = try QueryValue(jsonBytes: Array(try #require(FileManager.default.contents(atPath: out + "/schema.json"))))
            #expect(schema["format"]?.stringValue == TrainingExport.formatName)
            #expect(schema["interactions"]?.numberValue == 5)
            #expect(schema["last_event_sequence"]?.numberValue == Double(try db.read { r in try r.lastEventSequence() }))
            #expect(schema["als_defaults"]?["factors"]?.numberValue == 64)
            #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        }
    }

    /// The export streams one user at a time (``CatalogReading/forEachUserInteractions(since:typeCodes:_:)``): on a
    /// shop of many users with repeats, returns and ratings, every row equals the in-memory matrix's, bit for bit.
    @Test func streamedRowsAreTheMatrixRowsBitForBit() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try folder.createDatabase(options: options)
            var random = SystemRandomNumberGenerator()
            try db.write { w in
                for k in 0..<3_000 {
                    let user = "u\(Int.random(in: 0..<120, using: &random))"
                    let item = "i\(Int.random(in: 0..<60, using: &random))"
                    let type = ["view", "cart", "purchase", "return", "rating"].randomElement(using: &random)!
                    try w.addEvent(
                        EventInput(
                            user: user, item: item, type: type, value: Double.random(in: 0.1...5, using: &random),
                            timestamp: Clock.minute(Int64(k))))
                }
            }
            let (log, streamed) = try db.read { r -> (InteractionLog, [(UInt32, UserInteractions)]) in
                var rows: [(UInt32, UserInteractions)] = []
                try r.forEachUserInteractions { rows.append(($0, $1)) }
                return (try r.interactionLog(), rows)
            }
            let matrix = InteractionMatrix(log)
            #expect(streamed.reduce(0) { $0 + $1.1.events } == log.count)
            var compared = 0
            for (user, row) in streamed {
                let (items, weights) = matrix.row(Int(user))
                #expect(row.items == Array(items), "user \(user)")
                #expect(row.weights.map(\.bitPattern) == weights.map(\.bitPattern), "user \(user)")
                compared += 1
            }
            #expect(compared == (0..<matrix.rows).filter { user in log.users.contains(UInt32(user)) }.count)
            let summary = try db.exportTrainingSnapshot(to: folder.appending("export"))
            #expect(summary.interactions == matrix.nonZeros && summary.events == log.count)
        }
    }

    @Test func typesAndSinceFilterBeforeSumming() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let purchases = folder.appending("purchases")
            _ = try db.exportTrainingSnapshot(to: purchases, options: .init(types: ["purchase"]))
            // Without the return, u1's purchase counts.
            #expect(try Self.rows(purchases) == ["u0|i1|5.0", "u1|i1|5.0"])
            let late = folder.appending("late")
            _ = try db.exportTrainingSnapshot(to: late, options: .init(since: Clock.minute(60)))
            #expect(try Self.rows(late) == ["u2,\"x\"|i0|3.0"])
        }
    }

    @Test func splitExportsOnlyTheTrainingPart() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let out = folder.appending("train")
            let summary = try db.exportTrainingSnapshot(to: out, options: .init(split: .leaveLastOut))
            let log = try db.read { r in try r.interactionLog() }
            #expect(summary.events == EvaluationSplit(log, kind: .leaveLastOut).train.count)
            let schema = try QueryValue(jsonBytes: Array(try #require(FileManager.default.contents(atPath: out + "/schema.json"))))
            #expect(schema["split"]?.stringValue == "leave-last-out" && summary.events == 6)
        }
    }

    @Test func faultsAreClearErrors() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let out = folder.appending("export")
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
            expectRecDBError(.alreadyExists) { _ = try db.exportTrainingSnapshot(to: out) }
            let error = #expect(throws: RecDBError.self) {
                _ = try db.exportTrainingSnapshot(to: folder.appending("other"), options: .init(types: ["purchse"]))
            }
            #expect(error?.code == .invalidArgument && error?.message.contains("purchse") == true
                && error?.message.contains("purchase") == true, "\(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: folder.appending("other")))
        }
    }
}
