import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// `recctl import` against hostile input and a full disk, as a child process.
@Suite("recctl import: streams, limits, full disk")
struct RobustImportCommandTests {
    @Test func devZeroAndFIFOAreRefusedWithoutStream() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let fifo = folder.appending("events.fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            for path in ["/dev/zero", fifo] {
                let started = Date()
                let message = try RecCtl.fail("import", "csv", path, "--kind", "events", "--db", db)
                #expect(message.hasPrefix("\(path): is "), "\(message)")
                #expect(message.contains("not a regular file") && message.contains("pass --stream"), "\(message)")
                #expect(Date().timeIntervalSince(started) < 30)
            }
            let json = try RecCtl.run("import", "csv", "/dev/zero", "--kind", "events", "--db", db, "--json").json
            #expect((json["error"] as? [String: Any])?["code"] as? String == "invalid_argument")
        }
    }

    @Test func devZeroWithStreamStopsAtTheLineLimit() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let result = try RecCtl.run(
                "import", "csv", "/dev/zero", "--kind", "events", "--stream", "--max-line-bytes", "1000000", "--db", db,
                "--json")
            #expect(result.status == 1, "\(result)")
            let error = result.json["error"] as? [String: Any]
            #expect(error?["code"] as? String == "malformed_input", "\(result)")
            #expect((error?["message"] as? String)?.contains("longer than the limit of 1000000 bytes") == true)
        }
    }

    @Test func fifoWithStreamIsImported() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let fifo = folder.appending("events.fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            let child = try RecCtl.Child(["import", "csv", fifo, "--kind", "events", "--stream", "--db", db, "--json"])
            var text = "user,item,type,time,value\n"
            for row in 1...500 { text += "u\(row % 7),i\(row % 11),view,\(1_700_000_000 + row),\(row)\n" }
            let handle = try #require(FileHandle(forWritingAtPath: fifo))
            handle.write(Data(text.utf8))
            try handle.close()
            let result = child.finish()
            #expect(result.status == 0, "\(result)")
            #expect(result.json["rows_imported"] as? Int == 500)
            let database = try RecDatabase.open(at: db)
            #expect(try database.read { r in try r.eventCount } == 500)
        }
    }

    @Test func overLongAndEmptyIdsAreInvalidArgumentNamingTheField() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let long = String(repeating: "i", count: 600)
            let events = try folder.write("events.csv", "user,item,type,time,value\nu1,\(long),view,1700000000,1\n")
            let result = try RecCtl.run("import", "csv", events, "--kind", "events", "--db", db, "--json")
            let error = result.json["error"] as? [String: Any]
            #expect(error?["code"] as? String == "invalid_argument", "\(result)")
            #expect(error?["at"] as? String == "\(events):2")
            #expect((error?["message"] as? String)?.contains("item id has 600 bytes; the limit is 255") == true, "\(result)")

            // The same limits on the query language and on reads.
            let empty = try RecCtl.run("query", "UPSERT ITEM '' SET title = 'x'", "--db", db, "--json").json
            #expect((empty["error"] as? [String: Any])?["code"] as? String == "invalid_argument", "\(empty)")
            #expect(((empty["error"] as? [String: Any])?["message"] as? String)?.contains("item id is empty") == true)
            let show = try RecCtl.fail("show", "user", String(repeating: "u", count: 512), "--db", db)
            #expect(show.hasPrefix("user id has 512 bytes; the limit is 255"), "\(show)")
        }
    }

    @Test func twentyMegabyteHeaderLineGivesAShortError() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let path = try folder.write("retail.csv", String(repeating: "H", count: 20 << 20) + "\n1,2,3\n")
            let result = try RecCtl.run("import", "online-retail", path, "--db", db)
            #expect(result.status == 1)
            #expect(result.stderr.utf8.count < 1_000, "\(result.stderr.utf8.count) bytes on standard error")
            #expect(result.stderr.contains("the header has no column 'InvoiceNo'"), "\(result.stderr.prefix(300))")
            #expect(result.stderr.contains("… (20971520 bytes)"))
        }
    }

    // MARK: - A full disk

    /// A tmpfs of `megabytes` at a fresh mount point, unmounted at the end; nil when this process may not mount
    /// (not root, or no mount permission in a container).
    static func withTmpfs<R>(megabytes: Int, _ body: (String) throws -> R) throws -> R? {
        let point = "/tmp/rdb-full-" + String(UInt32.random(in: .min ... .max), radix: 36)
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: point) }
        guard geteuid() == 0, Self.system("/bin/mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", point) == 0 else {
            return nil
        }
        defer { _ = Self.system("/bin/umount", point) }
        return try body(point)
    }

    @discardableResult
    static func system(_ arguments: String...) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    static var canMount: Bool {
        guard geteuid() == 0 else { return false }
        return (try? withTmpfs(megabytes: 1) { _ in true }) == true
    }

    /// The disk fills during a commit (on a 12 MiB tmpfs): the import stops with `disk_full` at the database path,
    /// the committed batches stay, `recctl check` passes; once the file system is grown, the same command imports
    /// the rest, and the events are exactly the file's rows.
    @Test(.enabled(if: canMount, "needs root and mount(8) to make a small tmpfs; see README for a run by hand"))
    func fullDiskIsDiskFullAndTheRerunCompletesOnceSpaceReturns() throws {
        try TemporaryDirectory.with { folder in
            let rows = 120_000
            var text = "user,item,type,time,value\n"
            text.reserveCapacity(rows * 36)
            for row in 1...rows { text += "u\(row % 3000),i\(row % 9000),view,\(1_700_000_000 + row),\(row)\n" }
            let csv = try folder.write("events.csv", text)
            _ = try Self.withTmpfs(megabytes: 12) { mount in
                let db = mount + "/db"
                try RecCtl.succeed("init", "--db", db)
                let command = ["import", "csv", csv, "--kind", "events", "--batch-size", "5000", "--db", db, "--json"]
                let full = try RecCtl.Child(command).finish(timeout: 300)
                let error = try #require(full.json["error"] as? [String: Any], "\(full)")
                #expect(error["code"] as? String == "disk_full", "\(full)")
                #expect(error["at"] as? String == URL(fileURLWithPath: db).resolvingSymlinksInPath().path, "\(full)")
                #expect((error["message"] as? String)?.contains("was not committed") == true)
                let text = try RecCtl.run("import", "csv", csv, "--kind", "events", "--batch-size", "5000", "--db", db)
                #expect(text.stderr.contains("disk full"), "\(text)")

                var committed = 0
                do {
                    let database = try RecDatabase.open(at: db)
                    committed = try database.read { r in try r.eventCount }
                    #expect(committed > 0 && committed < rows && committed % 5000 == 0, "\(committed)")
                    #expect(try database.checkIntegrity() == [])
                }
                try RecCtl.succeed("check", "--db", db)

                // Space returns: the same command goes on after the committed rows.
                #expect(Self.system("/bin/mount", "-o", "remount,size=200m", mount) == 0)
                let rerun = try RecCtl.Child(command).finish(timeout: 300)
                #expect(rerun.status == 0, "\(rerun)")
                #expect(rerun.json["rows_skipped"] as? Int == committed)
                #expect(rerun.json["rows_imported"] as? Int == rows - committed)
                try RecCtl.succeed("check", "--db", db)
                // Closed before the file system is unmounted.
                do {
                    let database = try RecDatabase.open(at: db)
                    var values: [Int] = []
                    try database.read { r in
                        try r.forEachEvent { event in
                            values.append(Int(event.value))
                            return .next
                        }
                    }
                    #expect(values == Array(1...rows))
                }
            }
        }
    }
}
