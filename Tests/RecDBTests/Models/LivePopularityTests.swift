import Foundation
import Testing

@testable import RecDB

/// Popularity and trending kept live by events (``ItemHeatSchema``): a burst of events moves the next answer without
/// a refresh, the live counters agree with what a refresh would train, and events rolled back move nothing.
@Suite("Live popularity and trending")
struct LivePopularityTests {
    static let day: Int64 = 86_400_000

    /// Items i0…i9; ten days ago i0 was viewed 20 times and the others twice each; user `watcher` viewed i9 today.
    static func makeDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        let now = Timestamp.now.milliseconds
        try db.write { w in
            for item in 0..<10 {
                for n in 0..<(item == 0 ? 20 : 2) {
                    try w.addEvent(
                        EventInput(
                            user: "old\(n)", item: "i\(item)", type: "view",
                            timestamp: Timestamp(milliseconds: now - 10 * day + Int64(n))))
                }
            }
            try w.addEvent(EventInput(user: "watcher", item: "i9", type: "view", timestamp: .now))
        }
        return db
    }

    static func top(_ db: RecDatabase, using model: String) throws -> [String] {
        let answer = try db.query("RECOMMEND 3 ITEMS FOR USER 'watcher' USING \(model)")
        return answer["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
    }

    @Test func aBurstOfPurchasesLeadsTheNextAnswerWithoutARefresh() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.popularity(halfLifeDays: 30))
            try db.refresh(.trending(halfLifeDays: 1))
            #expect(try Self.top(db, using: "popularity").first == "i0")
            #expect(try Self.top(db, using: "trending").first == "i0")
            // A burst on i7, right now: ten purchases (weight 5 each).
            try db.write { w in
                for n in 0..<10 {
                    try w.addEvent(EventInput(user: "buyer\(n)", item: "i7", type: "purchase", timestamp: .now))
                }
            }
            #expect(try Self.top(db, using: "popularity").first == "i7")
            #expect(try Self.top(db, using: "trending").first == "i7")
            #expect(try Self.top(db, using: "BLEND(trending 0.5, popularity 0.5)").first == "i7")
            // No refresh ran: both models are still at their first generation.
            #expect(try db.model("popularity")?.generation == 1)
            #expect(try db.model("trending")?.generation == 1)
        }
    }

    @Test func liveCountersRankAsARefreshWould() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.trending(halfLifeDays: 2))
            let now = Timestamp.now.milliseconds
            try db.write { w in
                for (n, item) in [3, 3, 5, 3, 8, 5, 1].enumerated() {
                    try w.addEvent(
                        EventInput(user: "b\(n)", item: "i\(item)", type: "cart", timestamp: Timestamp(milliseconds: now - Int64(n) * Self.day / 3)))
                }
            }
            let live = try Self.top(db, using: "trending")
            try db.refresh(.trending(halfLifeDays: 2))
            // The counter was already live with this half-life: the refresh kept it, and its order is the trained one.
            let trained = try db.read { r in
                try r.popularityScores(try #require(try r.model("trending")))
            }
            let watcherSaw: Set<Int> = [9]
            let expected = trained.enumerated().filter { $0.element > 0 && !watcherSaw.contains($0.offset) }
                .sorted { $0.element > $1.element }.prefix(3).map { "i\($0.offset)" }
            #expect(live == expected, "live \(live), trained \(expected)")
            #expect(try Self.top(db, using: "trending") == live)
        }
    }

    @Test func eventsRolledBackInASavepointMoveNothing() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.trending(halfLifeDays: 1))
            try db.write { w in
                _ = try w.attempt { w -> Void in
                    for n in 0..<10 {
                        try w.addEvent(EventInput(user: "ghost\(n)", item: "i4", type: "purchase", timestamp: .now))
                    }
                    throw RecDBError(.invalidArgument, "rolled back")
                }
            }
            #expect(try Self.top(db, using: "trending").first == "i0")
        }
    }
    /// The ranking a refresh of `kind` trains (items `watcher` has not seen, best first).
    static func trainedTop(_ db: RecDatabase, _ kind: String, _ count: Int) throws -> [String] {
        let trained = try db.read { r in try r.popularityScores(try #require(try r.model(kind))) }
        return trained.enumerated().filter { $0.element > 0 && $0.offset != 9 }
            .sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
            .prefix(count).map { "i\($0.offset)" }
    }

    @Test func eventsFoldInRunsAndReadsCountTheUnfoldedOnes() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.trending(halfLifeDays: 2))
            let folded = try db.read { r in try r.heatFoldedThrough() }
            #expect(folded == (try db.read { r in try r.lastEventSequence() }))
            // 1,500 events over i1…i8 in transactions of 100: the counters fold once 1,024 wait, reads add the rest.
            let now = Timestamp.now.milliseconds
            for batch in 0..<15 {
                try db.write { w in
                    for n in 0..<100 {
                        let k = batch * 100 + n
                        try w.addEvent(
                            EventInput(
                                user: "s\(k % 40)", item: "i\(1 + k * k % 8)", type: k % 7 == 0 ? "purchase" : "view",
                                timestamp: Timestamp(milliseconds: now - Int64(k) * 60_000)))
                    }
                }
            }
            let (last, foldedNow) = try db.read { r in (try r.lastEventSequence(), try #require(try r.heatFoldedThrough())) }
            #expect(foldedNow > folded ?? 0 && last - foldedNow < ItemHeatCounter.foldRun, "folded \(foldedNow) of \(last)")
            let live = try Self.top(db, using: "trending")
            // Turning popularity on folds trending's waiting events first, then both count every event.
            try db.refresh(.popularity(halfLifeDays: 30))
            #expect(try db.read { r in try r.heatFoldedThrough() } == last)
            #expect(try Self.top(db, using: "trending") == live)
            #expect(try Self.top(db, using: "popularity") == (try Self.trainedTop(db, "popularity", 3)))
            try db.refresh(.trending(halfLifeDays: 2))
            #expect(live == (try Self.trainedTop(db, "trending", 3)), "live \(live)")
        }
    }
}
