import Foundation
import RecClient
import Testing

/// `RecommendStatement` writes query-language text that recd runs, and `RecClient` decodes the one result shape.
@Suite("RecClient statements")
struct RecClientStatementTests {
    @Test func builtStatementsAreTheQueryLanguage() async throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        var statement = RecommendStatement(.user("u3"), count: 6)
        statement.models = .chain(["itemknn", "popularity"])
        statement.filter = "category = 'Books' AND price < 20"
        statement.diversify = .amount(0.3)
        #expect(
            statement.text
                == "RECOMMEND 6 ITEMS FOR USER 'u3' USING CHAIN(itemknn, popularity) "
                + "WHERE category = 'Books' AND price < 20 DIVERSIFY 0.3 EXPLAIN")
        let built = try await client.recommend(statement)
        let written = try await client.recommend(statement.text)
        #expect(!built.isEmpty && built == written, "\(built)")
        #expect(built.allSatisfy { $0.explanation != nil && $0.provenance?.reason.isEmpty == false }, "\(built)")

        // Every part of the builder reads back: quotes doubled, a blend, exclusions, paging, STRICT, no EXPLAIN.
        var every = RecommendStatement(.user("u12"), count: 4)
        every.models = .blend([("als", 0.7), ("popularity", 0.3)])
        every.exclude = ["c1", "o'neil"]
        every.includeSeen = true
        every.diversify = .perCategory(2)
        every.offset = 2
        every.ef = 200
        every.rerank = 40
        every.strict = true
        every.explain = false
        #expect(
            every.text
                == "RECOMMEND 4 ITEMS FOR USER 'u12' USING BLEND(als 0.7, popularity 0.3) EXCLUDE ('c1', 'o''neil') "
                + "INCLUDE SEEN DIVERSIFY BY CATEGORY 2 OFFSET 2 WITH (EF = 200, RERANK = 40) STRICT")
        let page = try await client.recommend(every)
        #expect(page.count == 4 && page.allSatisfy { $0.model == "blend" && $0.provenance == nil && $0.id != "c1" })
        let similar = try await client.recommend(RecommendStatement(.similarTo("g2"), count: 3))
        #expect(similar.count == 3 && !similar.contains { $0.id == "g2" })
    }

    @Test func provenanceDecodesFromTheResultShape() throws {
        let json = #"""
            {"id":"a","score":1,"model":"popularity","title":"A","explanation":"Popular","provenance":
             {"reason":"popularity","items":[{"id":"b","title":"B","event":"view"}],"category":"Garden","neighbours":3,
              "filled_by":"popularity"}}
            """#
        let item = try JSONDecoder().decode(RecommendedItem.self, from: Data(json.utf8))
        #expect(item.provenance?.filledBy == "popularity" && item.provenance?.neighbours == 3)
        #expect(item.provenance?.items.map(\.id) == ["b"] && item.provenance?.items.first?.event == "view")
    }
}
