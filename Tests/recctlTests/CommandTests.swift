import Foundation
import Testing

@testable import RecDB

/// `recctl` end to end: the built binary against a database in a temporary folder.
@Suite("recctl commands")
struct CommandTests {
    /// A tiny MovieLens data set in RecBole's atomic layout: 3 movies, 2 users, 4 ratings.
    static func writeMovieLens(in folder: TemporaryDirectory) throws -> String {
        try folder.write(
            "ml-tiny/ml-tiny.item",
            """
            item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq
            101\tHarbor Lights\t1994\tDrama Romance
            102\tThe Copper Key\t2001\tMystery
            103\tUndated Reel\t\tComedy

            """)
        try folder.write(
            "ml-tiny/ml-tiny.user",
            """
            user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token
            7\t29\tF\tlibrarian\t02139
            8\t41\tM\tengineer\t94110

            """)
        try folder.write(
            "ml-tiny/ml-tiny.inter",
            """
            user_id:token\titem_id:token\trating:float\ttimestamp:float
            7\t101\t4\t880000000
            7\t102\t3.5\t880000060
            8\t101\t5\t880000120
            8\t103\t1\t879999000

            """)
        return folder.appending("ml-tiny")
    }

    /// Creates a database in `folder/db` with the tiny MovieLens set imported; returns its path.
    static func importedDatabase(in folder: TemporaryDirectory) throws -> String {
        let db = folder.appending("db")
        try RecCtl.succeed("init", "--db", db)
        try RecCtl.succeed("import", "movielens", writeMovieLens(in: folder), "--db", db)
        return db
    }

    @Test func initImportStatsShowCheckAndBackup() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            #expect(try RecCtl.succeed("init", "--db", db).stdout.contains("Created a RecDB database at"))
            // init leaves an existing database as it was.
            #expect(try RecCtl.succeed("init", "--db", db, "--json").json["created"] as? Bool == false)

            let data = try Self.writeMovieLens(in: folder)
            let imported = try RecCtl.succeed("import", "movielens", data, "--db", db, "--json").json
            #expect(imported["ok"] as? Bool == true)
            #expect(imported["rows_read"] as? Int == 9)
            #expect(imported["rows_imported"] as? Int == 9)
            #expect(imported["rows_rejected"] as? Int == 0)

            // stats
            let stats = try RecCtl.succeed("stats", "--db", db, "--json").json
            #expect(stats["users"] as? Int == 2)
            #expect(stats["items"] as? Int == 3)
            #expect(stats["events"] as? Int == 4)
            #expect(stats["events_by_type"] as? [String: Int] == ["rating": 4])
            #expect(stats["explicit_sessions"] as? Int == 0)
            #expect(stats["sessions"] as? Int == 2)
            let statsText = try RecCtl.succeed("stats", "--db", db).stdout
            #expect(statsText.contains("Events     4"))
            #expect(statsText.contains("rating"))

            // show user, newest first
            let userText = try RecCtl.succeed("show", "user", "8", "--db", db).stdout
            #expect(userText.hasPrefix("User 8 (#1), 2 events"), "\(userText)")
            #expect(userText.contains("occupation   engineer"))
            #expect(userText.contains("rating=5"), "\(userText)")
            let newest = try #require(userText.range(of: "101  Harbor Lights"), "\(userText)")
            let oldest = try #require(userText.range(of: "103  Undated Reel"), "\(userText)")
            #expect(newest.lowerBound < oldest.lowerBound)

            let user = try RecCtl.succeed("show", "user", "8", "--db", db, "--json").json
            #expect(user["id"] as? String == "8")
            #expect(user["events"] as? Int == 2)
            let attributes = user["attributes"] as? [String: Any]
            #expect(attributes?["age"] as? Double == 41)
            #expect(attributes?["zip_code"] as? String == "94110")
            let history = try #require(user["history"] as? [[String: Any]])
            #expect(history.map { $0["item"] as? String } == ["101", "103"])
            #expect(history.first?["title"] as? String == "Harbor Lights")
            #expect(history.first?["type"] as? String == "rating")
            #expect(history.first?["value"] as? Double == 5)
            #expect(history.first?["time"] as? String == Timestamp(milliseconds: 880_000_120_000).description)
            let limited = try RecCtl.succeed("show", "user", "8", "--limit", "1", "--db", db, "--json").json
            #expect((limited["history"] as? [Any])?.count == 1)

            // show item
            let itemText = try RecCtl.succeed("show", "item", "101", "--db", db).stdout
            #expect(itemText.hasPrefix("Item 101 (#0), 2 events"), "\(itemText)")
            #expect(itemText.contains("title        Harbor Lights"))
            #expect(itemText.contains("tags         [Drama, Romance]"))
            let item = try RecCtl.succeed("show", "item", "101", "--db", db, "--json").json
            #expect(item["events"] as? Int == 2)
            #expect((item["attributes"] as? [String: Any])?["tags"] as? [String] == ["Drama", "Romance"])
            #expect((item["attributes"] as? [String: Any])?["year"] as? Double == 1994)
            #expect(try RecCtl.fail("show", "item", "999", "--db", db) == "unknown item '999'")

            // check
            #expect(try RecCtl.succeed("check", "--db", db).stdout.hasPrefix("OK: "))
            let check = try RecCtl.succeed("check", "--db", db, "--json").json
            #expect(check["ok"] as? Bool == true)
            #expect((check["problems"] as? [Any])?.isEmpty == true)

            // backup: a consistent copy with the same contents
            let copy = folder.appending("copy")
            #expect(try RecCtl.succeed("backup", copy, "--db", db).stdout.hasPrefix("Backed up "))
            #expect(try RecCtl.succeed("check", "--db", copy, "--json").json["ok"] as? Bool == true)
            let copyStats = try RecCtl.succeed("stats", "--db", copy, "--json").json
            for key in ["users", "items", "events", "sessions", "explicit_sessions", "categories"] {
                #expect(copyStats[key] as? Int == stats[key] as? Int, "\(key)")
            }
            #expect(try RecCtl.succeed("show", "item", "101", "--db", copy, "--json").json["events"] as? Int == 2)
            // A backup never overwrites a database.
            #expect(try RecCtl.fail("backup", copy, "--db", db).contains(copy))

            // RECDB_PATH stands in for --db.
            let viaEnvironment = try RecCtl.succeed("stats", "--json", environment: ["RECDB_PATH": db]).json
            #expect(viaEnvironment["events"] as? Int == 4)
        }
    }

    @Test func checkListsProblemsOfACorruptedDatabase() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.importedDatabase(in: folder)
            // Drop the id map entry of item 102, as a bug or a disk error might; its record stays.
            try withExtendedLifetime(try Environment.open(at: db)) { env in
                let itemIDs = try env.database("item_ids", key: StringCodec.self, value: UInt32Codec.self)
                let removed = try env.write { txn in try itemIDs.delete("102", in: &txn) }
                #expect(removed)
            }

            let result = try RecCtl.run("check", "--db", db)
            #expect(result.status == 1, "\(result)")
            #expect(result.stdout.contains("problem(s) in"), "\(result)")
            #expect(result.stdout.contains("items: #1 '102' is missing from item_ids"), "\(result)")

            let json = try RecCtl.run("check", "--db", db, "--json")
            #expect(json.status == 1)
            #expect(json.json["ok"] as? Bool == false)
            let problems = try #require(json.json["problems"] as? [[String: String]])
            #expect(problems.contains { $0["index"] == "items" && $0["message"]?.contains("'102'") == true })
        }
    }

    @Test func errorsExitWithStatus1AndAMessage() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let events = try folder.write(
                "events.csv",
                """
                user,item,type,time,value
                u1,i1,view,1700000001,1
                u1,i2,view,1700000002,2
                u2,i1,view,1700000003,3
                u2,i2,view,1700000004,x
                u3,i3,view,1700000005,5

                """)

            // An unknown format names the known ones.
            let unknown = try RecCtl.fail("import", "netflix", events, "--db", db)
            #expect(unknown.hasPrefix("unknown import format 'netflix' (known: movielens, online-retail"), "\(unknown)")

            // No database given.
            #expect(try RecCtl.fail("stats").contains("--db PATH or set RECDB_PATH"))
            #expect(try RecCtl.fail("import", "csv", events, "--kind", "events").contains("--db PATH"))
            let noDatabase = try RecCtl.run("stats", "--json")
            #expect(noDatabase.status == 1)
            #expect((noDatabase.json["error"] as? [String: String])?["code"] == "invalid_argument")

            // A folder without a database.
            #expect(try RecCtl.fail("stats", "--db", folder.appending("nothing")).contains("recctl init"))

            // A bad row: its file:line, and the batches before it stay.
            let bad = try RecCtl.fail("import", "csv", events, "--kind", "events", "--batch-size", "2", "--db", db)
            #expect(bad.hasPrefix("\(events):5: column 'value' is not a number: 'x'"), "\(bad)")
            #expect(try RecCtl.succeed("stats", "--db", db, "--json").json["events"] as? Int == 2)
            try RecCtl.succeed("check", "--db", db)

            let other = folder.appending("other")
            try RecCtl.succeed("init", "--db", other)
            let badJSON = try RecCtl.run("import", "csv", events, "--kind", "events", "--db", other, "--json")
            #expect(badJSON.status == 1)
            let error = badJSON.json["error"] as? [String: String]
            #expect(error?["code"] == "malformed_input")
            #expect(error?["at"] == "\(events):5")

            // With --skip-bad the same file imports its good rows.
            let skipping = folder.appending("skipping")
            try RecCtl.succeed("init", "--db", skipping)
            let skipped = try RecCtl.succeed(
                "import", "csv", events, "--kind", "events", "--skip-bad", "--db", skipping, "--json"
            )
            .json
            #expect(skipped["rows_imported"] as? Int == 4)
            #expect(skipped["rows_rejected"] as? Int == 1)
            #expect((skipped["rejections"] as? [[String: String]])?.first?["at"] == "\(events):5")
        }
    }

    @Test func typesSetDefinesAndReweightsEventTypes() throws {
        try TemporaryDirectory.with { folder in
            let db = folder.appending("db")
            try RecCtl.succeed("init", "--db", db)
            let events = try folder.write(
                "shares.csv",
                """
                user,item,type,time
                u1,i1,share,1700000001
                u1,i2,wishlist,1700000002

                """)
            let before = try RecCtl.fail("import", "csv", events, "--kind", "events", "--db", db)
            #expect(
                before.contains("unknown event type 'share' (define it with `recctl types set share=WEIGHT`)"),
                "\(before)")

            let set = try RecCtl.succeed("types", "set", "wishlist=2", "share=1.5", "like=value", "--db", db, "--json")
            let types = try #require(
                (try JSONSerialization.jsonObject(with: Data(set.stdout.utf8))) as? [[String: Any]], "\(set)")
            func type(_ name: String) -> [String: Any]? { types.first { $0["name"] as? String == name } }
            #expect(types.count == EventType.defaults.count + 1)
            #expect(type("wishlist")?["weight"] as? Double == 2)
            #expect(type("share")?["weight"] as? Double == 1.5)
            #expect(type("share")?["uses_value"] as? Bool == false)
            #expect(type("like")?["uses_value"] as? Bool == true)
            // Existing types keep their place; new ones come last.
            #expect(types.map { $0["name"] as? String ?? "" } == EventType.defaults.map(\.name) + ["share"])

            let listed = try RecCtl.succeed("types", "--db", db).stdout
            #expect(listed.contains("share        weight 1.5"), "\(listed)")
            #expect(listed.contains("like         weight = event value"), "\(listed)")

            #expect(
                try RecCtl.succeed("import", "csv", events, "--kind", "events", "--db", db, "--json").json[
                    "rows_imported"] as? Int == 2)
            let stats = try RecCtl.succeed("stats", "--db", db, "--json").json
            #expect(stats["events_by_type"] as? [String: Int] == ["share": 1, "wishlist": 1])
        }
    }
}
