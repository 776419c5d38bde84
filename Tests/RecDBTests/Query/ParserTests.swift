import Foundation
import Testing

@testable import RecDB

/// Parsing without a database: statement shapes, keywords in any case, bound parameters, errors with offsets.
@Suite("Query parser")
struct ParserTests {
    static func parse(_ text: String, _ parameters: [String: QueryValue] = [:]) throws -> StatementBody {
        try Parser.parse(text, parameters: parameters)
    }

    static func recommend(_ text: String, _ parameters: [String: QueryValue] = [:]) throws -> RecommendQuery {
        guard case .recommend(let query) = try parse(text, parameters) else {
            Issue.record("not a RECOMMEND: \(text)")
            return RecommendQuery(target: .matching(""), count: 0)
        }
        return query
    }

    /// The error a query raises, or nil when it parses.
    static func error(_ text: String, _ parameters: [String: QueryValue] = [:]) -> RecDBError? {
        do {
            _ = try parse(text, parameters)
            return nil
        } catch let error as RecDBError {
            return error
        } catch {
            Issue.record("not a RecDBError: \(error)")
            return nil
        }
    }

    @Test func recommendWithEveryClause() throws {
        let query = try Self.recommend(
            """
            RECOMMEND 10 ITEMS FOR USER $u USING als WHERE category = 'Books' AND price < 20 -- cheap books
            EXCLUDE SEEN DIVERSIFY 0.3 OFFSET 20 EXPLAIN
            """, ["u": "u42"])
        #expect(query.target == .standard(.user("u42")))
        #expect(query.count == 10 && query.offset == 20 && query.explain && query.excludeSeen)
        #expect(query.models == [ModelWeight("als")])
        #expect(query.filter == .and([.category("Books"), .compare(attribute: "price", .less, .number(20))]))
        guard case .maximalMarginalRelevance(let lambda)? = query.diversification else {
            Issue.record("no MMR")
            return
        }
        #expect(abs(lambda - 0.7) < 1e-6)
    }

    @Test func everyTarget() throws {
        #expect(try Self.recommend("RECOMMEND 5 ITEMS FOR SESSION 's9'").target == .standard(.session("s9")))
        #expect(
            try Self.recommend("RECOMMEND 5 ITEMS FOR ITEMS ('i1', i2, 85123A)").target
                == .standard(.items(["i1", "i2", "85123A"])))
        #expect(
            try Self.recommend("RECOMMEND 5 ITEMS SIMILAR TO ITEM 'i7' USING content").target
                == .standard(.similarTo("i7")))
        #expect(
            try Self.recommend("RECOMMEND 10 ITEMS MATCHING 'waterproof hiking boots'").target
                == .matching("waterproof hiking boots"))
        #expect(try Self.recommend("RECOMMEND 10 USERS FOR ITEM 'i7'").target == .standard(.usersForItem("i7")))
        let blend = try Self.recommend("RECOMMEND 3 ITEMS FOR USER 42 USING BLEND(als 0.7, content 0.3) INCLUDE SEEN")
        #expect(blend.models == [ModelWeight("als", weight: 0.7), ModelWeight("content", weight: 0.3)])
        #expect(blend.target == .standard(.user("42")) && !blend.excludeSeen)
        let capped = try Self.recommend("RECOMMEND 3 ITEMS FOR USER u EXCLUDE ('a', 'b') DIVERSIFY BY CATEGORY 2")
        #expect(capped.exclude == ["a", "b"] && capped.diversification == .perCategory(2))
    }

    @Test func searchOptionsInWith() throws {
        let both = try Self.recommend("RECOMMEND 5 ITEMS SIMILAR TO ITEM 'i7' WITH (ef = 200, RERANK = $r) EXPLAIN", ["r": 50])
        #expect(both.search == VectorSearchOptions(ef: 200, rerank: 50))
        #expect(both.request(.similarTo("i7")).search == VectorSearchOptions(ef: 200, rerank: 50))
        let one = try Self.recommend("RECOMMEND 5 ITEMS FOR USER u WITH (RERANK = 30)")
        #expect(one.search == VectorSearchOptions(rerank: 30))
        #expect(try Self.recommend("RECOMMEND 5 ITEMS FOR USER u").search == VectorSearchOptions())
    }

    @Test func keywordsAreCaseInsensitive() throws {
        let upper = try Self.parse("RECOMMEND 4 ITEMS FOR USER 'u1' USING als WHERE NOT tags CONTAINS 'x' EXPLAIN")
        let lower = try Self.parse("recommend 4 items for user 'u1' using als where not tags contains 'x' explain")
        let mixed = try Self.parse("ReCoMmEnD 4 ItEmS fOr UsEr 'u1' UsInG als WhErE nOt TAGS cOnTaInS 'x' ExPlAiN")
        #expect(upper == lower && lower == mixed)
        #expect(try Self.parse("show stats") == .showStats)
        #expect(try Self.parse("Show Models;") == .showModels)
    }

    @Test func whereExpressions() throws {
        func filter(_ text: String, _ parameters: [String: QueryValue] = [:]) throws -> ItemPredicate? {
            try Self.recommend("RECOMMEND 1 ITEMS FOR USER u WHERE " + text, parameters).filter
        }
        #expect(try filter("category UNDER 'Books'") == .category("Books"))
        #expect(try filter("category = 'Books/Thriller'") == .category("Books/Thriller"))
        #expect(try filter("category != 'Garden'") == .not(.category("Garden")))
        #expect(try filter("tags CONTAINS 'sale'") == .tag("sale"))
        #expect(try filter("AVAILABLE") == .available)
        #expect(
            try filter("brand IN ('Acme', 'Bolt')") == .oneOf(attribute: "brand", [.string("Acme"), .string("Bolt")]))
        #expect(try filter("category IN ('A', 'B')") == .or([.category("A"), .category("B")]))
        #expect(try filter("price NOT IN (1, 2)") == .not(.oneOf(attribute: "price", [.number(1), .number(2)])))
        #expect(
            try filter("a = 1 OR b = 2 AND NOT (c >= 3 OR d <= -4.5)")
                == .or([
                    .compare(attribute: "a", .equal, .number(1)),
                    .and([
                        .compare(attribute: "b", .equal, .number(2)),
                        .not(
                            .or([
                                .compare(attribute: "c", .greaterOrEqual, .number(3)),
                                .compare(attribute: "d", .lessOrEqual, .number(-4.5)),
                            ])),
                    ]),
                ]))
        #expect(
            try filter("featured = TRUE AND price <> 3")
                == .and([
                    .compare(attribute: "featured", .equal, .bool(true)),
                    .compare(attribute: "price", .notEqual, .number(3)),
                ]))
        let time = try #require(Timestamp(parsing: "2026-01-01"))
        #expect(
            try filter("created_at > '2026-01-01'") == .compare(attribute: "created_at", .greater, .timestamp(time)))
        #expect(
            try filter("released < TIMESTAMP '2026-01-01'") == .compare(attribute: "released", .less, .timestamp(time)))
        #expect(
            try filter("price < $max AND brand = $b", ["max": 20, "b": "Acme"])
                == .and([
                    .compare(attribute: "price", .less, .number(20)),
                    .compare(attribute: "brand", .equal, .string("Acme")),
                ]))
        #expect(try filter("NOT NOT AVAILABLE") == .available)
    }

    @Test func writesAndAdmin() throws {
        #expect(
            try Self.parse(
                "UPSERT ITEM 'i7' SET title = 'Gone Girl', category = 'Books/Thriller', price = 9.99, tags = ['bestseller', 'new'], available = false"
            )
                == .upsertItem(
                    id: "i7",
                    attributes: [
                        "title": .string("Gone Girl"), "category": .string("Books/Thriller"), "price": .number(9.99),
                        "tags": .strings(["bestseller", "new"]), "available": .bool(false),
                    ]))
        #expect(
            try Self.parse("upsert user u42 set age = 31") == .upsertUser(id: "u42", attributes: ["age": .number(31)]))
        #expect(try Self.parse("DELETE ITEM 'i7'") == .deleteItem("i7"))
        #expect(try Self.parse("DELETE USER $u", ["u": 17]) == .deleteUser("17"))
        let time = try #require(Timestamp(parsing: "2026-11-26T10:00:00Z"))
        #expect(
            try Self.parse(
                "EVENT purchase USER 'u42' ITEM 'i7' VALUE 1 SESSION 's9' AT '2026-11-26T10:00:00Z' TEXT 'it''s good'")
                == .event(
                    EventQuery(
                        type: "purchase", user: "u42", item: "i7", value: 1, session: "s9", timestamp: time,
                        text: "it's good")))
        #expect(try Self.parse("SHOW USER 'u42' HISTORY LIMIT 20") == .showUser("u42", history: true, limit: 20))
        #expect(try Self.parse("SHOW USER 'u42'") == .showUser("u42", history: false, limit: nil))
        #expect(try Self.parse("SHOW ITEM 85123A") == .showItem("85123A"))
        #expect(try Self.parse("REFRESH MODEL als") == .refresh(model: "als"))
        #expect(
            try Self.parse("EVALUATE MODEL als K 5 SPLIT cold-items")
                == .evaluate(model: .model("als"), k: 5, split: .coldItems))
        #expect(try Self.parse("evaluate model bpr") == .evaluate(model: .model("bpr"), k: 10, split: .leaveLastOut))
    }

    @Test func parametersAreBoundNotSpliced() throws {
        let hostile = "x' OR 1=1 --"
        #expect(
            try Self.parse("SHOW USER $u", ["u": .string(hostile)]) == .showUser(hostile, history: false, limit: nil))
        #expect(
            try Self.recommend("RECOMMEND 5 ITEMS FOR USER $u WHERE brand = $u", ["u": .string(hostile)]).filter
                == .compare(attribute: "brand", .equal, .string(hostile)))
        // Missing and ill-typed parameters are invalid arguments, pointing at the parameter.
        let missing = try #require(Self.error("SHOW USER $who"))
        #expect(missing.code == .invalidArgument && missing.position == 10)
        let illTyped = try #require(Self.error("RECOMMEND $n ITEMS FOR USER u", ["n": "ten"]))
        #expect(illTyped.code == .invalidArgument && illTyped.position == 10)
        #expect(Self.error("SHOW USER $u", ["u": ["a"]])?.code == .invalidArgument)
        #expect(try Self.recommend("RECOMMEND $n ITEMS FOR USER u", ["n": 7]).count == 7)
    }

    @Test(arguments: [
        ("RECOMMEND 10 THINGS FOR USER 'u1'", 13, "expected ITEMS or USERS after the count at 13"),
        ("RECOMMEND ten ITEMS FOR USER u", 10, "expected a count after RECOMMEND at 10"),
        ("RECOMMEND 10 ITEMS FOR", 22, "expected USER, SESSION or ITEMS after FOR at 22"),
        ("SELECT a FROM items", 0, "expected RECOMMEND, ASK, UPSERT, DELETE, EVENT, DEFINE, SHOW, REFRESH, EVALUATE, CREATE, ALTER or STOP at 0"),
        ("RECOMMEND 5 ITEMS FOR USER u WHERE price <", 42, "expected a value"),
        ("RECOMMEND 5 ITEMS FOR USER u WHERE (price < 3", 45, "expected ')' to close '(' at 45"),
        ("RECOMMEND 5 ITEMS FOR USER u EXPLAIN EXPLAIN", 37, "EXPLAIN given twice at 37"),
        ("SHOW USER 'u1' HISTORY LIMIT 5 extra", 31, "expected the end of the statement at 31"),
        ("UPSERT ITEM i SET title = 'unterminated", 26, "unterminated string starting at 26"),
        ("SHOW ITEM 'é' ^", 14, "unexpected character '^' at 14"),
        ("EVALUATE MODEL als SPLIT sideways", 25, "expected leave-last-out, temporal or cold-items after SPLIT at 25"),
        ("RECOMMEND 10001 ITEMS FOR USER u", 10, "expected an integer from 1 to 10000"),
        ("RECOMMEND 5 ITEMS FOR USER u DIVERSIFY 1.5", 39, "DIVERSIFY takes a number between 0 and 1"),
        ("RECOMMEND 5 ITEMS FOR USER u WHERE price < 1e999", 43, "out of range"),
        ("RECOMMEND 5 ITEMS FOR USER u EXCLUDE SEEN INCLUDE SEEN", 42, "EXCLUDE SEEN or INCLUDE SEEN given twice at 42"),
        ("RECOMMEND 5 USERS FOR ITEM i WHERE price < 3", 29, "WHERE filters items"),
        ("RECOMMEND 5 ITEMS FOR USER u WITH (EF = 0)", 40, "EF in WITH (…) must be an integer from 1 to 4096, not 0"),
        ("RECOMMEND 5 ITEMS FOR USER u WITH (RERANK = 2.5)", 44, "RERANK in WITH (…) must be an integer"),
        ("RECOMMEND 5 ITEMS FOR USER u WITH (EF = 10, EF = 20)", 44, "EF given twice"),
        ("RECOMMEND 5 ITEMS FOR USER u WITH (M = 10)", 35, "expected EF or RERANK in WITH (…) at 35"),
        ("RECOMMEND 5 ITEMS FOR USER u WITH EF = 10", 34, "expected '(' after WITH"),
        ("RECOMMEND 5 ITEMS FOR USER u WITH (EF = 10) WITH (EF = 20)", 44, "WITH given twice at 44"),
    ])
    func syntaxErrorsPointAtTheProblem(query: String, position: Int, message: String) throws {
        let error = try #require(Self.error(query))
        #expect(error.position == position, "\(error.message)")
        #expect(error.message.contains(message), "\(error.message)")
        #expect(error.code == .syntax || error.code == .invalidArgument)
    }

    @Test func limitsAreClearErrors() throws {
        let deep =
            "RECOMMEND 1 ITEMS FOR USER u WHERE " + String(repeating: "(", count: 100) + "AVAILABLE"
            + String(repeating: ")", count: 100)
        let depth = try #require(Self.error(deep))
        #expect(depth.code == .syntax && depth.message.contains("deeper than 64"))
        let nots = "RECOMMEND 1 ITEMS FOR USER u WHERE " + String(repeating: "NOT ", count: 5000) + "AVAILABLE"
        #expect(Self.error(nots)?.message.contains("deeper than 64") == true)
        let shallow =
            "RECOMMEND 1 ITEMS FOR USER u WHERE " + String(repeating: "(", count: 60) + "AVAILABLE"
            + String(repeating: ")", count: 60)
        #expect(Self.error(shallow) == nil)
        let long = "SHOW ITEM '" + String(repeating: "x", count: 70_000) + "'"
        #expect(Self.error(long)?.code == .syntax)
        let manyIDs = "RECOMMEND 1 ITEMS FOR ITEMS (" + (0...10_000).map { "i\($0)" }.joined(separator: ",") + ")"
        #expect(Self.error(manyIDs)?.message.contains("more than 10000") == true)
        #expect(Self.error("RECOMMEND 99999999999999999999999 ITEMS FOR USER u")?.code == .invalidArgument)
    }
}
