import Foundation
import RecClient
import RecDB
import RecML
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `recd` as a real process on a real socket: the protocol, order, concurrency, durability and bad input.
@Suite("recd", .serialized)
struct DaemonTests {
    @Test func answersQueriesAndResponsesMatchTheSchema() async throws {
        let daemon = try Daemon()
        let schema = try SchemaValidator(file: SchemaValidator.schemaPath("wire-protocol.schema.json"))
        let client = try daemon.client()
        let items = try await client.recommend("RECOMMEND 5 ITEMS FOR USER $u EXCLUDE SEEN EXPLAIN", parameters: ["u": "u3"])
        #expect(items.count == 5 && items.allSatisfy { $0.explanation?.hasPrefix("Because you viewed") == true }, "\(items)")
        #expect(items.prefix(2).allSatisfy { $0.id.hasPrefix("t") }, "a thriller reader gets thrillers first: \(items)")
        let raw = try RawConnection(daemon.socket)
        let lines = [
            "RECOMMEND 3 ITEMS FOR USER 'u12'", #"{"id":7,"q":"RECOMMEND 3 ITEMS SIMILAR TO ITEM $i","params":{"i":"g2"}}"#,
            "EVENT view USER 'u1' ITEM 't5'", "UPSERT ITEM 'new' SET title = 'New', price = 3", "SHOW STATS", "STATUS",
            "RECOMMEND 3 ITEMS FOR USER 'nobody'", "RECOMMEND three ITEMS", #"{"id":"x","q":5}"#,
        ]
        for line in lines { raw.send(line + "\n") }
        var responses: [[String: Any]] = []
        for _ in lines { responses.append(try #require(raw.response(), "no response; log: \(daemon.logText)")) }
        for (line, response) in zip(lines, responses) {
            #expect(schema.problems(response).isEmpty, "\(line) → \(response): \(schema.problems(response))")
        }
        #expect(responses[1]["id"] as? Int == 7)
        for (index, shape) in [(0, "recommendResult"), (1, "recommendResult"), (2, "eventResult"), (3, "upsertResult"),
                               (4, "statsResult"), (5, "statusResult")] {
            let result = try #require(responses[index]["result"], "\(lines[index]): \(responses[index])")
            let problems = schema.problems(result, against: "#/$defs/\(shape)")
            #expect(problems.isEmpty, "\(lines[index]) → \(result): \(problems)")
        }
        // The other statements' results, through the client library.
        for (query, shape) in [("SHOW MODELS", "modelsResult"), ("SHOW ITEM 't1'", "itemResult"),
                               ("SHOW USER 'u1' HISTORY LIMIT 3", "userResult"), ("DELETE ITEM 't19'", "deleteResult"),
                               ("REFRESH MODEL popularity", "refreshResult"), ("EVALUATE MODEL popularity K 5", "evaluateResult"),
                               ("RECOMMEND 3 USERS FOR ITEM 'c4' EXPLAIN", "recommendResult")] {
            let result = try client.querySync(query)
            let problems = schema.problems(result, against: "#/$defs/\(shape)")
            #expect(problems.isEmpty, "\(query) → \(result): \(problems)")
        }
        #expect((responses[6]["error"] as? [String: Any])?["code"] as? String == "not_found")
        let syntax = try #require(responses[7]["error"] as? [String: Any])
        #expect(syntax["code"] as? String == "syntax" && syntax["at"] as? Int == 10, "\(syntax)")
        #expect((responses[8]["error"] as? [String: Any])?["code"] as? String == "bad_request")
        #expect(responses[8]["id"] is NSNull)
    }

    @Test func pipelinedResponsesKeepRequestOrder() throws {
        let daemon = try Daemon()
        let raw = try RawConnection(daemon.socket)
        var batch = ""
        for i in 0..<300 {
            let q = i % 3 == 0 ? "EVENT view USER 'p\(i)' ITEM 't1'" : i % 3 == 1 ? "RECOMMEND 2 ITEMS FOR USER 'u\(i % 30)'" : "SHOW STATS"
            batch += #"{"id":\#(i),"q":"\#(q.replacingOccurrences(of: "'", with: "'"))"}"# + "\n"
        }
        raw.send(batch)
        for i in 0..<300 {
            let response = try #require(raw.response())
            #expect(response["id"] as? Int == i && response["ok"] as? Bool == true, "\(response)")
        }
    }

    @Test func concurrentClientsReadAndWrite() throws {
        let daemon = try Daemon()
        let socket = daemon.socket
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 16) { worker in
            guard let client = try? RecClient(socketPath: socket) else { return failures.add() }
            for n in 0..<40 {
                do {
                    if n % 4 == 0 {
                        _ = try client.querySync("EVENT view USER $u ITEM 'c2'", parameters: ["u": "w\(worker)-\(n)"])
                    } else {
                        _ = try client.querySync("RECOMMEND 5 ITEMS FOR USER $u", parameters: ["u": "u\((worker + n) % 30)"])
                    }
                } catch {
                    failures.add()
                }
            }
        }
        #expect(failures.value == 0)
        let stats = try daemon.client().querySync("STATUS") as? [String: Any]
        #expect((stats?["writes_committed"] as? Int ?? 0) >= 160, "\(String(describing: stats))")
    }

    /// Clients write as fast as they can; the daemon dies with SIGKILL. Every acknowledged write is in the database.
    @Test func killedDaemonLosesNoAcknowledgedWrite() throws {
        let daemon = try Daemon(trained: false)
        let acknowledged = Locked<[String]>([])
        daemon.loadThenKill(workers: 8, microseconds: 1_500_000) { client, worker, n in
            let user = "k\(worker)-\(n)"
            _ = try client.querySync("EVENT purchase USER $u ITEM 'g1'", parameters: ["u": user])
            acknowledged.mutate { $0.append(user) }
        }
        let acked = acknowledged.value
        #expect(acked.count > 100, "too few writes to judge: \(acked.count)")
        let db = try RecDatabase.open(at: daemon.database)
        let missing = try db.read { r in try acked.filter { try r.userID(for: $0) == nil } }
        #expect(missing.isEmpty, "\(missing.count) of \(acked.count) acknowledged writes were lost: \(missing.prefix(5))")
        #expect(try db.checkIntegrity() == [])
    }

    /// 10,000 random and mutated query strings: every one gets a response, the daemon stays up.
    @Test func fuzzedQueriesNeverCrashOrHang() throws {
        let daemon = try Daemon()
        let raw = try RawConnection(daemon.socket)
        var random = SeededGenerator(seed: 2026)
        let seeds = [
            "RECOMMEND 10 ITEMS FOR USER 'u1' USING als WHERE category = 'Books' AND price < 20 EXCLUDE SEEN DIVERSIFY 0.3 EXPLAIN",
            "RECOMMEND 5 ITEMS FOR ITEMS ('t1','t2') OFFSET 5", "RECOMMEND 3 USERS FOR ITEM 'g3'",
            "RECOMMEND 4 ITEMS SIMILAR TO ITEM 'c1' USING BLEND(als 0.7, itemknn 0.3)",
            "UPSERT ITEM 'z1' SET title = 'Z', price = 1.5, tags = ['a','b']", "EVENT view USER 'u9' ITEM 't9' VALUE 2",
            "DELETE ITEM 'zz'", "SHOW USER 'u1' HISTORY LIMIT 3", "SHOW MODELS", "SHOW ITEM 't1'",
            "RECOMMEND 2 ITEMS FOR SESSION 's4' WHERE NOT (price > 10 OR category = 'Garden')",
        ]
        let alphabet = Array("RECOMMEND ITEMS USER WHERE AND OR NOT ( ) ' \" , = < > $ 0 1 9 . - é 中 \\ ;".utf8)
        var sent = 0
        while sent < 10_000 {
            var lines: [[UInt8]] = []
            for _ in 0..<500 {
                var bytes = Array(seeds[Int(random.next() % UInt64(seeds.count))].utf8)
                switch random.next() % 6 {
                case 0:  // random bytes, including invalid UTF-8
                    bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                case 1:  // random tokens from the alphabet
                    bytes = (0..<Int(random.next() % 120)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
                case 2:  // deep parentheses
                    let depth = Int(random.next() % 5000)
                    bytes = Array(("RECOMMEND 1 ITEMS FOR USER 'u1' WHERE " + String(repeating: "(", count: depth) + "price < 3").utf8)
                default:  // mutations of a valid query
                    for _ in 0..<(1 + Int(random.next() % 4)) where !bytes.isEmpty {
                        let at = Int(random.next() % UInt64(bytes.count))
                        switch random.next() % 3 {
                        case 0: bytes.remove(at: at)
                        case 1: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                        default: bytes[at] = UInt8(truncatingIfNeeded: random.next())
                        }
                    }
                }
                lines.append(bytes.map { $0 == UInt8(ascii: "\n") ? UInt8(ascii: " ") : $0 })
            }
            raw.send(lines.flatMap { $0 + [UInt8(ascii: "\n")] })
            for _ in lines {
                let response = try #require(raw.response(), "no response after \(sent) fuzzed lines; log: \(daemon.logText.suffix(500))")
                #expect(response["ok"] is Bool)
                sent += 1
            }
        }
        #expect(try daemon.client().querySync("STATUS") is [String: Any])
    }

    @Test func badLinesFailAloneAndTheConnectionGoesOn() throws {
        let daemon = try Daemon(arguments: ["--max-line", "4096"])
        let raw = try RawConnection(daemon.socket)
        raw.send(String(repeating: "x", count: 100_000) + "\n")
        raw.send([0x52, 0x45, 0xFF, 0xFE, 0x0A])
        raw.send("{not json\n")
        raw.send("SHOW STATS\n")
        let codes = (0..<3).map { _ in (raw.response()?["error"] as? [String: Any])?["code"] as? String }
        #expect(codes == ["too_large", "invalid_utf8", "bad_request"])
        #expect(raw.response()?["ok"] as? Bool == true)
        // A client that vanishes mid-line leaves nothing behind.
        do {
            let half = try RawConnection(daemon.socket)
            half.send("RECOMMEND 5 ITEMS FOR US")
        }
        #expect(try daemon.client().querySync("STATUS") is [String: Any])
    }

    /// A client pipelines thousands of requests and never reads; another client is still answered at once.
    @Test func aClientThatNeverReadsBlocksNobody() throws {
        let daemon = try Daemon()
        let greedy = try RawConnection(daemon.socket)
        let flood = Array(String(repeating: "RECOMMEND 20 ITEMS FOR USER 'u5' EXPLAIN\n", count: 20_000).utf8)
        let box = UnsafeTransfer(greedy)
        let sender = Thread { box.value.send(flood) }
        sender.start()
        usleep(500_000)
        let client = try daemon.client()
        let started = Date()
        for _ in 0..<20 { _ = try client.querySync("RECOMMEND 3 ITEMS FOR USER 'u1'") }
        #expect(Date().timeIntervalSince(started) < 5, "other clients were held up")
        shutdown(greedy.fd, Int32(SHUT_RDWR))
    }

    /// Runs `lines` through the socket as uid/gid 65534 (nobody) and returns the parsed responses, one per line.
    static func asNobody(_ daemon: Daemon, _ lines: [String]) throws -> [[String: Any]] {
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
            s.sendall(sys.argv[2].encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            print(data.decode())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = [
            "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "python3", "-c", script, daemon.socket,
            lines.joined(separator: "\n") + "\n",
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    static func code(_ response: [String: Any]) -> String? { (response["error"] as? [String: Any])?["code"] as? String }

    /// Least privilege: a peer that is neither root, the server's user nor the database owner may only read by
    /// default; `--grant` gives it more; the owner may do everything.
    @Test func rolesComeFromPeerCredentials() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
        let statements = [
            "REFRESH MODEL popularity", "DELETE USER 'u1'", "UPSERT ITEM 't2' SET title = 'PWNED', price = 0",
            "EVENT view USER 'u1' ITEM 't2'", "RECOMMEND 2 ITEMS FOR USER 'u1'", "SHOW STATS",
        ]
        do {
            let daemon = try Daemon(arguments: ["--socket-mode", "0666"])
            chmod(daemon.folder, 0o755)
            let responses = try Self.asNobody(daemon, statements)
            #expect(responses.count == statements.count, "\(responses)")
            #expect(responses.prefix(4).allSatisfy { Self.code($0) == "permission_denied" }, "\(responses)")
            #expect(responses.suffix(2).allSatisfy { $0["ok"] as? Bool == true }, "reads stay open: \(responses)")
            // Nothing was changed by the refused statements.
            let item = try #require(try daemon.client().querySync("SHOW ITEM 't2'") as? [String: Any])
            #expect((item["attributes"] as? [String: Any])?["title"] as? String != "PWNED")
            // The server's own uid (the database owner) may do everything.
            #expect(try daemon.client().querySync("REFRESH MODEL popularity") is [String: Any])
        }
        do {
            let daemon = try Daemon(arguments: ["--socket-mode", "0666", "--grant", "write=uid:65534"])
            chmod(daemon.folder, 0o755)
            let responses = try Self.asNobody(daemon, statements)
            #expect(responses.count == statements.count, "\(responses)")
            #expect(Self.code(responses[0]) == "permission_denied", "\(responses)")
            #expect(responses.dropFirst().allSatisfy { $0["ok"] as? Bool == true }, "\(responses)")
        }
        do {
            let daemon = try Daemon(arguments: ["--socket-mode", "0666", "--default-role", "none"])
            chmod(daemon.folder, 0o755)
            let responses = try Self.asNobody(daemon, ["RECOMMEND 2 ITEMS FOR USER 'u1'"])
            #expect(responses.count == 1 && Self.code(responses[0]) == "permission_denied", "\(responses)")
        }
    }

    @Test func readOnlyServerRefusesWrites() throws {
        let daemon = try Daemon(arguments: ["--read-only"])
        let client = try daemon.client()
        #expect(throws: RecDBError.self) { _ = try client.querySync("EVENT view USER 'u1' ITEM 't2'") }
        #expect(try client.querySync("RECOMMEND 2 ITEMS FOR USER 'u1'") is [String: Any])
    }

    /// An event type defined by another process (`recctl types set`) is accepted by a running recd at once, and a
    /// changed weight counts in its next refresh: each transaction reads the types its snapshot holds.
    @Test func eventTypesDefinedElsewhereAreSeenWithoutRestart() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        #expect(throws: RecDBError.self) { _ = try client.querySync("EVENT giftwrap USER 'u1' ITEM 't2'") }
        let other = try RecDatabase.open(at: daemon.database)
        try other.defineEventType(EventType(name: "giftwrap", weight: 2))
        _ = try client.querySync("EVENT giftwrap USER 'u1' ITEM 't2'")
        let stats = try #require(try client.querySync("SHOW STATS") as? [String: Any])
        #expect("\(stats)".contains("giftwrap"), "\(stats)")
        try other.defineEventType(EventType(name: "giftwrap", weight: 0))
        #expect(try other.eventTypes.contains(EventType(name: "giftwrap", weight: 0)))
    }

    /// SIGTERM while writes stream in: every acknowledged write is committed, the socket file is removed, exit 0.
    @Test func sigtermFinishesInFlightWorkAndRemovesTheSocket() throws {
        let daemon = try Daemon(trained: false)
        let socket = daemon.socket
        let acknowledged = Locked<[String]>([])
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            if let client = try? RecClient(socketPath: socket) {
                for n in 0..<100_000 {
                    guard (try? client.querySync("EVENT view USER $u ITEM 't1'", parameters: ["u": "q\(n)"])) != nil else { break }
                    acknowledged.mutate { $0.append("q\(n)") }
                }
            }
            done.signal()
        }
        usleep(700_000)
        #expect(daemon.terminate() == 0, "\(daemon.logText)")
        done.wait()
        #expect(!FileManager.default.fileExists(atPath: socket))
        let db = try RecDatabase.open(at: daemon.database)
        let acked = acknowledged.value
        #expect(!acked.isEmpty)
        #expect(try db.read { r in try acked.allSatisfy { try r.userID(for: $0) != nil } })
    }
}

struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int = 1) { lock.lock(); count += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    func mutate(_ body: (inout Value) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}

