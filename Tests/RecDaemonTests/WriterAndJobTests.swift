import Foundation
import RecClient
import RecDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// recd's one writer and its one job queue: failing writes in a group-commit batch roll back alone; scheduled and
/// admin refreshes of one model take turns.
@Suite("recd writer and jobs", .serialized)
struct WriterAndJobTests {
    /// 120 pipelined writes, every fourth one bad (an unknown event type, or an event whose user and item are created
    /// before its session id fails): the good ones succeed, the bad ones fail and leave nothing, and the server
    /// counts exactly the good ones as committed.
    @Test func failingWritesInABatchRollBackAlone() throws {
        let daemon = try Daemon(trained: false)
        let raw = try RawConnection(daemon.socket)
        let longSession = String(repeating: "s", count: 300)
        var lines = ""
        var good: [Bool] = []
        for i in 0..<120 {
            let text: String
            switch i % 8 {
            case 3: text = "EVENT nosuchtype USER 'bad-\(i)' ITEM 't1'"
            case 7: text = "EVENT view USER 'half-\(i)' ITEM 'half-item-\(i)' SESSION '\(longSession)'"
            case 0, 4: text = "UPSERT ITEM 'new-\(i)' SET title = 'New \(i)', category = 'Garden'"
            default: text = "EVENT purchase USER 'buyer-\(i)' ITEM 't\(i % 20)'"
            }
            good.append(i % 4 != 3)
            lines += #"{"id":\#(i),"q":"\#(text)"}"# + "\n"
        }
        let before = try #require(try daemon.client().querySync("STATUS") as? [String: Any])
        raw.send(lines)
        for i in 0..<120 {
            let response = try #require(raw.response())
            #expect(response["id"] as? Int == i)
            #expect(response["ok"] as? Bool == good[i], "statement \(i): \(response)")
        }
        let client = try daemon.client()
        for i in 0..<120 where i % 8 == 7 {
            #expect(throws: RecDBError.self) { try client.querySync("SHOW USER 'half-\(i)'") }
            #expect(throws: RecDBError.self) { try client.querySync("SHOW ITEM 'half-item-\(i)'") }
        }
        let status = try #require(try client.querySync("STATUS") as? [String: Any])
        let committed = (status["writes_committed"] as? Int ?? 0) - (before["writes_committed"] as? Int ?? 0)
        #expect(committed == good.filter { $0 }.count)
        let stats = try #require(try client.querySync("SHOW STATS") as? [String: Any])
        #expect(stats["users"] as? Int == 30 + 60 && stats["items"] as? Int == 60 + 30, "\(stats)")
        #expect(daemon.terminate() == 0)
        let db = try RecDatabase.open(at: daemon.database)
        #expect(try db.checkIntegrity() == [])
    }

    /// A schedule that refreshes ALS every second while three clients send `REFRESH MODEL als` four times each: every
    /// admin refresh succeeds (the schedule and the statements share one queue, so none meets another), generations
    /// only grow, and the file is sound with one ALS space left.
    @Test func scheduledAndAdminRefreshesTakeTurns() throws {
        let daemon = try Daemon(arguments: ["--refresh-every", "1s", "--refresh-models", "als"])
        let generations = Locked<[Int]>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            guard let raw = try? RawConnection(daemon.socket) else { return failures.mutate { $0.append("no connection") } }
            var last = 0
            for _ in 0..<4 {
                raw.send("REFRESH MODEL als\n")
                let response = raw.response()
                guard let response, response["ok"] as? Bool == true,
                    let generation = (response["result"] as? [String: Any])?["generation"] as? Int
                else { return failures.mutate { $0.append("REFRESH failed: \(String(describing: response))") } }
                if generation <= last { failures.mutate { $0.append("generation \(generation) after \(last)") } }
                last = generation
                generations.mutate { $0.append(generation) }
                usleep(200_000)
            }
        }
        #expect(failures.value == [])
        let admin = generations.value
        #expect(admin.count == 12 && Set(admin).count == 12, "\(admin)")
        let deadline = Date().addingTimeInterval(20)
        while !daemon.logText.contains("refreshed als") && Date() < deadline { usleep(100_000) }
        #expect(daemon.logText.contains("refreshed als"), "the schedule never ran: \(daemon.logText)")
        #expect(!daemon.logText.contains("refresh of als failed"), "\(daemon.logText)")
        #expect(daemon.terminate() == 0)

        let db = try RecDatabase.open(at: daemon.database)
        let record = try #require(try db.model("als"))
        #expect(Int(record.generation) >= admin.max() ?? 0)
        #expect(try db.spaces().map(\.name).filter { $0.hasPrefix("als@") } == ["als@\(record.generation)"])
        #expect(try db.checkIntegrity() == [])
        #expect(try db.environment.verifyFile().isSound)
        let page = try db.query("RECOMMEND 5 ITEMS FOR USER 'u0' USING als")
        guard case .object(let members) = page, case .array(let items)? = members["items"] else {
            Issue.record("unexpected page \(page)")
            return
        }
        #expect(items.count == 5)
    }
}
