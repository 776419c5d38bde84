import Foundation
import RecDBTestSupport
import RecML
import RecTestSupport
import RecText
import Testing

@testable import RecDB

/// The text model on the recommend fixture: MATCHING, similar items, a new item encoded in its own transaction.
/// Needs the MiniLM files (`recctl models install minilm`, which `scripts/test` runs); without them the suite is
/// skipped, except under CI, where it fails.
@Suite(
    "Text model",
    .enabled(
        if: ModelFiles.minilm.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil,
        "MiniLM is not installed; run: recctl models install minilm"))
struct TextModelTests {
    init() { RecText.install() }

    @Test func matchingSimilarItemsAndNewItems() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            try db.refresh(.text)
            let space = try #require(try db.model("text")?.space)
            #expect(try db.read { r in try r.vectorCount(space: space) } == 60)

            let hoses = try db.recommend(RecommendRequest(.matching("something to water the lawn"), count: 5))
            #expect(hoses.filter { $0.id.hasPrefix("g") }.count >= 4, "\(hoses.map(\.id))")
            #expect(hoses.allSatisfy { $0.model == "text" && $0.explanation == "Matches “something to water the lawn”" })

            let cooking = try db.query("RECOMMEND 5 ITEMS MATCHING 'a book of pasta recipes' WHERE category = 'Books'")
            let ids = try #require(cooking["items"]?.arrayValue).compactMap { $0["id"]?.stringValue }
            #expect(ids.count == 5 && ids.filter { $0.hasPrefix("c") }.count >= 4, "\(ids)")

            let similar = try db.recommend(RecommendRequest(.similarTo("t3"), count: 5, models: [ModelWeight("text")]))
            #expect(similar.filter { $0.id.hasPrefix("t") }.count >= 4, "\(similar.map(\.id))")
            #expect(similar.first?.explanation.hasPrefix("Similar to") == true)

            // A new item is encoded in the transaction that writes it: MATCHING finds it at once.
            try db.write { w in
                _ = try w.upsertItem(
                    "kayak", attributes: ["title": .string("Inflatable kayak with paddle"), "category": .string("Outdoor")])
            }
            #expect(try db.read { r in try r.vector(space: space, .items, id: "kayak") } != nil)
            let boats = try db.recommend(RecommendRequest(.matching("a boat for the river"), count: 3))
            #expect(boats.first?.id == "kayak", "\(boats.map(\.id))")

            // A blend with the text model, and the text profile of a user.
            let blended = try db.recommend(
                RecommendRequest(.user("u25"), count: 5, models: [ModelWeight("als", weight: 0.5), ModelWeight("text", weight: 0.5)]))
            #expect(blended.count == 5 && blended.allSatisfy { $0.model == "blend" })
            let profile = try db.recommend(RecommendRequest(.user("u25"), count: 5, models: [ModelWeight("text")]))
            #expect(profile.filter { $0.id.hasPrefix("g") }.count >= 4, "\(profile.map(\.id))")
        }
    }

    /// Evaluation takes the vectors a refresh stored (no encoder run) and ranks as `USING text` serves: here the
    /// database holds exactly the training events, so each user's offline top 10 is the served list.
    @Test func evaluationReadsStoredVectorsAndRanksAsServed() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            try db.refresh(.text)
            let (log, catalog, stored) = try db.read { r -> (InteractionLog, [Item], StoredTextVectors?) in
                var items: [Item] = []
                try r.forEachItem { items.append($0); return .next }
                return (try r.interactionLog(), items, try r.storedTextVectors(of: items))
            }
            let vectors = try #require(stored)
            #expect(vectors.vectors.count == 60 && vectors.dimension == 384)
            let model = try #require(ModelSpec.text.train(on: log, items: catalog, textVectors: vectors) as? TextModel)
            #expect(model.encodedItems == 0)
            let encoded = try #require(ModelSpec.text.train(on: log, items: catalog) as? TextModel)
            #expect(encoded.encodedItems == 60)
            for item in 0..<60 {
                let a = try #require(model.itemVector(UInt32(item))), b = try #require(encoded.itemVector(UInt32(item)))
                #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 })
            }

            var split = EvaluationSplit(InteractionLog(), kind: .leaveLastOut)
            split.train = log
            let evaluator = Evaluator(split: split, catalogItems: 60, sessionGap: db.sessionGap)
            for user in UInt32(0)..<30 {
                let id = try #require(try db.read { r in try r.externalUserID(user) })
                let served = try db.recommend(RecommendRequest(.user(id), count: 10, models: [ModelWeight("text")]))
                let offline = try evaluator.ranking(for: user, model: model).map { item in
                    try #require(try db.read { r in try r.item(internalID: item)?.id })
                }
                #expect(offline == served.map(\.id), "user \(id)")
            }
        }
    }

    @Test func textCompetesOnColdItemsInEvaluation() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            let (_, rows) = try db.evaluate([.text, .itemKNN(neighbours: 20)], split: .coldItems, k: 10)
            let text = try #require(rows.first { $0.spec.name == "text" }?.result.coldItems)
            #expect(text.hitRate > 0.3, "\(text)")
            #expect(rows.first { $0.spec.name == "itemknn" }?.result.coldItems?.hitRate == 0)
        }
    }
}
