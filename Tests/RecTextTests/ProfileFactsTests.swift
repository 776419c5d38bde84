import Foundation
import Testing

@testable import RecDB
@testable import RecText

/// Cold-start profiles say only the items' facts: the phrases come from titles, categories and brands, and the
/// guided decoder writes only whole phrases, each once, separated by commas, whatever the model prefers.
@Suite("Profile facts")
struct ProfileFactsTests {
    static func item(_ id: UInt32, _ title: String, _ category: String, brand: String? = nil) -> Item {
        var attributes: Attributes = ["title": .string(title), "category": .string(category)]
        if let brand { attributes["brand"] = .string(brand) }
        return Item(id: "i\(id)", internalID: id, attributes: attributes)
    }

    @Test func factsComeFromTitlesCategoriesAndBrandsNewestFirst() {
        let items = [
            Self.item(0, "Pilot G2 Retractable Gel Ink Pens, Black, 12 pack", "Office Products/Writing/Pens", brand: "Pilot"),
            Self.item(1, "AT&amp;T 210 Corded Phone (Black)", "Office Electronics/Telephones/Corded Telephones", brand: "AT&amp;T"),
        ]
        let facts = ProfileFacts(items: items)
        #expect(facts.phrases == [
            "AT&T Corded Phone", "Corded Telephones", "Telephones", "AT&T", "Gel Ink Pens", "Pens", "Writing", "Pilot",
        ])
        #expect(ProfileFacts.productNoun("Moleskine Classic Notebook with Elastic Closure") == "Moleskine Classic Notebook")
        #expect(ProfileFacts.productNoun("12345") == nil)
    }

    /// Tokens: 1 ",", 2 ".", phrases [10, 11] "gel pens", [10, 12] "gel ink", [20] "paper". The fake model always
    /// prefers token 12, then 20, then the comma, then 10: the decoder must still write whole phrases, once each,
    /// and stop at two.
    @Test func guidedDecodingWritesOnlyWholePhrasesOnce() {
        var profile = GuidedProfile(
            phraseTokens: [[10, 11], [10, 12], [20]], comma: 1, period: 2, maxPhrases: 2, maxTokens: 20)
        let vocab = 32
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { logits.deallocate() }
        var out: [Int32] = []
        while out.count < 20 {
            for t in 0..<vocab { logits[t] = 0 }
            logits[12] = 5; logits[20] = 4; logits[1] = 3; logits[10] = 1
            let step = profile.next(logits)
            out.append(step.token)
            if step.isLast { break }
        }
        #expect(out == [20, 1, 10, 12, 2])
        #expect(profile.chosen == [2, 1])
    }
}
