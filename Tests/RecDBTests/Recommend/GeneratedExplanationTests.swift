import Foundation
import RecML
import Testing

@testable import RecDB

@Suite("Generated explanations")
struct GeneratedExplanationTests {
    @Test func guardRejectsNamesAndNumbersNotInTheProvenance() {
        let allowed = "Scottie Dog Hot Water Bottle the shopper bought Knitted Union Flag Hot Water Bottle"
        #expect(ExplanationGenerator.guardAccepts(
            "Since you bought the Knitted Union Flag Hot Water Bottle, you may like this Scottie Dog one.", allowed: allowed))
        #expect(!ExplanationGenerator.guardAccepts("You bought it, so try the Acme Thermos too.", allowed: allowed),
                "an invented brand")
        #expect(!ExplanationGenerator.guardAccepts("It is 20% off today.", allowed: allowed), "an invented number")
        #expect(!ExplanationGenerator.guardAccepts("The item is a set of 7 balls.", allowed: allowed), "invented words")
        #expect(!ExplanationGenerator.guardAccepts("Shoppers call it \"the best bottle ever\".", allowed: allowed),
                "an invented quotation")
        #expect(ExplanationGenerator.guardAccepts("Goes well with \"Knitted Union Flag Hot Water Bottle\".", allowed: allowed))
        #expect(!ExplanationGenerator.guardAccepts(
            "You bought the Scottie Dog Hot Water Bottle.", allowed: allowed, mustName: "Knitted Union Flag Hot Water Bottle"),
            "the source item must be named, not the recommended one")
        #expect(ExplanationGenerator.clean("  Because you liked it.\nMore text") == "Because you liked it.")
        #expect(ExplanationGenerator.clean("The shopper bought a set of 3 set of 3 set of 3") == nil)
        #expect(ExplanationGenerator.clean("The shopper bought the red mug.") == "You bought the red mug.")
        #expect(ExplanationGenerator.clean("Too short") == nil)
    }

    @Test(
        .enabled(
            if: ModelFiles.smollm2.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil,
            "SmolLM2 is not installed; run: recctl models install smollm2"))
    func explainGeneratedNamesOnlyRealItems() throws {
        try TemporaryDirectory.with { folder in
            let db = try RecommendTests.makeDatabase(folder)
            let result = try db.query("RECOMMEND 5 ITEMS FOR USER 'u3' EXPLAIN GENERATED")
            let items = try #require(result["items"]?.arrayValue)
            #expect(items.count == 5)
            let report = try #require(result["generated"])
            let generated = report["sentences"]?.numberValue ?? 0, rejected = report["rejected_by_guard"]?.numberValue ?? 0
            #expect(generated + rejected == 5, "\(report)")
            let titles = try db.read { r in
                var all: [String] = []
                try r.forEachItem { item in
                    if let title = item.title { all.append(title) }
                    return .next
                }
                return all
            }
            for item in items {
                let sentence = try #require(item["explanation"]?.stringValue)
                let provenance = (item["provenance"]?["items"]?.arrayValue ?? []).compactMap { $0["title"]?.stringValue }
                let own = try #require(item["title"]?.stringValue)
                // Every catalog title the sentence names is the item's own or one of its provenance.
                for title in titles where sentence.localizedCaseInsensitiveContains(title) {
                    #expect(title == own || provenance.contains(title) || own.contains(title) || provenance.contains { $0.contains(title) },
                            "\(sentence) names \(title)")
                }
            }
            // Cached: the same page again comes from the cache.
            let again = try db.query("RECOMMEND 5 ITEMS FOR USER 'u3' EXPLAIN GENERATED")
            #expect(again["generated"]?["cached"]?.numberValue == generated + rejected, "\(again)")
            #expect((again["generated"]?["seconds"]?.numberValue ?? 1) < 0.005, "a cached page takes no model time: \(again)")
        }
    }
}

@Suite("Shopper requests and self-described users")
struct ShopperRequestTests {
    @Test func readingsAreGroundedInTheShoppersWords() {
        let request = "a gift for my dad who likes fishing, under 30 pounds"
        let parsed = ShopperRequestReader.parse("keywords: fishing gift\nmax_price: 30", request: request)
        #expect(parsed == ShopperRequest(keywords: "fishing gift", maxPrice: 30, source: "model"))
        #expect(ShopperRequestReader.parse("keywords: fishing gift\nmax_price: 45", request: request)?.maxPrice == nil,
                "a price the shopper never named is dropped")
        #expect(ShopperRequestReader.parse("keywords: the product words to search for", request: "xyz") == nil,
                "keywords with nothing of the request are not a reading of it")
        #expect(ShopperRequestReader.parse("I cannot help with that.", request: request) == nil)
    }

    @Test(
        .enabled(
            if: (ModelFiles.smollm2.isInstalled && ModelFiles.minilm.isInstalled)
                || ProcessInfo.processInfo.environment["CI"] != nil,
            "SmolLM2 or MiniLM is not installed; run: recctl models install minilm smollm2"))
    func askAndAboutProfilesFindRealItems() throws {
        try TemporaryDirectory.with { folder in
            let db = try RecommendTests.makeDatabase(folder)
            try db.refresh(.text)
            let answer = try db.query("ASK 'something for my garden, less than 15 pounds' LIMIT 4")
            let items = try #require(answer["items"]?.arrayValue)
            #expect(!items.isEmpty && items.count <= 4)
            let text = try #require(answer["answer"]?.stringValue)
            let titles = items.compactMap { $0["title"]?.stringValue }
            #expect(titles.prefix(3).allSatisfy { text.contains($0) }, "the answer names the results: \(text)")
            #expect(titles.filter { $0.lowercased().contains("garden") || $0.lowercased().contains("hose")
                || $0.lowercased().contains("shovel") || $0.lowercased().contains("lawn") || $0.lowercased().contains("seeds")
                || $0.lowercased().contains("plants") }.count >= items.count / 2, "\(titles)")
            // A user with no events who describes themselves gets results from the text model.
            _ = try db.query("UPSERT USER 'newcomer' SET about = 'I spend my weekends baking Italian pasta'")
            let picks = try db.recommend(RecommendRequest(.user("newcomer"), count: 5))
            #expect(picks.first?.model == "text" && picks.first?.provenance.reason == .profile, "\(picks)")
            #expect(picks.filter { $0.id.hasPrefix("c") }.count >= 3, "\(picks.map(\.id))")
        }
    }
}
