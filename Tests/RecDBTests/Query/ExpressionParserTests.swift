import Foundation
import Testing

@testable import RecDB

/// Model expressions (`als`, `BLEND(…)`, `CHAIN(…)`) and filters parsed inside statements and on their own.
@Suite("Model and filter expressions")
struct ExpressionParserTests {
    @Test func chainInUsingKeepsItsOrderAndMarksTheRequest() throws {
        let query = try ParserTests.recommend("RECOMMEND 5 ITEMS FOR USER 'u1' USING CHAIN(als, content, popularity)")
        #expect(query.models == [ModelWeight("als"), ModelWeight("content"), ModelWeight("popularity")])
        #expect(query.chain && query.request(.user("u1")).chain)
        let blend = try ParserTests.recommend("RECOMMEND 5 ITEMS FOR USER 'u1' USING BLEND(als 0.7, content 0.3)")
        #expect(!blend.chain && !blend.request(.user("u1")).chain)
        #expect(!(try ParserTests.recommend("RECOMMEND 5 ITEMS FOR USER 'u1' USING als")).chain)
    }

    @Test(arguments: [
        ("als", ModelExpression.model("als")),
        ("  itemknn ", .model("itemknn")),
        ("'odd name'", .model("odd name")),
        ("BLEND(als 0.7, content 0.3)", .blend([ModelWeight("als", weight: 0.7), ModelWeight("content", weight: 0.3)])),
        ("blend(als 1)", .blend([ModelWeight("als")])),
        ("CHAIN(als, content, popularity)", .chain(["als", "content", "popularity"])),
        ("chain(session)", .chain(["session"])),
    ])
    func parsesAModelExpressionAndSpellsItBack(text: String, expected: ModelExpression) throws {
        let parsed = try ModelExpression.parse(text)
        #expect(parsed == expected)
        #expect(try ModelExpression.parse(parsed.description) == parsed, "\(parsed)")
    }

    @Test func canonicalSpelling() throws {
        #expect(try ModelExpression.parse("blend( als 0.70 ,content .3 )").description == "BLEND(als 0.7, content 0.3)")
        #expect(try ModelExpression.parse("chain(als,content)").description == "CHAIN(als, content)")
        #expect(ModelExpression.blend([ModelWeight("als", weight: 2)]).description == "BLEND(als 2)")
        #expect(ModelExpression.model("chain").description == "'chain'")
        #expect(try ModelExpression.parse("$m", parameters: ["m": "als"]) == .model("als"))
    }

    @Test(arguments: [
        ("", RecDBError.Code.syntax), ("BLEND", .syntax), ("BLEND(als)", .syntax), ("BLEND(als -1)", .invalidArgument),
        ("CHAIN()", .syntax), ("CHAIN(als content)", .syntax), ("als content", .syntax), ("als, content", .syntax),
        ("blend:als=0.7", .invalidArgument),
    ])
    func rejectsABadModelExpression(text: String, code: RecDBError.Code) {
        expectRecDBError(code) { _ = try ModelExpression.parse(text) }
    }

    /// Commas inside parentheses belong to their expression.
    @Test func listsSplitOnlyAtTheTopLevel() throws {
        #expect(
            try ModelExpression.parseList("popularity, BLEND(als 0.7, content 0.3),CHAIN(als, popularity)")
                == [
                    .model("popularity"), .blend([ModelWeight("als", weight: 0.7), ModelWeight("content", weight: 0.3)]),
                    .chain(["als", "popularity"]),
                ])
        expectRecDBError(.syntax) { _ = try ModelExpression.parseList("als,") }
        expectRecDBError(.syntax) { _ = try ModelExpression.parseList("BLEND(als 1") }
    }

    @Test func evaluateTakesAModelExpression() throws {
        #expect(
            try ParserTests.parse("EVALUATE MODEL CHAIN(als, popularity) K 5")
                == .evaluate(model: .chain(["als", "popularity"]), k: 5, split: .leaveLastOut))
        #expect(
            try ParserTests.parse("EVALUATE MODEL BLEND(als 0.5, content 0.5) SPLIT temporal")
                == .evaluate(
                    model: .blend([ModelWeight("als", weight: 0.5), ModelWeight("content", weight: 0.5)]), k: 10,
                    split: .temporal))
    }

    /// The filter entry point is the `WHERE` grammar: the same predicate as inside a statement, offsets in its text.
    @Test func filterEntryPointMatchesWhere() throws {
        let text = "category = 'Books' AND (price < 20 OR tags CONTAINS 'sale') AND NOT AVAILABLE"
        let inStatement = try ParserTests.recommend("RECOMMEND 3 ITEMS FOR USER 'u' WHERE " + text)
        #expect(try ItemPredicate.parse(text) == inStatement.filter)
        let error = #expect(throws: RecDBError.self) { _ = try ItemPredicate.parse("price < 20 OR") }
        #expect(error?.code == .syntax && error?.position == 13, "\(String(describing: error))")
    }
}
