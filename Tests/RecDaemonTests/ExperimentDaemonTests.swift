import Foundation
import RecClient
import RecDB
import Testing

/// Experiments through a real recd: impressions go through the group-commit writer without the read waiting, and
/// events pipelined right behind their recommendations are credited to them.
@Suite("recd experiments", .serialized)
struct ExperimentDaemonTests {
    @Test func impressionsAndAttributionThroughTheWriter() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        _ = try client.querySync(
            "CREATE EXPERIMENT ranker VARIANTS (control: USING popularity, b: USING itemknn) SPLIT 50/50")
        var clicks = ["control": 0, "b": 0]
        var impressions = ["control": 0, "b": 0]
        for user in 0..<30 {
            let answer = try #require(
                try client.querySync("RECOMMEND 4 ITEMS FOR USER $u IN EXPERIMENT ranker", parameters: ["u": "u\(user)"])
                    as? [String: Any])
            let variant = try #require(answer["variant"] as? String)
            let rid = try #require(answer["recommendation_id"] as? String)
            let items = try #require(answer["items"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            impressions[variant, default: 0] += 1
            if user % 2 == 0 {
                _ = try client.querySync(
                    "EVENT click USER $u ITEM $i FROM RECOMMENDATION $r", parameters: ["u": "u\(user)", "i": items[0], "r": rid])
                clicks[variant, default: 0] += 1
            } else if user % 3 == 0 {
                _ = try client.querySync("EVENT click USER $u ITEM $i", parameters: ["u": "u\(user)", "i": items[1]])
                clicks[variant, default: 0] += 1
            }
        }
        // A read-only pass: impressions alone still reach the disk (the writer commits them with no write queued).
        for user in 0..<10 {
            _ = try client.querySync("RECOMMEND 2 ITEMS FOR USER $u IN EXPERIMENT ranker", parameters: ["u": "u\(user)"])
        }
        var report: [String: Any] = [:]
        var total = 0
        for _ in 0..<100 {
            report = try #require(try client.querySync("SHOW EXPERIMENT ranker") as? [String: Any])
            let rows = report["variants"] as? [[String: Any]] ?? []
            total = rows.compactMap { $0["impressions"] as? Int }.reduce(0, +)
            if total == 40 { break }
            usleep(20_000)
        }
        #expect(total == 40, "\(report)")
        for row in report["variants"] as? [[String: Any]] ?? [] {
            let name = try #require(row["name"] as? String)
            #expect(row["clicks"] as? Int == clicks[name], "\(name): \(row)")
        }
        #expect(daemon.terminate() == 0)
        let db = try RecDatabase.open(at: daemon.database)
        #expect(try db.checkIntegrity() == [])
    }

    /// recd and another process share the database: each credits an event to the impression the other recorded
    /// (recd's unit index reads the log's end; the other process builds its own from the log).
    @Test func anotherProcessesImpressionsAreCredited() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        _ = try client.querySync(
            "CREATE EXPERIMENT ranker VARIANTS (control: USING popularity, b: USING itemknn) SPLIT 50/50")
        func shown(_ answer: Any?) throws -> [String] {
            let answer = try #require(answer as? [String: Any])
            return try #require(answer["items"] as? [[String: Any]]).compactMap { $0["id"] as? String }
        }
        func totals() throws -> (impressions: Int, clicks: Int) {
            let report = try #require(try client.querySync("SHOW EXPERIMENT ranker") as? [String: Any])
            let rows = report["variants"] as? [[String: Any]] ?? []
            return (
                rows.compactMap { $0["impressions"] as? Int }.reduce(0, +), rows.compactMap { $0["clicks"] as? Int }.reduce(0, +)
            )
        }
        // recd credits its own impression first, so its index is built before the other process writes.
        let first = try shown(try client.querySync("RECOMMEND 4 ITEMS FOR USER 'u1' IN EXPERIMENT ranker"))
        _ = try client.querySync("EVENT click USER 'u1' ITEM $i", parameters: ["i": first[0]])
        let db = try RecDatabase.open(at: daemon.database)
        let answer = try db.query("RECOMMEND 4 ITEMS FOR USER 'u2' IN EXPERIMENT ranker")
        let mine = (answer["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        _ = try client.querySync("EVENT click USER 'u2' ITEM $i", parameters: ["i": mine[1]])
        #expect(try totals().clicks == 2)
        let theirs = try shown(try client.querySync("RECOMMEND 4 ITEMS FOR USER 'u3' IN EXPERIMENT ranker"))
        for _ in 0..<200 where try totals().impressions < 3 { usleep(10_000) }
        _ = try db.query("EVENT click USER 'u3' ITEM $i", parameters: ["i": .string(theirs[2])])
        #expect(try totals().clicks == 3)
        #expect(daemon.terminate() == 0)
    }

    /// Clients recommend and click (naming no recommendation) as fast as they can; recd dies with SIGKILL. Every
    /// acknowledged click is credited in the file, and after the restart a new click on an impression recorded before
    /// the kill is credited too (the unit index is rebuilt from the log).
    @Test func killedDaemonKeepsEveryAcknowledgedCredit() throws {
        let daemon = try Daemon()
        _ = try daemon.client().querySync(
            "CREATE EXPERIMENT ranker VARIANTS (control: USING popularity, b: USING popularity) SPLIT 50/50")
        let acknowledged = Locked<[(user: String, items: [String])]>([])
        daemon.loadThenKill(workers: 6, microseconds: 1_500_000) { client, worker, n in
            let user = "u\((worker * 7 + n) % 30)"
            let answer = try client.querySync(
                "RECOMMEND 4 ITEMS FOR USER $u IN EXPERIMENT ranker", parameters: ["u": user]) as? [String: Any]
            let items = (answer?["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            guard items.count >= 3 else { return }
            _ = try client.querySync("EVENT click USER $u ITEM $i", parameters: ["u": user, "i": items[0]])
            acknowledged.mutate { $0.append((user, items)) }
        }
        let acked = acknowledged.value
        #expect(acked.count > 50, "too few clicks to judge: \(acked.count)")
        let db = try RecDatabase.open(at: daemon.database)
        func clicks() throws -> Int {
            let rows = try db.query("SHOW EXPERIMENT ranker")["variants"]?.arrayValue ?? []
            return Int(rows.compactMap { $0["clicks"]?.numberValue }.reduce(0, +))
        }
        let credited = try clicks()
        #expect(credited >= acked.count, "\(credited) clicks credited for \(acked.count) acknowledged")
        // Each user's newest acknowledged page: an event looks through the unit's newest 64 impressions only, and a
        // user's first pages fall out of those on a fast machine (a user gets ~100 pages in the 1.5 s of load).
        var newestPage: [String: [String]] = [:]
        for (user, items) in acked { newestPage[user] = items }
        let picks = newestPage.sorted { $0.key < $1.key }.prefix(20)
        for (user, items) in picks {
            _ = try db.query("EVENT click USER $u ITEM $i", parameters: ["u": .string(user), "i": .string(items[2])])
        }
        #expect(try clicks() == credited + picks.count, "\(acked.count) acknowledged clicks")
        #expect(try db.checkIntegrity() == [])
    }
}
