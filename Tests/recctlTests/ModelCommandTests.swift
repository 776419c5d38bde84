import Foundation
import Testing

/// `recctl eval`, `refresh`, `models` and `recommend` against a tiny MovieLens set.
@Suite("recctl models")
struct ModelCommandTests {
    /// Six users with five ratings each over eight movies, in RecBole's atomic layout; returns the database path.
    /// Users rate in turns (every user's first rating, then every user's second…), so the temporal split's last
    /// 10 % is the fifth rating of users 4, 5 and 6, and its 10 % before that the fifth of users 1, 2 and 3.
    static func importedDatabase(in folder: TemporaryDirectory) throws -> String {
        var items = "item_id:token\tmovie_title:token_seq\n"
        for movie in 101...108 { items += "\(movie)\tMovie \(movie)\n" }
        try folder.write("ml-six/ml-six.item", items)
        let watched: [Int: [Int]] = [
            1: [101, 102, 103, 104, 105], 2: [101, 102, 103, 106, 107], 3: [102, 103, 104, 105, 108],
            4: [105, 106, 107, 108, 101], 5: [106, 107, 108, 101, 102], 6: [103, 104, 105, 106, 107],
        ]
        var ratings = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        for user in 1...6 {
            for (order, movie) in watched[user]!.enumerated() {
                ratings += "\(user)\t\(movie)\t\((user + order) % 5 + 1)\t\(880_000_000 + order * 1000 + user * 60)\n"
            }
        }
        try folder.write("ml-six/ml-six.inter", ratings)
        let db = folder.appending("db")
        try RecCtl.succeed("init", "--db", db)
        try RecCtl.succeed("import", "movielens", folder.appending("ml-six"), "--db", db)
        return db
    }

    static func jsonArray(_ result: RecCtl.Result) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]] ?? []
    }

    /// The `items` of a `RECOMMEND` result printed as JSON (by `recctl recommend --json` or `recctl query --json`).
    static func items(_ result: RecCtl.Result) -> [[String: Any]] {
        result.json["items"] as? [[String: Any]] ?? []
    }

    @Test func evalComparesTheFourModels() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.importedDatabase(in: folder)
            let eval = try RecCtl.succeed(
                "eval", "--db", db, "--json", "-k", "3", "--factors", "4", "--iterations", "3", "--threads", "1"
            ).json
            #expect(eval["split"] as? String == "leave-last-out")
            #expect(eval["k"] as? Int == 3)
            #expect(eval["test_history"] as? String == "with-validation", "the standard protocol by default")
            // Every user has 5 ratings and its last movie is new to it.
            #expect(eval["test_users"] as? Int == 6)
            #expect(eval["skipped_users"] as? Int == 0)
            let results = try #require(eval["results"] as? [[String: Any]], "\(eval)")
            #expect(results.map { $0["model"] as? String } == ["popularity", "itemknn", "als", "bpr"])
            for row in results {
                #expect(row["users"] as? Int == 6, "\(row)")
                #expect(row["k"] as? Int == 3)
                for metric in ["precision", "recall", "f1", "ndcg", "mrr", "hitRate", "coverage"] {
                    let value = try #require(row[metric] as? Double, "\(metric) in \(row)")
                    #expect((0...1).contains(value), "\(row["model"]!) \(metric) = \(value)")
                }
                // Diversity needs item vectors (ALS, BPR) or categories and tags (the movies have none).
                if let model = row["model"] as? String, model == "als" || model == "bpr" {
                    let diversity = try #require(row["diversity"] as? Double, "\(row)")
                    #expect((0...1).contains(diversity), "\(model) diversity = \(diversity)")
                } else {
                    #expect(row["diversity"] == nil, "\(row)")
                }
                #expect((row["novelty"] as? Double ?? -1) >= 0, "\(row)")
                #expect((row["training_seconds"] as? Double ?? -1) >= 0, "\(row)")
            }

            // The table: full model names, and the cold-start column with its user count (every user has 3
            // training ratings, so all 6 are cold).
            let text = try RecCtl.succeed("eval", "--db", db, "--models", "popularity,itemknn", "-k", "2").stdout
            #expect(
                text.hasPrefix("Split leave-last-out: 18 training interactions, 6 test users (0 skipped"), "\(text)")
            let lines = text.split(separator: "\n")
            #expect(lines.count == 4 && lines[1].hasPrefix("model ") && lines[1].contains("NDCG@2"), "\(text)")
            #expect(lines[2].hasPrefix("popularity ") && lines[3].hasPrefix("itemknn "), "\(text)")
            #expect(lines[2].contains(" (6) ") && lines[3].contains(" (6) "), "\(text)")

            let temporal = try RecCtl.succeed(
                "eval", "--db", db, "--json", "--models", "popularity", "--split", "temporal"
            ).json
            #expect(temporal["split"] as? String == "temporal" && temporal["test_users"] as? Int == 3, "\(temporal)")
            let withheld = try RecCtl.succeed(
                "eval", "--db", db, "--json", "--models", "popularity", "--test-history", "training-only"
            ).json
            #expect(withheld["test_history"] as? String == "training-only", "\(withheld)")
            let badHistory = try RecCtl.run("eval", "--db", db, "--test-history", "all")
            #expect(badHistory.status == 64 && badHistory.stderr.contains("with-validation"), "\(badHistory)")

            #expect(try RecCtl.fail("eval", "--db", db, "--models", "popularity,svd").contains("unknown model 'svd'"))
            // A usage error, as argument-parser reports them.
            let usage = try RecCtl.run("eval", "--db", db, "--split", "random")
            #expect(
                usage.status == 64 && usage.stderr.contains("--split must be leave-last-out, temporal or cold-items"), "\(usage)")
        }
    }

    @Test func refreshModelsAndRecommend() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.importedDatabase(in: folder)
            #expect(try RecCtl.succeed("models", "--db", db).stdout.contains("No trained models yet"))
            let untrained = try RecCtl.fail("recommend", "--model", "als", "--user", "1", "--db", db)
            #expect(untrained.contains("not been trained"), "\(untrained)")

            let first = try RecCtl.succeed(
                "refresh", "als", "--factors", "4", "--iterations", "3", "--threads", "1", "--db", db, "--json"
            ).json
            #expect(first["ok"] as? Bool == true)
            #expect(first["generation"] as? Int == 1 && first["space"] as? String == "als@1", "\(first)")
            #expect(first["events"] as? Int == 30)
            let second = try RecCtl.succeed(
                "refresh", "als", "--factors", "4", "--iterations", "3", "--threads", "1", "--db", db
            ).stdout
            #expect(second.hasPrefix("Refreshed als: generation 2 from 30 events"), "\(second)")
            try RecCtl.succeed("refresh", "popularity", "--db", db)

            let models = Self.jsonArray(try RecCtl.succeed("models", "--db", db, "--json"))
            let als = try #require(models.first { $0["name"] as? String == "als" }, "\(models)")
            #expect(als["generation"] as? Int == 2 && als["space"] as? String == "als@2")
            #expect((als["parameters"] as? [String: Double])?["factors"] == 4)
            #expect((als["parameters"] as? [String: Double])?["iterations"] == 3)
            #expect(als["events"] as? Int == 30)
            #expect(models.first { $0["name"] as? String == "popularity" }?["generation"] as? Int == 1)
            let modelsText = try RecCtl.succeed("models", "--db", db).stdout
            #expect(modelsText.contains("als  generation 2") && modelsText.contains("factors=4"), "\(modelsText)")

            // User 1 has seen 101…105: recommendations come from 106…108 only.
            let rows = Self.items(
                try RecCtl.succeed("recommend", "--model", "als", "--user", "1", "--db", db, "--json"))
            let ids = rows.compactMap { $0["id"] as? String }
            #expect(!ids.isEmpty && Set(ids).isSubset(of: ["106", "107", "108"]), "\(rows)")
            #expect(rows.allSatisfy { $0["score"] is Double && ($0["title"] as? String)?.hasPrefix("Movie 1") == true })
            let text = try RecCtl.succeed("recommend", "--model", "als", "--user", "1", "-k", "2", "--db", db).stdout
            // Each result is a ranked line and an indented explanation.
            let lines = text.split(separator: "\n").filter { !$0.hasPrefix("       ") }
            #expect(lines.count == min(2, ids.count), "\(text)")
            #expect(text.contains("Because you "), "\(text)")
            let top = lines.first.map(String.init) ?? ""
            #expect(top.hasPrefix("  1  \(ids[0])") && top.contains("Movie \(ids[0])"), "\(text)")
            let popular = Self.items(
                try RecCtl.succeed(
                    "recommend", "--model", "popularity", "--user", "1", "-k", "5", "--db", db, "--json"))
            #expect(Set(popular.compactMap { $0["id"] as? String }) == ["106", "107", "108"], "\(popular)")

            // Similar items from item-kNN: 101's neighbours, never 101 itself.
            try RecCtl.succeed("refresh", "itemknn", "--db", db)
            let similar = Self.jsonArray(try RecCtl.succeed("similar", "101", "--db", db, "--json", "-k", "3"))
            let similarIDs = similar.compactMap { $0["id"] as? String }
            #expect(similarIDs.count == 3 && !similarIDs.contains("101"), "\(similar)")

            // Errors: exit 1 with `recctl: error: …`.
            #expect(try RecCtl.fail("refresh", "svd", "--db", db).contains("unknown model 'svd'"))
            #expect(try RecCtl.fail("recommend", "--model", "svd", "--user", "1", "--db", db).contains("'svd'"))
            let bpr = try RecCtl.fail("recommend", "--model", "bpr", "--user", "1", "--db", db)
            #expect(bpr.contains("not been trained"), "\(bpr)")
            #expect(try RecCtl.fail("recommend", "--model", "als", "--user", "999", "--db", db) == "unknown user '999'")
            #expect(try RecCtl.succeed("check", "--db", db).stdout.hasPrefix("OK"))

            // eval stores its test-set result on the models that are stored (als), and `models` shows it.
            try RecCtl.succeed(
                "eval", "--db", db, "--models", "als,bpr", "--factors", "4", "--iterations", "3", "--threads", "1",
                "-k", "3")
            let evaluated = Self.jsonArray(try RecCtl.succeed("models", "--db", db, "--json"))
            let evaluation = evaluated.first { $0["name"] as? String == "als" }?["lastEvaluation"] as? [String: Any]
            #expect(evaluation?["k"] as? Int == 3 && evaluation?["users"] as? Int == 6, "\(evaluated)")
            #expect(evaluated.map { $0["name"] as? String }.contains("bpr") == false)
            #expect(try RecCtl.succeed("models", "--db", db).stdout.contains("last evaluation (leave-last-out, K 3)"))
        }
    }
}

extension ModelCommandTests {
    /// `recctl recommend --diversify D` and `DIVERSIFY D` in a statement are one setting: the same list for every D.
    @Test func diversifyMeansTheSameInTheFlagAndTheStatement() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.importedDatabase(in: folder)
            try RecCtl.succeed("refresh", "als", "--db", db, "--factors", "4", "--iterations", "3", "--threads", "1")
            var lists: [String: [String]] = [:]
            for amount in ["0", "0.3", "0.7", "1"] {
                let flag = Self.items(
                    try RecCtl.succeed(
                        "recommend", "--user", "2", "--model", "als", "--include-seen", "-k", "6", "--diversify", amount,
                        "--db", db, "--json"))
                let statement = try RecCtl.succeed(
                    "query", "--db", db, "--json",
                    "RECOMMEND 6 ITEMS FOR USER '2' USING als INCLUDE SEEN DIVERSIFY \(amount)"
                ).json["items"] as? [[String: Any]] ?? []
                let ids = flag.compactMap { $0["id"] as? String }
                #expect(ids.count == 6 && ids == statement.compactMap { $0["id"] as? String }, "DIVERSIFY \(amount)")
                lists[amount] = ids
            }
            // The amount changes the list here, so a flag that meant 1 − D would fail above.
            #expect(Set(lists.values).count > 1, "\(lists)")
            let outside = try RecCtl.run("recommend", "--user", "2", "--diversify", "1.5", "--db", db)
            #expect(outside.status != 0 && outside.stderr.contains("0…1"), "\(outside)")
        }
    }
}

/// `recctl refresh content|session` and `recommend` for every kind of target, and session evaluation.
@Suite("recctl recommend")
struct RecommendCommandTests {
    @Test func contentSessionAndTargets() throws {
        try TemporaryDirectory.with { folder in
            let db = try ModelCommandTests.importedDatabase(in: folder)
            for model in ["popularity", "content", "session", "itemknn"] {
                try RecCtl.succeed("refresh", model, "--db", db)
            }
            let similar = ModelCommandTests.items(
                try RecCtl.succeed("recommend", "--similar-to", "101", "--model", "content", "-k", "3", "--db", db, "--json"))
            #expect(similar.count == 3 && similar.allSatisfy { ($0["explanation"] as? String)?.hasPrefix("Similar to Movie 101") == true },
                    "\(similar)")
            let basket = ModelCommandTests.items(
                try RecCtl.succeed("recommend", "--items", "101,102", "-k", "3", "--db", db, "--json"))
            #expect(!basket.isEmpty && basket.allSatisfy { !["101", "102"].contains($0["id"] as? String) }, "\(basket)")
            let chain = ModelCommandTests.items(
                try RecCtl.succeed("recommend", "--user", "1", "--where", "category != 'none'", "-k", "2", "--db", db, "--json"))
            #expect(chain.count == 2 && chain.allSatisfy { $0["provenance"] is [String: Any] && $0["model"] is String })
            let paged = try RecCtl.succeed("recommend", "--user", "1", "-k", "1", "--offset", "1", "--db", db).stdout
            #expect(paged.hasPrefix("  2  "), "\(paged)")
            let bad = try RecCtl.run("recommend", "--user", "1", "--items", "101", "--db", db)
            #expect(bad.status == 64 && bad.stderr.contains("exactly one of"), "\(bad)")
            #expect(try RecCtl.fail("recommend", "--similar-to", "999", "--db", db).contains("unknown item '999'"))
            // Next-item evaluation against a test file in session-rec's layout.
            try folder.write("test.tsv", "SessionId\tItemId\tTime\n9\t101\t1\n9\t102\t2\n9\t103\t3\n")
            let sessions = try RecCtl.succeed(
                "eval", "--db", db, "--models", "transition,session", "--sessions-test", folder.appending("test.tsv"), "--json")
            let rows = (try? JSONSerialization.jsonObject(with: Data(sessions.stdout.utf8))) as? [[String: Any]] ?? []
            #expect(rows.map { $0["model"] as? String } == ["transition", "session"], "\(sessions.stdout)")
            #expect(rows.allSatisfy { $0["predictions"] as? Int == 2 })
        }
    }
}
