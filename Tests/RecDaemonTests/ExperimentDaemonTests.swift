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
}
