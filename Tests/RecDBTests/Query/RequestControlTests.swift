import Foundation
import Testing

@testable import RecDB

/// Request limits, deadlines and cancellation: expensive statements are refused before any work, and running ones
/// stop at their deadline or when cancelled.
@Suite("Request limits and control")
struct RequestControlTests {
    @Test(arguments: [
        ("RECOMMEND 10 ITEMS FOR USER 'u1' OFFSET 995", "OFFSET + count of RECOMMEND is 1005; the limit is 1000"),
        ("RECOMMEND 5 ITEMS FOR USER 'u1' USING BLEND(als 1, als 1, als 1, als 1, als 1, als 1, als 1, als 1, als 1)",
         "models in BLEND or CHAIN is 9; the limit is 8"),
        ("RECOMMEND 5 ITEMS FOR ITEMS (\((0..<101).map { "'t\($0)'" }.joined(separator: ",")))",
         "items in FOR ITEMS is 101; the limit is 100"),
        ("RECOMMEND 5 ITEMS MATCHING '\(String(repeating: "x", count: 1001))'", "bytes of the MATCHING text is 1001"),
        ("ASK '\(String(repeating: "x", count: 1001))'", "bytes of the ASK text is 1001"),
        ("SHOW USER 'u1' LIMIT 5000", "rows of SHOW USER … LIMIT is 5000"),
        ("RECOMMEND 5 ITEMS FOR USER 'u1' WHERE category IN (\((0..<1000).map { "'c\($0)'" }.joined(separator: ",")))",
         "conditions and values in WHERE is 1001"),
    ])
    func statementsOverTheLimitsAreRefusedWhenPrepared(query: String, message: String) throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let error = #expect(throws: RecDBError.self) { _ = try db.prepare(query) }
            #expect(error?.code == .limitExceeded, "\(String(describing: error))")
            #expect(error?.message.contains(message) == true, "\(String(describing: error))")
            var raised = RequestLimits.standard
            raised.maxResults = 10_000
            raised.maxBlendModels = 100
            raised.maxBasketItems = 1000
            raised.maxTextBytes = 10_000
            raised.maxHistoryRows = 10_000
            raised.maxFilterTerms = 10_000
            #expect(throws: Never.self) { _ = try db.prepare(query, limits: raised) }
        }
    }

    @Test func costSeparatesQuickReadsFromSlowOnes() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            #expect(try db.prepare("RECOMMEND 10 ITEMS FOR USER 'u1'").cost == .light)
            #expect(try db.prepare("SHOW STATS").cost == .light)
            #expect(try db.prepare("RECOMMEND 10 ITEMS FOR USER 'u1' EXPLAIN GENERATED").cost == .heavy)
            #expect(try db.prepare("RECOMMEND 10 ITEMS MATCHING 'red shoes'").cost == .heavy)
            #expect(try db.prepare("ASK 'a gift'").cost == .heavy)
            #expect(try db.prepare("RECOMMEND 10 ITEMS FOR USER 'u1' OFFSET 300").cost == .heavy)
            #expect(try db.prepare("RECOMMEND 10 ITEMS FOR USER 'u1' USING BLEND(als 1, itemknn 1, popularity 1)").cost == .heavy)
        }
    }

    @Test func aRequestPastItsDeadlineStopsWithTimeout() throws {
        try RecommendTests.with { db in
            let statement = try db.prepare("RECOMMEND 5 ITEMS FOR USER 'u1' WHERE price < 20")
            let expired = RequestControl(timeout: .zero)
            let error = #expect(throws: RecDBError.self) { _ = try db.execute(statement, control: expired) }
            #expect(error?.code == .timeout, "\(String(describing: error))")
            // With time to spare it answers, and the thread has no current control afterwards.
            #expect(throws: Never.self) { _ = try db.execute(statement, control: RequestControl(timeout: .seconds(30))) }
            #expect(RequestControl.current == nil)
        }
    }

    @Test func aCancelledRequestStopsInItsLoops() throws {
        try RecommendTests.with { db in
            let control = RequestControl()
            // Cancelled while it runs: the first check inside the recommend loop stops it.
            let error = #expect(throws: RecDBError.self) {
                _ = try control.run {
                    control.cancel()
                    return try db.read { r in try r.recommend(RecommendRequest(.user("u1"), count: 5)) }
                }
            }
            #expect(error?.code == .cancelled, "\(String(describing: error))")
            #expect(control.isCancelled)
        }
    }

    @Test func askRejectsAnEmptyRequestBeforeTheModel() throws {
        try RecommendTests.with { db in
            expectRecDBError(.invalidArgument) { _ = try db.query("ASK '   '") }
        }
    }
}
