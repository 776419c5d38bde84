import Foundation
import Testing

/// `recctl` on damaged copies of a database: every command exits with status 1 and a message, never a signal.
@Suite("recctl on damaged files")
struct DamagedFileTests {
    static let pageSize = 4096
    static let query = "RECOMMEND 10 ITEMS FOR USER '7' USING als"

    /// A MovieLens-style set in RecBole's atomic layout: 200 titled movies, 150 users, 3,000 ratings.
    static func writeMovieLens(in folder: TemporaryDirectory) throws -> String {
        var random = SplitMix(seed: 11)
        var items = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        for item in 1...200 { items += "\(item)\tA film called number \(item)\t19\(50 + item % 50)\tDrama\n" }
        var users = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        var events = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        for user in 1...150 {
            users += "\(user)\t\(20 + user % 40)\t\(user % 2 == 0 ? "F" : "M")\twriter\t0\(10_000 + user)\n"
            for n in 0..<20 {
                let item = 1 + Int(random.next() % 200)
                events += "\(user)\t\(item)\t\(1 + random.next() % 5)\t\(880_000_000 + user * 1000 + n * 10)\n"
            }
        }
        try folder.write("ml/ml.item", items)
        try folder.write("ml/ml.user", users)
        try folder.write("ml/ml.inter", events)
        return folder.appending("ml")
    }

    /// Imports the set, trains ALS (vectors and an HNSW index) and writes a compacted copy to `folder/db`: every page
    /// of its file is in use, so damage lands on pages that matter.
    static func makeDatabase(in folder: TemporaryDirectory) throws -> String {
        let source = folder.appending("source")
        try RecCtl.succeed("init", "--db", source)
        try RecCtl.succeed("import", "movielens", try writeMovieLens(in: folder), "--db", source)
        try RecCtl.succeed("refresh", "als", "--factors", "8", "--iterations", "3", "--threads", "1", "--db", source)
        try RecCtl.succeed("backup", folder.appending("db"), "--db", source)
        return folder.appending("db")
    }

    /// A copy of `database` in `folder/name` whose `data.mdb` `change` edited.
    static func damagedCopy(
        of database: String, in folder: TemporaryDirectory, _ name: String, _ change: (inout [UInt8]) -> Void
    ) throws -> String {
        let copy = folder.appending(name)
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: database + "/data.mdb")))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
        return copy
    }

    /// Pages whose header says they are a branch or leaf page at their own position.
    static func treePages(_ bytes: [UInt8]) -> [Int] {
        (2..<bytes.count / pageSize).filter { page in
            bytes.withUnsafeBytes { raw in
                let stored = raw.loadUnaligned(fromByteOffset: page * pageSize, as: UInt64.self)
                let flags = raw.loadUnaligned(fromByteOffset: page * pageSize + 10, as: UInt16.self)
                return stored == page && (flags == 1 || flags == 2 || flags == 0x22)
            }
        }
    }

    enum Damage: String, CaseIterable {
        case truncatedToHalf, zeroedPages, flippedBytes, flippedMetaByte

        func apply(_ bytes: inout [UInt8]) {
            switch self {
            case .truncatedToHalf:
                bytes.removeLast(bytes.count / 2)
            case .zeroedPages:
                // 64 pages around the middle page of the trees.
                let pages = DamagedFileTests.treePages(bytes)
                let first = max(2, pages[pages.count / 2] - 32)
                let range = first * DamagedFileTests.pageSize..<min(bytes.count, (first + 64) * DamagedFileTests.pageSize)
                bytes.replaceSubrange(range, with: [UInt8](repeating: 0, count: range.count))
            case .flippedBytes:
                var random = SplitMix(seed: 200)
                for _ in 0..<200 {
                    bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1)
                }
            case .flippedMetaByte:
                // The top byte of the main database's root in meta page 1, the newer in a compacted copy.
                bytes[DamagedFileTests.pageSize + 88 + 40 + 7] ^= 0x01
            }
        }

        /// What the message of a command that opens the copy says.
        var says: String {
            switch self {
            case .truncatedToHalf: "the file is truncated"
            case .zeroedPages: "says it is page 0"
            case .flippedBytes: "the file is damaged"
            case .flippedMetaByte: "meta pages, page 1"
            }
        }

        /// What `recctl check` lists.
        var checkSays: String { self == .flippedBytes ? "problem(s) in" : says }
    }

    @Test func damagedCopiesFailWithStatusOneAndAMessage() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(in: folder)
            let intact = try RecCtl.succeed("check", "--db", db)
            #expect(intact.stdout.contains("OK: "), "\(intact)")

            for damage in Damage.allCases {
                let copy = try Self.damagedCopy(of: db, in: folder, damage.rawValue) { damage.apply(&$0) }
                for command in [["stats"], ["query", Self.query], ["show", "user", "7"], ["recommend", "--user", "7"]] {
                    let result = try RecCtl.Child(command + ["--db", copy]).finish()
                    let context = "\(damage) \(command): \(result)"
                    #expect(result.reason == .exit && result.status == 1, "\(context)")
                    #expect(result.stderr.hasPrefix("recctl: error: \(copy)/data.mdb: the file is damaged"), "\(context)")
                    #expect(result.stderr.contains(damage.says), "\(context)")
                    #expect(result.stderr.contains("run `recctl check`"), "\(context)")
                    #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(context)")
                }
                let check = try RecCtl.Child(["check", "--db", copy]).finish()
                #expect(check.reason == .exit && check.status == 1, "\(damage) check: \(check)")
                #expect(check.stderr.hasPrefix("recctl: error: \(copy)/data.mdb is damaged: "), "\(damage) check: \(check)")
                #expect(check.stdout.contains(damage.checkSays), "\(damage) check: \(check)")

                let json = try RecCtl.Child(["check", "--db", copy, "--json"]).finish()
                #expect(json.reason == .exit && json.status == 1, "\(damage) check --json: \(json)")
                #expect(json.json["ok"] as? Bool == false)
                let problems = try #require(json.json["problems"] as? [[String: Any]], "\(json)")
                #expect(!problems.isEmpty)
                for problem in problems {
                    #expect(problem["database"] is String && problem["message"] is String, "\(problem)")
                }
            }
            // The source is untouched by all this.
            try RecCtl.succeed("check", "--db", db)
        }
    }

    /// A file truncated while `recctl` has it open: the next read of a missing page raises SIGBUS, which recctl turns
    /// into a message naming the file and exit status 1.
    @Test func fileTruncatedWhileOpenEndsWithStatusOne() throws {
        #if os(Linux)
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(in: folder)
            let copy = try Self.damagedCopy(of: db, in: folder, "open") { _ in }
            let process = Process()
            process.executableURL = try RecCtl.requireExecutable()
            process.arguments = ["shell", "--db", copy]
            var environment = ProcessInfo.processInfo.environment
            environment["RECDB_PATH"] = nil
            process.environment = environment
            let input = Pipe(), errors = Pipe()
            let output = try #require(FileHandle(forWritingAtPath: "/dev/null"))
            defer { try? output.close() }
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

            // Ready when the shell waits for its first line: its main thread blocks in read(0, …).
            #if arch(x86_64)
            let readCall = "0 0x0 "
            #else
            let readCall = "63 0x0 "
            #endif
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline {
                let state = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/syscall", encoding: .utf8))
                if state?.hasPrefix(readCall) == true { break }
                usleep(10_000)
            }
            #expect(process.isRunning, "the shell started")
            let file = copy + "/data.mdb"
            let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
            #expect(truncate(file, off_t(size / 8)) == 0)
            input.fileHandleForWriting.write(Data((Self.query + "\n").utf8))
            try input.fileHandleForWriting.close()
            let end = Date().addingTimeInterval(30)
            while process.isRunning && Date() < end { usleep(10_000) }
            #expect(!process.isRunning, "the shell ended")
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(stderr)")
            #expect(stderr.contains("\(file) changed size under the process"), "\(stderr)")
        }
        #endif
    }

    /// A short version of bench/corruption/run: seeded damaged copies through `check` and one query each; no
    /// signals, no other exit status than 0 and 1.
    @Test func shortCorruptionFuzzEndsWithoutSignals() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(in: folder)
            let source = [UInt8](try Data(contentsOf: URL(fileURLWithPath: db + "/data.mdb")))
            let trees = Self.treePages(source)
            var outcomes: [String: Int] = [:]
            for index in 0..<36 {
                var random = SplitMix(seed: 1_000 + UInt64(index))
                let copy = try Self.damagedCopy(of: db, in: folder, "copy\(index)") { bytes in
                    func flip(_ offset: Int) { bytes[offset] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1) }
                    switch index % 6 {
                    case 0:
                        for _ in 0..<(1 + random.next() % 200) { flip(Int(random.next() % UInt64(bytes.count))) }
                    case 1:
                        let count = 1 + Int(random.next() % 64)
                        let first = Int(random.next() % UInt64(bytes.count / Self.pageSize))
                        let range = first * Self.pageSize..<min(bytes.count, (first + count) * Self.pageSize)
                        bytes.replaceSubrange(range, with: [UInt8](repeating: 0, count: range.count))
                    case 2:
                        bytes.removeLast(1 + Int(random.next() % UInt64(bytes.count - 1)))
                    case 3:
                        for _ in 0..<(1 + random.next() % 8) {
                            flip(Int(random.next() % 2) * Self.pageSize + Int(random.next() % 152))
                        }
                    case 4:
                        for _ in 0..<(1 + random.next() % 20) {
                            let page = trees[Int(random.next() % UInt64(trees.count))]
                            flip(page * Self.pageSize + Int(random.next() % 64))
                        }
                    default:
                        for _ in 0..<(1 + random.next() % 4) { flip(Int(random.next() % UInt64(bytes.count))) }
                    }
                }
                for command in [["check"], ["query", Self.query]] {
                    let result = try RecCtl.Child(command + ["--db", copy]).finish(timeout: 30)
                    #expect(result.reason == .exit, "copy \(index) \(command): a signal: \(result)")
                    #expect(result.status == 0 || result.status == 1, "copy \(index) \(command): \(result)")
                    if result.status == 1 {
                        #expect(result.stderr.hasPrefix("recctl: error: "), "copy \(index) \(command): \(result)")
                    }
                    outcomes["\(command[0]) \(result.reason == .exit ? "exit" : "signal") \(result.status)", default: 0] += 1
                }
                try FileManager.default.removeItem(atPath: copy)
            }
            #expect((outcomes["check exit 1"] ?? 0) >= 18, "most copies are refused: \(outcomes)")
        }
    }
}

/// A seeded generator, so the damage is the same in every run.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
