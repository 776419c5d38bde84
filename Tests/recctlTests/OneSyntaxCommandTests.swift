import Foundation
import Testing

/// One syntax: `recctl recommend` flags compile into the statement `recctl query` runs, with the same output, and
/// `recctl eval --models` reads the query language's model expressions.
@Suite("recctl one syntax")
struct OneSyntaxCommandTests {
    /// Runs `recctl arguments` and expects exit status 0.
    static func succeed(_ arguments: [String]) throws -> RecCtl.Result {
        let result = try RecCtl.Child(arguments).finish()
        #expect(result.status == 0 && result.reason == .exit, "recctl \(arguments): \(result)")
        return result
    }

    /// Flags, the statement they compile into, and `recctl recommend --json` printing what `recctl query --json`
    /// prints for that statement.
    @Test func recommendFlagsRunTheStatementThatQueryRuns() throws {
        try TemporaryDirectory.with { folder in
            let db = try ModelCommandTests.importedDatabase(in: folder)
            for model in ["popularity", "itemknn", "content"] { try RecCtl.succeed("refresh", model, "--db", db) }
            let cases: [([String], String)] = [
                (["--user", "1"], "RECOMMEND 10 ITEMS FOR USER '1' EXPLAIN"),
                (
                    ["--user", "1", "--model", "itemknn=0.7", "--model", "popularity=0.3", "-k", "3"],
                    "RECOMMEND 3 ITEMS FOR USER '1' USING BLEND(itemknn 0.7, popularity 0.3) EXPLAIN"
                ),
                (
                    ["--user", "2", "--model", "CHAIN(itemknn, popularity)", "--include-seen", "--strict", "-k", "4"],
                    "RECOMMEND 4 ITEMS FOR USER '2' USING CHAIN(itemknn, popularity) INCLUDE SEEN STRICT EXPLAIN"
                ),
                (
                    ["--user", "3", "--model", "popularity", "--where", "title != 'Movie 106'", "--where", "AVAILABLE",
                     "--diversify", "0.3", "--no-explain", "--offset", "1"],
                    "RECOMMEND 10 ITEMS FOR USER '3' USING popularity WHERE (title != 'Movie 106') AND (AVAILABLE) "
                        + "DIVERSIFY 0.3 OFFSET 1"
                ),
                (
                    ["--similar-to", "101", "--model", "content", "--exclude", "102,103", "--per-category", "2"],
                    "RECOMMEND 10 ITEMS SIMILAR TO ITEM '101' USING content EXCLUDE ('102', '103') "
                        + "DIVERSIFY BY CATEGORY 2 EXPLAIN"
                ),
                (["--items", "101,102", "-k", "2"], "RECOMMEND 2 ITEMS FOR ITEMS ('101', '102') EXPLAIN"),
            ]
            for (flags, statement) in cases {
                let printed = try Self.succeed(["recommend", "--print-statement"] + flags).stdout
                #expect(printed == statement + "\n", "\(flags)")
                let viaFlags = try Self.succeed(["recommend", "--db", db, "--json"] + flags).stdout
                let viaQuery = try RecCtl.succeed("query", "--db", db, "--json", statement).stdout
                #expect(viaFlags == viaQuery, "\(flags)")
                #expect(viaFlags.hasPrefix("{\"items\":["), "\(viaFlags)")
            }
            // The chain serves its models in order: itemknn's candidates first, then popularity's new ones.
            let chained = ModelCommandTests.items(
                try RecCtl.succeed("query", "--db", db, "--json",
                    "RECOMMEND 8 ITEMS FOR USER '1' USING CHAIN(itemknn, popularity) INCLUDE SEEN STRICT"))
            let models = chained.compactMap { $0["model"] as? String }
            let firstPopular = models.firstIndex(of: "popularity") ?? models.count
            #expect(models.first == "itemknn" && models.count == 8, "\(chained)")
            #expect(!models[firstPopular...].contains("itemknn"), "\(chained)")
            // One filter grammar: the retired NAME=VALUE form is a syntax error at its offset.
            let old = try RecCtl.fail("recommend", "--db", db, "--user", "1", "--where", "category=Books")
            #expect(old.contains("expected a value"), "\(old)")
            let mixed = try RecCtl.run("recommend", "--user", "1", "--model", "als=1", "--model", "CHAIN(als, content)")
            #expect(mixed.status != 0 && mixed.stderr.contains("one model expression"), "\(mixed)")
        }
    }

    @Test func evalTakesModelExpressionsAndRejectsTheRetiredSpelling() throws {
        try TemporaryDirectory.with { folder in
            let db = try ModelCommandTests.importedDatabase(in: folder)
            let eval = try RecCtl.succeed(
                "eval", "--db", db, "--json", "-k", "3", "--threads", "1",
                "--models", "popularity, BLEND(popularity 0.5, itemknn 0.5),CHAIN(itemknn, popularity)"
            ).json
            let results = try #require(eval["results"] as? [[String: Any]], "\(eval)")
            #expect(
                results.map { $0["model"] as? String }
                    == ["popularity", "BLEND(popularity 0.5, itemknn 0.5)", "CHAIN(itemknn, popularity)"])
            let blend = try RecCtl.fail("eval", "--db", db, "--models", "popularity,blend:als=0.7+content=0.3")
            #expect(blend.contains("write BLEND(als 0.7, content 0.3)"), "\(blend)")
            let chain = try RecCtl.fail("eval", "--db", db, "--models", "chain:als/content/popularity")
            #expect(chain.contains("write CHAIN(als, content, popularity)"), "\(chain)")
            let statement = try RecCtl.succeed(
                "query", "--db", db, "--json", "EVALUATE MODEL BLEND(popularity 0.5, itemknn 0.5) K 3"
            ).json
            #expect(statement["model"] as? String == "BLEND(popularity 0.5, itemknn 0.5)", "\(statement)")
        }
    }
}
