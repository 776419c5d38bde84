import Foundation
import Testing

@testable import RecDB

/// Pages are full: when the `USING` models (one, or a blend) have fewer results than asked, the default chain fills
/// the rest, marked in the provenance, unless the request is `STRICT`. In the shop of ``RecommendTests`` item-kNN
/// and session kNN only know the items of a user's own category (20 per category).
@Suite("Page fill")
struct PageFillTests {
    static func seen(_ db: RecDatabase, _ user: String) throws -> Set<String> {
        try db.read { r in Set(try r.history(ofUser: user).map { try r.externalItemID($0.itemID)! }) }
    }

    @Test(arguments: [true, false])
    func aShortPageIsFilledFromTheDefaultChain(explain: Bool) throws {
        try RecommendTests.with { db in
            var strict = RecommendRequest(.user("u0"), count: 20, models: [ModelWeight("itemknn")])
            strict.strict = true
            strict.explain = explain
            let own = try db.recommend(strict)
            #expect(!own.isEmpty && own.count < 20, "\(own.map(\.id))")
            #expect(own.allSatisfy { $0.model == "itemknn" && $0.provenance.filledBy == nil })

            var request = strict
            request.strict = false
            let page = try db.recommend(request)
            #expect(page.count == 20)
            #expect(page.prefix(own.count).map(\.id) == own.map(\.id), "the model's own results lead, in order")
            for result in page.dropFirst(own.count) {
                #expect(result.provenance.filledBy == result.model && result.model != "itemknn", "\(result)")
            }
            #expect(Set(page.map(\.id)).count == page.count, "no item twice")
            let seen = try Self.seen(db, "u0")
            #expect(page.allSatisfy { !seen.contains($0.id) })
        }
    }

    @Test func filledItemsHonourTheFilterAndTheExclusions() throws {
        try RecommendTests.with { db in
            let excluded = ["g0", "g1", "g2"]
            // A thriller reader's item-kNN neighbours are thrillers: nothing passes a Garden filter.
            let request = RecommendRequest(
                .user("u0"), count: 10, models: [ModelWeight("itemknn")], filter: .category("Garden"), exclude: excluded)
            let page = try db.recommend(request)
            let allowed = try db.read { r in try r.items(matching: .category("Garden")) }
            #expect(page.count == 10)
            for result in page {
                #expect(allowed.contains(result.internalID) && !excluded.contains(result.id), "\(result.id)")
                #expect(result.provenance.filledBy != nil)
            }
        }
    }

    @Test func sessionsBasketsAndBlendsAreFilledToo() throws {
        try RecommendTests.with { db in
            let shapes: [RecommendRequest] = [
                RecommendRequest(.session("s0"), count: 30, models: [ModelWeight("session")]),
                RecommendRequest(.items(["t1", "t2"]), count: 30, models: [ModelWeight("itemknn")]),
                RecommendRequest(
                    .user("u12"), count: 30, models: [ModelWeight("itemknn", weight: 0.5), ModelWeight("session", weight: 0.5)]),
            ]
            for request in shapes {
                var strict = request
                strict.strict = true
                let short = try db.recommend(strict).count
                let page = try db.recommend(request)
                #expect(short < 30 && page.count == 30, "\(request.target): \(short) strict, \(page.count) filled")
                #expect(page.filter { $0.provenance.filledBy != nil }.count == 30 - short)
                #expect(Set(page.map(\.id)).count == 30)
            }
        }
    }

    @Test func strictAndFilledByInTheQueryLanguage() throws {
        try RecommendTests.with { db in
            func rows(_ query: String) throws -> [QueryValue] { try #require(try db.query(query)["items"]?.arrayValue) }
            let strict = try rows("RECOMMEND 20 ITEMS FOR USER u0 USING itemknn STRICT EXPLAIN")
            let filled = try rows("RECOMMEND 20 ITEMS FOR USER u0 USING itemknn EXPLAIN")
            #expect(strict.count < 20 && filled.count == 20)
            #expect(strict.allSatisfy { $0["provenance"]?["filled_by"] == nil })
            for row in filled.dropFirst(strict.count) {
                let model = try #require(row["model"]?.stringValue)
                #expect(row["provenance"]?["filled_by"]?.stringValue == model, "\(row.jsonText)")
            }
            // Without USING the chain serves and nothing is marked.
            let chain = try rows("RECOMMEND 20 ITEMS FOR USER u0 EXPLAIN")
            #expect(chain.allSatisfy { $0["provenance"]?["filled_by"] == nil })
            expectRecDBError(.syntax) { _ = try db.query("RECOMMEND 5 ITEMS FOR USER u0 USING als STRICT STRICT") }
        }
    }
}
