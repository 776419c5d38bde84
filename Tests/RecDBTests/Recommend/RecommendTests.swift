import Foundation
import RecDBTestSupport
import Testing

@testable import RecDB

/// The recommend API on a small shop: three categories, users with one taste each, every model trained.
@Suite("Recommend API")
struct RecommendTests {
    static let categories = ShopFixture.categories

    /// The shop of ``ShopFixture/makeDatabase(_:)``.
    static func makeDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        try ShopFixture.makeDatabase(folder)
    }

    static func with(_ body: (RecDatabase) throws -> Void) throws {
        try TemporaryDirectory.with { folder in try body(try makeDatabase(folder)) }
    }

    static let filters: [ItemPredicate] = [
        .category("Books"),
        .compare(attribute: "price", .less, .number(12)),
        .and([.category("Garden"), .compare(attribute: "price", .greaterOrEqual, .number(10))]),
        .or([.category("Books/Cooking"), .tag("even")]),
        .not(.category("Books")),
        .oneOf(attribute: "price", [.number(5), .number(6), .number(20), .number(21)]),
        .available,
        .and([.available, .not(.tag("odd")), .category("Books/Thriller")]),
    ]

    static let modelChoices: [[ModelWeight]] = [
        [], [ModelWeight("als")], [ModelWeight("content")], [ModelWeight("popularity")], [ModelWeight("itemknn")],
        [ModelWeight("als", weight: 0.6), ModelWeight("content", weight: 0.4)],
    ]

    @Test func filtersNeverLeakADisallowedItem() throws {
        try Self.with { db in
            for filter in Self.filters {
                let allowed = try db.read { r in try r.items(matching: filter) }
                for user in stride(from: 0, to: 30, by: 4) {
                    for models in Self.modelChoices {
                        var request = RecommendRequest(.user("u\(user)"), count: 10, models: models, filter: filter)
                        request.diversification = user % 8 == 0 ? .maximalMarginalRelevance(lambda: 0.5) : nil
                        for result in try db.recommend(request) {
                            #expect(allowed.contains(result.internalID), "\(result.id) leaked through \(filter) for u\(user)")
                        }
                    }
                }
                for target in [RecommendRequest.Target.similarTo("t1"), .items(["c1", "c3"]), .session("s25")] {
                    for result in try db.recommend(RecommendRequest(target, count: 10, filter: filter)) {
                        #expect(allowed.contains(result.internalID), "\(result.id) leaked through \(filter) for \(target)")
                    }
                }
            }
        }
    }

    @Test func excludedAndSeenItemsNeverAppear() throws {
        try Self.with { db in
            for user in 0..<30 {
                let seen = try db.read { r in
                    Set(try r.history(ofUser: "u\(user)").map { try r.externalItemID($0.itemID)! })
                }
                let excluded = ["t0", "c0", "g0", "t5", "c5", "g5"]
                for models in Self.modelChoices {
                    let request = RecommendRequest(.user("u\(user)"), count: 15, models: models, exclude: excluded)
                    for result in try db.recommend(request) {
                        #expect(!seen.contains(result.id), "u\(user) was recommended \(result.id), already seen")
                        #expect(!excluded.contains(result.id), "u\(user) was recommended excluded \(result.id)")
                    }
                }
            }
            for result in try db.recommend(RecommendRequest(.items(["g1", "g2"]), count: 20)) {
                #expect(!["g1", "g2"].contains(result.id))
            }
        }
    }

    @Test(arguments: [nil, RecommendRequest.Diversification.maximalMarginalRelevance(lambda: 0.6), .perCategory(3)])
    func pagesNeverOverlap(diversification: RecommendRequest.Diversification?) throws {
        try Self.with { db in
            for target in [RecommendRequest.Target.user("u3"), .user("u17"), .similarTo("g4"), .items(["c2"])] {
                var shown: [String] = []
                for page in 0..<10 {
                    var request = RecommendRequest(target, count: 4, offset: page * 4)
                    request.diversification = diversification
                    shown += try db.recommend(request).map(\.id)
                }
                #expect(Set(shown).count == shown.count, "pages repeat an item for \(target): \(shown)")
                #expect(shown.count >= 20, "pages ran dry early for \(target): \(shown.count)")
            }
        }
    }

    @Test func perCategoryCapHolds() throws {
        try Self.with { db in
            let results = try db.recommend(RecommendRequest(.user("u2"), count: 6, diversification: .perCategory(2)))
            let categories = try db.read { r in try results.map { try r.item($0.id)!.category! } }
            for category in Set(categories) { #expect(categories.filter { $0 == category }.count <= 2) }
            #expect(results.count == 6)
        }
    }

    @Test func foldInPersonalisesANewUserAfterAFewEvents() throws {
        try Self.with { db in
            try db.write { w in _ = try w.upsertUser("newbie") }
            let before = try db.recommend(RecommendRequest(.user("newbie"), count: 10))
            #expect(!before.isEmpty, "a user without events still gets results")
            #expect(before.allSatisfy { $0.model == "popularity" }, "\(before.map(\.model))")
            try db.write { w in
                for (minute, item) in [(10_000, "g2"), (10_001, "g6"), (10_002, "g9")] {
                    try w.addEvent(EventInput("newbie", "view", item, at: Int64(minute)))
                }
            }
            let after = try db.recommend(RecommendRequest(.user("newbie"), count: 10, models: [ModelWeight("als")]))
            #expect(after.map(\.id) != before.map(\.id))
            #expect(after.count == 10)
            let garden = after.filter { $0.id.hasPrefix("g") }.count
            #expect(garden >= 7, "fold-in should find the garden taste: \(after.map(\.id))")
            #expect(after.allSatisfy { $0.model == "als" })
            // The default chain now leads with the personalised model.
            #expect(try db.recommend(RecommendRequest(.user("newbie"), count: 3)).first?.model == "als")
        }
    }

    @Test func everyResultHasProvenanceAndExplanationsNameRealItems() throws {
        try Self.with { db in
            let targets: [RecommendRequest.Target] = [
                .user("u1"), .user("u12"), .user("u25"), .session("s4"), .items(["g3", "g4"]), .similarTo("c7"),
            ]
            for target in targets {
                for models in Self.modelChoices + [[ModelWeight("session")]] {
                    let results: [Recommendation]
                    do {
                        results = try db.recommend(RecommendRequest(target, count: 8, models: models))
                    } catch let error as RecDBError where error.code == .notFound { continue }
                    for result in results {
                        #expect(!result.model.isEmpty)
                        #expect(!result.explanation.isEmpty)
                        if result.provenance.reason != .popularity {
                            #expect(!result.provenance.items.isEmpty, "\(result) has no source items")
                        }
                        try db.read { r in
                            for source in result.provenance.items {
                                let item = try #require(try r.item(source.id), "provenance names unknown item \(source.id)")
                                #expect(source.title == item.title)
                            }
                        }
                        if let first = result.provenance.items.first {
                            #expect(result.explanation.contains(first.title ?? first.id), "\(result.explanation)")
                        }
                    }
                }
            }
            let explained = try db.recommend(RecommendRequest(.user("u1"), count: 3, models: [ModelWeight("als")]))
            #expect(explained.allSatisfy { $0.explanation.hasPrefix("Because you ") })
        }
    }

    @Test func aNewItemIsRecommendableByContentAtOnce() throws {
        try Self.with { db in
            try db.write { w in
                try w.upsertItem(
                    "g-new",
                    attributes: [
                        "title": .string("Garden hose with lawn seeds"), "category": .string("Garden"),
                        "description": .string("garden plants shovel"),
                    ])
            }
            let space = try #require(try db.model("content")?.space)
            #expect(try db.read { r in try r.vector(space: space, .items, id: "g-new") } != nil)
            let similar = try db.recommend(RecommendRequest(.similarTo("g-new"), count: 5, models: [ModelWeight("content")]))
            #expect(similar.filter { $0.id.hasPrefix("g") }.count >= 4, "\(similar.map(\.id))")
            let forGardener = try db.recommend(
                RecommendRequest(.user("u21"), count: 40, models: [ModelWeight("content")]))
            #expect(forGardener.contains { $0.id == "g-new" }, "the new item is not among content results")
        }
    }

    @Test func sessionsAndBasketsGetNextItems() throws {
        try Self.with { db in
            let next = try db.recommend(RecommendRequest(.session("s22"), count: 5))
            #expect(next.first?.model == "session")
            #expect(next.filter { $0.id.hasPrefix("g") }.count >= 4, "\(next.map(\.id))")
            let basket = try db.recommend(RecommendRequest(.items(["t1", "t3"]), count: 5))
            #expect(basket.filter { $0.id.hasPrefix("t") }.count >= 4, "\(basket.map(\.id))")
            #expect(basket.first?.explanation.hasPrefix("Goes well with") == true)
        }
    }

    @Test func usersForAnItemAreUsersWithThatTaste() throws {
        try Self.with { db in
            let users = try db.recommend(RecommendRequest(.usersForItem("c4"), count: 5))
            #expect(users.count == 5)
            let cooks = users.filter { Int($0.id.dropFirst())! / 10 == 1 }.count
            #expect(cooks >= 4, "\(users.map(\.id))")
        }
    }

    @Test func badRequestsGetClearErrors() throws {
        try Self.with { db in
            expectRecDBError(.notFound) { _ = try db.recommend(RecommendRequest(.user("nobody"))) }
            expectRecDBError(.notFound) { _ = try db.recommend(RecommendRequest(.similarTo("no-such-item"))) }
            expectRecDBError(.notFound) { _ = try db.recommend(RecommendRequest(.user("u1"), models: [ModelWeight("bpr")])) }
            expectRecDBError(.invalidArgument) { _ = try db.recommend(RecommendRequest(.user("u1"), models: [ModelWeight("nope")])) }
            expectRecDBError(.invalidArgument) { _ = try db.recommend(RecommendRequest(.user("u1"), count: -1)) }
        }
    }
}
