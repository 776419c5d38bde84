import Foundation
import RecTestSupport
import Testing

@testable import RecDB
@testable import RecText

/// LLM pseudo-reviews: items nobody interacted with get a sentence SmolLM2 wrote from their text, stored with its
/// provenance apart from the item's attributes and the events, shown by `SHOW ITEM` as generated, and mixed into the
/// item's text vector; the other items keep their text vectors. Needs `recctl models install minilm smollm2`.
@Suite("LLM pseudo-reviews", .serialized)
struct PseudoReviewTests {
    init() { RecText.install() }

    @Test func coldItemsGetAGeneratedSentenceStoredApartAndMixedIntoTheirVector() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try RecDatabase.open(at: folder.appending("db"), create: true, options: options)
            let titles = LLMProfileTests.titles
            try db.write { w in
                for (index, title) in titles.enumerated() {
                    _ = try w.upsertItem(
                        "i\(index)", attributes: ["title": .string(title), "category": .string("Office/Supplies")])
                }
                // Items 0…5 are bought; 6…11 never.
                for (minute, item) in [0, 1, 2, 3, 4, 5, 0, 2].enumerated() {
                    _ = try w.addEvent(
                        EventInput(
                            user: "u\(minute % 3)", item: "i\(item)", type: "view",
                            timestamp: Timestamp(milliseconds: 1_700_000_000_000 + Int64(minute) * 60_000)))
                }
            }
            var spec = StoredPseudoReviews()
            spec.maxTokens = 24
            try db.refresh(.text)
            let report = try db.refresh(ModelSpec(spec))
            #expect(report.record.kind == .pseudoReview)

            let cold = try db.query("SHOW ITEM 'i7'")
            let review = try #require(cold["generated_review"], "\(cold)")
            #expect(review["generated"] == .bool(true))
            #expect(review["generator"]?.stringValue == PseudoReviews.generator)
            #expect(review["prompt_version"] == .number(Double(PseudoReviews.promptVersion)))
            let text = review["text"]?.stringValue ?? ""
            #expect(!text.isEmpty && !text.contains("\n"), "one sentence: \(text)")
            // Not an attribute and not an event: the item's attributes and the log are as written.
            #expect(cold["attributes"]?["title"]?.stringValue == titles[7])
            #expect(cold["attributes"]?["generated_review"] == nil && cold["attributes"]?["review"] == nil)
            #expect(try db.read { r in try r.interactionLog() }.count == 8)
            // A bought item gets none.
            #expect(try db.query("SHOW ITEM 'i1'")["generated_review"] == nil)

            // Bought items keep their text vectors; a cold item's is its text vector mixed with its sentence's.
            var byModel: [String: [UInt32: [Float]]] = [:]
            for model in ["text", "pseudoreview"] {
                byModel[model] = try db.read { r -> [UInt32: [Float]] in
                    guard let name = try r.model(model)?.space, let space = try r.space(name) else { return [:] }
                    var found: [UInt32: [Float]] = [:]
                    for item in [UInt32(1), 7] { found[item] = try r.storedVector(of: item, .items, in: space) }
                    return found
                }
            }
            let textVectors = byModel["text"] ?? [:], mixed = byModel["pseudoreview"] ?? [:]
            let warm = try #require(textVectors[1]), warmMixed = try #require(mixed[1])
            #expect(zip(warm, warmMixed).allSatisfy { abs($0 - $1) < 1e-6 })
            let own = try #require(textVectors[7]), coldMixed = try #require(mixed[7])
            let cosine = zip(own, coldMixed).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(cosine < 0.9999 && cosine > 0.3, "cold item's vector moved towards its sentence: cosine \(cosine)")
            let norm = coldMixed.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-4)

            // Served like the text model.
            let page = try db.query("RECOMMEND 3 ITEMS SIMILAR TO ITEM 'i7' USING pseudoreview")
            #expect(page["items"]?.arrayValue?.count == 3, "\(page)")
        }
    }

    @Test func settingsOutOfRangeAreRejected() {
        var spec = StoredPseudoReviews()
        spec.maxTokens = 2
        #expect(throws: RecDBError.self) { try spec.validateParameters() }
        spec.maxTokens = 40
        spec.weight = -1
        #expect(throws: RecDBError.self) { try spec.validateParameters() }
    }
}
