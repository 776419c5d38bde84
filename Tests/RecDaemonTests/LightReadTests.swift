import Foundation
import RecClient
import RecDB
import Testing

/// `recd --light-reads inline|pool`: where light reads run changes no answer, and a bad value is refused.
@Suite("recd light reads", .serialized)
struct LightReadTests {
    static let reads = [
        "RECOMMEND 10 ITEMS FOR USER 'u3' EXCLUDE SEEN", "RECOMMEND 5 ITEMS FOR USER 'u12' EXPLAIN",
        "RECOMMEND 3 ITEMS SIMILAR TO ITEM 'g2'", "RECOMMEND 4 ITEMS FOR ITEMS ('t1', 't2') WHERE price < 20",
        "RECOMMEND 3 USERS FOR ITEM 'c4'", "SHOW ITEM 't1'", "SHOW USER 'u1' HISTORY LIMIT 3", "SHOW STATS",
        "RECOMMEND 3 ITEMS FOR USER 'nobody'", "recommend 3 items for user 'u7'",
    ]

    /// Each read's answer line is byte for byte the in-process answer (the JSON text of `RecDatabase.query`, or the
    /// error), in either mode, asked twice (the second time from the token cache).
    @Test(arguments: ["inline", "pool"]) func answersAreTheInProcessAnswers(lightReads: String) throws {
        let daemon = try Daemon(arguments: ["--light-reads", lightReads])
        let client = try daemon.client()
        let db = try RecDatabase.open(at: daemon.database)
        for query in Self.reads + Self.reads {
            let answer = try client.exchange(query)
            let expected: String
            do {
                expected = #"{"id":null,"ok":true,"result":"# + (try db.query(query)).jsonText + #","took_us":"#
            } catch let error as RecDBError {
                expected = #"{"id":null,"ok":false,"error":{"code":"\#(error.code.description)","#
            }
            #expect(answer.hasPrefix(expected), "\(lightReads): \(query) → \(answer.prefix(300))")
        }
    }

    @Test func aBadModeIsRefused() {
        #expect(throws: RecDBError.self) { _ = try Daemon(arguments: ["--light-reads", "sideways"]) }
    }
}
