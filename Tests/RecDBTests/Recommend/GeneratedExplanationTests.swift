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
            #expect(again["generated"]?["cached"]?.numberValue == generated, "\(again)")
        }
    }
}
