import Foundation
import RecDBTestSupport
import RecML
import RecTestSupport
import RecText
import Testing

@testable import RecDB

@Suite("Generated explanations", .serialized)
struct GeneratedExplanationTests {
    init() { RecText.install() }

    static let facts: ExplanationFacts = {
        var facts = ExplanationFacts(kind: .collaborative, item: "SCOTTIE DOG HOT WATER BOTTLE")
        facts.source = .init(id: "22112", name: "KNITTED UNION FLAG HOT WATER BOTTLE", event: "purchase", daysAgo: 40,
                             isLatest: false)
        facts.coChosenBy = 42
        facts.price = .cheaper
        return facts
    }()

    @Test func sentencesClaimingWhatTheFactsDoNotSayAreNeverAccepted() {
        let facts = Self.facts
        let good = FaithfulnessCheck.check(
            "Since you bought KNITTED UNION FLAG HOT WATER BOTTLE, you may like SCOTTIE DOG HOT WATER BOTTLE too, as 42 "
                + "shoppers chose both, and it is cheaper.", facts: facts)
        #expect(good.accepted, "\(good)")
        #expect(good.statements == 4 && good.supported == 4 && good.factsCited == 2, "\(good)")
        let rejected = [
            ("Since you bought RED RETROSPOT MUG, try this.", "an item not among the facts"),
            ("Since you bought KNITTED UNION FLAG HOT WATER BOTTLE, 43 shoppers chose both.", "a number not among the facts"),
            ("Like KNITTED UNION FLAG HOT WATER BOTTLE, it is great for your kitchen.", "a category not among the facts"),
            ("Since you viewed KNITTED UNION FLAG HOT WATER BOTTLE, try this.", "viewed, but the event was a purchase"),
            ("Since you bought KNITTED UNION FLAG HOT WATER BOTTLE, this premium pick suits you.", "a false comparison"),
            ("You recently bought KNITTED UNION FLAG HOT WATER BOTTLE.", "forty days is not recent"),
            ("It is trending, like KNITTED UNION FLAG HOT WATER BOTTLE.", "no rising trend among the facts"),
            ("Shoppers call it \"KNITTED UNION FLAG HOT WATER BOTTLE\" the best.", "a quotation"),
            ("You may like this one too.", "no fact cited"),
        ]
        for (sentence, why) in rejected {
            let verdict = FaithfulnessCheck.check(sentence, facts: facts)
            #expect(!verdict.accepted, "\(why): \(sentence) \(verdict)")
        }
        // The statement split: clauses at commas, full stops and joining conjunctions.
        #expect(FaithfulnessCheck.statements(of: "A b, c d and e f. G h because i") == ["A b", "c d", "e f", "G h", "i"])
    }

    @Test func claimsAreBoundToTheirClause() {
        var facts = Self.facts
        facts.source?.daysAgo = 3
        facts.trend = .rising
        let accepted = [
            "Since you recently bought KNITTED UNION FLAG HOT WATER BOTTLE, SCOTTIE DOG HOT WATER BOTTLE is a budget pick.",
            "Many shoppers who bought KNITTED UNION FLAG HOT WATER BOTTLE like SCOTTIE DOG HOT WATER BOTTLE too, a "
                + "trending budget pick.",
        ]
        for sentence in accepted {
            let verdict = FaithfulnessCheck.check(sentence, facts: facts)
            #expect(verdict.accepted, "\(sentence) \(verdict)")
        }
        let rejected = [
            ("You bought KNITTED UNION FLAG HOT WATER BOTTLE, a budget pick.", "the item's price said of the source"),
            ("This trending pick pairs with KNITTED UNION FLAG HOT WATER BOTTLE, 42 shoppers chose both.",
             "the item's trend said in a clause about the source"),
            ("SCOTTIE DOG HOT WATER BOTTLE is recent, as 42 shoppers chose both with KNITTED UNION FLAG HOT WATER BOTTLE.",
             "recency of the source event said of the item"),
            ("Since you bought KNITTED UNION FLAG HOT WATER BOTTLE, your SCOTTIE DOG HOT WATER BOTTLE is a great pick.",
             "the recommended item called the shopper's"),
        ]
        for (sentence, why) in rejected {
            let verdict = FaithfulnessCheck.check(sentence, facts: facts)
            #expect(!verdict.accepted, "\(why): \(sentence) \(verdict)")
        }
    }

    @Test func placeholdersAreFilledFromTheFactsOnly() {
        let sentence = ExplanationGenerator.fill(
            " Since you bought [SOURCE], [ITEM] suits you, as [COUNT] shoppers chose both.", facts: Self.facts)
        #expect(sentence == "Since you bought KNITTED UNION FLAG HOT WATER BOTTLE, SCOTTIE DOG HOT WATER BOTTLE suits you, as 42 shoppers chose both.")
        #expect(!FaithfulnessCheck.check("Since you bought SCOTTIE DOG HOT WATER BOTTLE.", facts: Self.facts).accepted,
                "the user did not buy the recommended item")
        #expect(!FaithfulnessCheck.check("You bought KNITTED UNION FLAG HOT WATER BOTTLE for 42 reasons.", facts: Self.facts).accepted,
                "a count that counts something other than shoppers")
        #expect(FaithfulnessCheck.check(sentence, facts: Self.facts).accepted)
        // A placeholder without a fact stays a marker, which the check refuses (it is not a word a sentence may use).
        #expect(!FaithfulnessCheck.check(ExplanationGenerator.fill("Since you bought [SOURCE] in [CATEGORY].", facts: Self.facts),
                                          facts: Self.facts).accepted)
    }

    @Test func factLinesNameNoTitleAndNoNumber() {
        let line = ExplanationPrompts.factsLine(Self.facts)
        #expect(line == "you bought [SOURCE]; [COUNT] shoppers chose both; cheaper than usual for you", "\(line)")
        #expect(!line.contains("KNITTED") && !line.contains("42"))
        #expect(ExplanationFacts.Trend.of([Int64](repeating: 100 * 86_400_000, count: 6), now: 101 * 86_400_000) == .rising)
    }

    @Test(
        .enabled(
            if: ModelFiles.smollm2.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil,
            "SmolLM2 is not installed; run: recctl models install smollm2"))
    func explainGeneratedIsGroundedAndSaysWhoWroteEachSentence() throws {
        // What the model writes, not how fast: a busy machine must not turn the page into deadline templates.
        let generator = ExplanationGenerator.shared
        let saved = generator.deadlineSeconds
        generator.deadlineSeconds = 300
        defer { generator.deadlineSeconds = saved }
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            let result = try db.query("RECOMMEND 5 ITEMS FOR USER 'u3' EXPLAIN GENERATED")
            let items = try #require(result["items"]?.arrayValue)
            #expect(items.count == 5)
            let report = try #require(result["generated"])
            let generated = report["sentences"]?.numberValue ?? 0, rejected = report["rejected_by_guard"]?.numberValue ?? 0
            #expect(generated + rejected == 5, "\(report)")
            #expect(generated >= 3, "most sentences are generated, not templates: \(result)")
            let titles = try db.read { r in
                var all: [String] = []
                try r.forEachItem { item in
                    if let title = item.title { all.append(title) }
                    return .next
                }
                return all
            }
            var openings = Set<String>()
            for item in items {
                let sentence = try #require(item["explanation"]?.stringValue)
                let source = try #require(item["explanation_source"]?.stringValue)
                let provenance = (item["provenance"]?["items"]?.arrayValue ?? []).compactMap { $0["title"]?.stringValue }
                let own = try #require(item["title"]?.stringValue)
                if source == "generated" {
                    #expect(item["fallback_reason"] == nil)
                    #expect(item["facts"] != nil)
                    openings.insert(String(sentence.split(separator: " ").first ?? ""))
                    // Every catalog title the sentence names is the item's own or one of its provenance.
                    for title in titles where sentence.localizedCaseInsensitiveContains(title) {
                        #expect(title == own || provenance.contains(title) || own.contains(title)
                                || provenance.contains { $0.contains(title) }, "\(sentence) names \(title)")
                    }
                    #expect(!sentence.contains("["), "every placeholder filled: \(sentence)")
                } else {
                    #expect(source == "template")
                    #expect(item["fallback_reason"]?.stringValue != nil, "a template says why: \(item)")
                }
            }
            #expect(openings.count == Int(generated), "no two generated sentences open alike: \(items)")
            // Cached: the same page again comes from the cache, with the same sources.
            let again = try db.query("RECOMMEND 5 ITEMS FOR USER 'u3' EXPLAIN GENERATED")
            #expect(again["generated"]?["cached"]?.numberValue == generated + rejected, "\(again)")
            #expect((again["generated"]?["seconds"]?.numberValue ?? 1) < 0.005, "a cached page takes no model time: \(again)")
            let sources = { (page: QueryValue) in (page["items"]?.arrayValue ?? []).map { $0["explanation_source"]?.stringValue } }
            #expect(sources(again) == sources(result))
            // Plain EXPLAIN: templates, said so, no reason needed.
            let plain = try db.query("RECOMMEND 3 ITEMS FOR USER 'u3' EXPLAIN")
            for item in plain["items"]?.arrayValue ?? [] {
                #expect(item["explanation_source"]?.stringValue == "template" && item["fallback_reason"] == nil)
            }
        }
    }

    @Test(
        .enabled(
            if: ModelFiles.smollm2.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil,
            "SmolLM2 is not installed; run: recctl models install smollm2"))
    func aPagePastItsDeadlineGetsTemplatesThatSaySo() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            let generator = ExplanationGenerator.shared
            let saved = generator.deadlineSeconds
            generator.deadlineSeconds = 0
            defer { generator.deadlineSeconds = saved }
            let result = try db.query("RECOMMEND 3 ITEMS FOR USER 'u11' EXCLUDE SEEN EXPLAIN GENERATED")
            for item in result["items"]?.arrayValue ?? [] {
                #expect(item["explanation_source"]?.stringValue == "template", "\(item)")
                #expect(item["fallback_reason"]?.stringValue == "deadline", "\(item)")
            }
        }
    }
}

@Suite("Shopper requests and self-described users")
struct ShopperRequestTests {
    init() { RecText.install() }

    @Test func readingsAreGroundedInTheShoppersWords() {
        let request = "a gift for my dad who likes fishing, under 30 pounds"
        let parsed = ShopperRequestReader.parse("keywords: fishing gift\nmax_price: 30", request: request)
        #expect(parsed == ShopperRequest(keywords: "fishing gift", maxPrice: 30, source: "model"))
        #expect(ShopperRequestReader.parse("keywords: fishing gift\nmax_price: 45", request: request)?.maxPrice == 30,
                "a price the shopper never named gives way to the one they did")
        #expect(ShopperRequestReader.parse("keywords: fishing gift\nmax_price: 45", request: "a gift for my dad who fishes")?
            .maxPrice == nil, "a price the shopper never named is dropped")
        #expect(ShopperRequestReader.parse("keywords: the product words to search for", request: "xyz") == nil,
                "keywords with nothing of the request are not a reading of it")
        #expect(ShopperRequestReader.parse("I cannot help with that.", request: request) == nil)
    }

    @Test func statedPricesAndExclusionsAreReadWithoutTheModel() {
        let mug = ShopperRequestReader.ruleReading("a red mug for my sister, less than 12 pounds")
        #expect(mug == ShopperRequest(keywords: "a red mug for my sister", maxPrice: 12, source: "fallback"))
        let jam = ShopperRequestReader.ruleReading("a jam making set, not the jars")
        #expect(jam.keywords == "a jam making set" && jam.excluded == ["jars"])
        #expect(ShopperRequestReader.ruleReading("tea lights but not the glass holders").excluded == ["glass", "holders"])
        #expect(ShopperRequestReader.ruleReading("a wooden toy, without plastic, max £6").excluded == ["plastic"])
        #expect(ShopperRequestReader.ruleReading("a wooden toy, without plastic, max £6").maxPrice == 6)
        let ceiling = ShopperRequestReader.ruleReading("a scarf for no more than 9 pounds")
        #expect(ceiling.maxPrice == 9 && ceiling.excluded.isEmpty, "a ceiling is not an exclusion")
        #expect(ShopperRequestReader.ruleReading("a notebook for school").excluded.isEmpty)
    }

    @Test func readingsDropRepeatsExclusionsAndWordsBorrowedFromTheExamples() {
        let card = ShopperRequestReader.parse("keywords: wedding card card card card\nmax_price: none", request: "a card for a wedding")
        #expect(card?.keywords == "wedding card")
        let wrap = ShopperRequestReader.parse(
            "keywords: gift wrap dinosaur\nmax_price: 2", request: "gift wrap for a birthday, less than 2 pounds")
        #expect(wrap == ShopperRequest(keywords: "gift wrap", maxPrice: 2, source: "model"), "no dinosaur from an example")
        let jars = ShopperRequestReader.parse("keywords: jam making set jars", request: "a jam making set, not the jars")
        #expect(jars?.keywords == "jam making set" && jars?.excluded == ["jars"])
        let bag = ShopperRequestReader.parse("keywords: shopping bag that is not paper", request: "a shopping bag that is not paper")
        #expect(bag?.keywords == "shopping bag" && bag?.excluded == ["paper"])
        #expect(ShopperRequestReader.parse("keywords: jam-making set", request: "a jam making set")?.keywords == "jam making set")
        // Much like an example: its related words may be used.
        let tea = ShopperRequestReader.parse("keywords: tea cosy teapot", request: "something to keep my tea warm")
        #expect(tea?.keywords == "tea cosy teapot")
        // The shopper's stated ceiling wins over a reading that missed it.
        #expect(ShopperRequestReader.parse("keywords: cushion cover", request: "cushion cover for the sofa under 7 pounds")?
            .maxPrice == 7)
    }

    @Test(
        .enabled(
            if: (ModelFiles.smollm2.isInstalled && ModelFiles.minilm.isInstalled)
                || ProcessInfo.processInfo.environment["CI"] != nil,
            "SmolLM2 or MiniLM is not installed; run: recctl models install minilm smollm2"))
    func askAndAboutProfilesFindRealItems() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
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
            // An exclusion keeps its word out of every result's title.
            let noHose = try db.query("ASK 'something for my garden, but not a hose' LIMIT 4")
            #expect(noHose["interpreted"]?["exclude"]?.arrayValue?.compactMap(\.stringValue) == ["hose"], "\(noHose)")
            let kept = noHose["items"]?.arrayValue?.compactMap { $0["title"]?.stringValue } ?? []
            #expect(!kept.isEmpty && !kept.contains { $0.lowercased().contains("hose") }, "\(kept)")
            // A user with no events who describes themselves gets results from the text model.
            _ = try db.query("UPSERT USER 'newcomer' SET about = 'I spend my weekends baking Italian pasta'")
            let picks = try db.recommend(RecommendRequest(.user("newcomer"), count: 5))
            #expect(picks.first?.model == "text" && picks.first?.provenance.reason == .profile, "\(picks)")
            #expect(picks.filter { $0.id.hasPrefix("c") }.count >= 3, "\(picks.map(\.id))")
        }
    }
}
