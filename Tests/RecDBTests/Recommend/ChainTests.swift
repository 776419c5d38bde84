import Foundation
import Testing

@testable import RecDB

/// `USING CHAIN(…)` is served by the code that serves the default fallback chain: naming the default chain's models
/// in its order gives the default page.
@Suite("Chains")
struct ChainTests {
    @Test func namingTheDefaultChainGivesTheDefaultPage() throws {
        try RecommendTests.with { db in
            // Trained: popularity, itemknn, als, content, session. For a user the default chain is ALS (the one
            // personalised model that leads), session, content, popularity; for similar items item-kNN, content,
            // ALS, popularity.
            let cases = [
                ("FOR USER 'u3'", "CHAIN(als, session, content, popularity)"),
                ("FOR USER 'u17' WHERE category = 'Books'", "CHAIN(als, session, content, popularity)"),
                ("SIMILAR TO ITEM 't4'", "CHAIN(itemknn, content, als, popularity)"),
                ("FOR ITEMS ('g1', 'g2')", "CHAIN(itemknn, session, content, als, popularity)"),
            ]
            for (target, chain) in cases {
                let fallback = try db.query("RECOMMEND 30 ITEMS \(target) EXPLAIN")
                let named = try db.query("RECOMMEND 30 ITEMS \(target) USING \(chain) STRICT EXPLAIN")
                #expect(!QueryTests.ids(fallback).isEmpty)
                #expect(named == fallback, "\(target) \(chain)")
            }
        }
    }

    /// A chain lists its first model's candidates before the next model's, never repeating an item; a blend of the
    /// same models mixes them.
    @Test func aChainFillsModelByModel() throws {
        try RecommendTests.with { db in
            var request = RecommendRequest(.user("u5"), count: 40, models: [ModelWeight("itemknn"), ModelWeight("popularity")])
            request.chain = true
            request.strict = true
            let chained = try db.recommend(request)
            let models = chained.map(\.model)
            let firstPopular = models.firstIndex(of: "popularity") ?? models.count
            #expect(models.first == "itemknn" && !models[firstPopular...].contains("itemknn"), "\(models)")
            #expect(Set(chained.map(\.id)).count == chained.count)
            let alone = try db.recommend(
                RecommendRequest(.user("u5"), count: 40, models: [ModelWeight("itemknn")]).strictly())
            #expect(Array(chained.prefix(alone.count).map(\.id)) == alone.map(\.id))
            request.chain = false
            #expect(try db.recommend(request).allSatisfy { $0.model == "blend" })
        }
    }
}

extension RecommendRequest {
    fileprivate func strictly() -> RecommendRequest {
        var request = self
        request.strict = true
        return request
    }
}
