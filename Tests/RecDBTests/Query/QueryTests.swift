import Foundation
import Testing

@testable import RecDB

/// Every statement kind end to end on the recommend fixture (a small shop with every model trained).
@Suite("Query execution")
struct QueryTests {
    static func ids(_ result: QueryValue, _ key: String = "items") -> [String] {
        (result[key]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    @Test func recommendStatements() throws {
        try RecommendTests.with { db in
            let plain = try db.query("RECOMMEND 5 ITEMS FOR USER $u USING als", parameters: ["u": "u3"])
            let direct = try db.recommend(RecommendRequest(.user("u3"), count: 5, models: [ModelWeight("als")]))
            #expect(Self.ids(plain) == direct.map(\.id))
            let first = try #require(plain["items"]?[0])
            #expect(first["model"] == "als" && first["title"]?.stringValue != nil && first["score"]?.numberValue != nil)
            #expect(first["explanation"] == nil && first["provenance"] == nil)

            let filtered = try db.query(
                "recommend 10 items for user 'u3' where category = 'Books' and price < 12 and available explain")
            let allowed = try db.read { r in
                try r.items(
                    matching: .and([.category("Books"), .compare(attribute: "price", .less, .number(12)), .available]))
            }
            for row in filtered["items"]?.arrayValue ?? [] {
                let id = try #require(row["id"]?.stringValue)
                let internalID = try #require(try db.read { r in try r.itemID(for: id) })
                #expect(allowed.contains(internalID), "\(id) leaked through the filter")
                #expect(row["explanation"]?.stringValue?.isEmpty == false)
                #expect(row["provenance"]?["reason"]?.stringValue != nil)
            }
            #expect(!Self.ids(filtered).isEmpty)

            // Search settings: a wide walk finds the same page; a bad one is refused naming the setting.
            let wide = try db.query("RECOMMEND 5 ITEMS FOR USER u3 USING als WITH (EF = 400, RERANK = 40)")
            #expect(Self.ids(wide) == Self.ids(plain))
            var request = RecommendRequest(.user("u3"), count: 5, models: [ModelWeight("als")])
            request.search = VectorSearchOptions(ef: 5000)
            let refused = try #require(throws: RecDBError.self) { try db.recommend(request) }
            #expect(refused.code == .invalidArgument && refused.message.contains("EF = 5000"))

            let page2 = try db.query("RECOMMEND 5 ITEMS FOR USER u3 USING als OFFSET 5")
            let both = try db.query("RECOMMEND 10 ITEMS FOR USER u3 USING als")
            #expect(Self.ids(both) == Self.ids(plain) + Self.ids(page2))

            let session = try db.query("RECOMMEND 3 ITEMS FOR SESSION 's12'")
            #expect(Self.ids(session).count == 3)
            let basket = try db.query("RECOMMEND 3 ITEMS FOR ITEMS ('c1', 'c2') EXCLUDE ('c3')")
            #expect(!Self.ids(basket).contains("c3") && !Self.ids(basket).contains("c1"))
            let similar = try db.query("RECOMMEND 4 ITEMS SIMILAR TO ITEM g4 USING content DIVERSIFY 0.3")
            #expect(Self.ids(similar).count == 4 && !Self.ids(similar).contains("g4"))
            let blend = try db.query(
                "RECOMMEND 4 ITEMS FOR USER u20 USING BLEND(als 0.7, content 0.3) DIVERSIFY BY CATEGORY 2")
            #expect(blend["items"]?[0]?["model"] == "blend")
            let users = try db.query("RECOMMEND 3 USERS FOR ITEM t5 EXPLAIN")
            #expect(Self.ids(users, "users").count == 3 && users["items"] == nil)
            #expect(users["users"]?[0]?["provenance"]?["reason"] == "audience")

            // MATCHING answers from the content model while the text model does not exist.
            let matching = try db.query("RECOMMEND 3 ITEMS MATCHING 'murder detective' WHERE available")
            #expect(Self.ids(matching).count == 3)
            #expect(Self.ids(matching).allSatisfy { $0.hasPrefix("t") }, "\(Self.ids(matching))")

            let seenExcluded = try db.query("RECOMMEND 20 ITEMS FOR USER u0 USING popularity")
            let seenIncluded = try db.query("RECOMMEND 20 ITEMS FOR USER u0 USING popularity INCLUDE SEEN")
            let history = try db.read { r in try r.history(ofUser: "u0").compactMap { try r.externalItemID($0.itemID) }
            }
            #expect(Set(Self.ids(seenExcluded)).isDisjoint(with: history))
            let unfiltered = try db.recommend(
                RecommendRequest(.user("u0"), count: 20, models: [ModelWeight("popularity")], excludeSeen: false))
            #expect(Self.ids(seenIncluded) == unfiltered.map { $0.id })
        }
    }

    @Test func matchingWithoutAContentModelSaysWhatToDo() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            _ = try db.query("UPSERT ITEM i1 SET title = 'Boots'")
            #expect {
                try db.query("RECOMMEND 3 ITEMS MATCHING 'boots'")
            } throws: { error in
                let error = error as? RecDBError
                return error?.code == .notFound && error?.message.contains("recctl refresh text") == true
            }
        }
    }

    @Test func writeStatements() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let created = try db.query(
                "UPSERT ITEM 'i7' SET title = 'Gone Girl', category = 'Books/Thriller', price = 9.99, tags = ['bestseller']"
            )
            #expect(created["created"] == true && created["id"] == "i7" && created["internal_id"]?.numberValue != nil)
            let updated = try db.query("upsert item i7 set price = $p", parameters: ["p": 7.5])
            #expect(updated["created"] == false && updated["internal_id"] == created["internal_id"])
            let item = try db.query("SHOW ITEM i7")
            #expect(item["attributes"]?["price"] == 7.5 && item["attributes"]?["title"] == "Gone Girl")
            #expect(item["attributes"]?["tags"] == ["bestseller"])

            #expect(try db.query("UPSERT USER u42 SET age = 31")["created"] == true)
            let event = try db.query(
                "EVENT purchase USER 'u42' ITEM 'i7' VALUE 2 SESSION 's9' AT '2026-11-26T10:00:00Z'")
            #expect(event["sequence"]?.numberValue != nil)
            _ = try db.query("EVENT view USER u42 ITEM i8 AT '2026-11-26T10:05:00Z'")
            let user = try db.query("SHOW USER u42 HISTORY LIMIT 5")
            #expect(user["attributes"]?["age"] == 31)
            #expect(user["history"]?.arrayValue?.count == 2)
            #expect(user["history"]?[0]?["item"] == "i8" && user["history"]?[1]?["type"] == "purchase")
            #expect(user["history"]?[1]?["title"] == "Gone Girl" && user["history"]?[1]?["value"] == 2)
            #expect(try db.query("SHOW USER u42")["history"] == nil)

            let stats = try db.query("SHOW STATS")
            #expect(stats["items"] == 2 && stats["users"] == 1 && stats["events"] == 2)
            #expect(stats["events_by_type"]?["purchase"] == 1)

            #expect(try db.query("DELETE ITEM i8")["deleted"] == true)
            #expect(try db.query("DELETE ITEM i8")["deleted"] == false)
            #expect(try db.query("DELETE USER u42")["deleted"] == true)
            #expect(throws: RecDBError.self) { try db.query("SHOW USER u42") }
            #expect(throws: RecDBError.self) { try db.query("EVENT nosuchtype USER a ITEM b") }
        }
    }

    @Test func groupCommitRunsSeveralWritesInOneTransaction() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let statements = try (0..<5).map {
                try db.prepare("EVENT view USER $u ITEM $i", parameters: ["u": "u\($0)", "i": .number(Double($0))])
            }
            #expect(statements.allSatisfy { $0.kind == .write })
            let results = try db.write { w in try statements.map { try db.execute($0, in: &w) } }
            #expect(results.count == 5)
            #expect(try db.query("SHOW STATS")["events"] == 5)
            // A failing write rolls the whole group back.
            let bad = try db.prepare("EVENT nosuchtype USER a ITEM b")
            #expect(throws: RecDBError.self) {
                try db.write { w in
                    _ = try db.execute(statements[0], in: &w)
                    _ = try db.execute(bad, in: &w)
                }
            }
            #expect(try db.query("SHOW STATS")["events"] == 5)
            let read = try db.prepare("SHOW STATS")
            #expect(read.kind == .read)
            #expect(throws: RecDBError.self) { try db.write { w in try db.execute(read, in: &w) } }
        }
    }

    @Test func hostileParameterIsJustAnID() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let hostile = "x' OR 1=1 --"
            _ = try db.query("UPSERT USER $u SET note = $u", parameters: ["u": .string(hostile)])
            let user = try db.query("SHOW USER $u", parameters: ["u": .string(hostile)])
            #expect(user["id"] == .string(hostile) && user["attributes"]?["note"] == .string(hostile))
            #expect(try db.query("SHOW STATS")["users"] == 1)
            #expect {
                try db.query("RECOMMEND 3 ITEMS FOR USER $u", parameters: ["u": "nobody' OR 1=1 --"])
            } throws: { error in
                (error as? RecDBError)?.code == .notFound && "\(error)".contains("nobody' OR 1=1 --")
            }
        }
    }

    @Test func adminStatements() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            for user in 0..<12 {
                for step in 0..<6 {
                    _ = try db.query(
                        "EVENT view USER $u ITEM $i AT $t",
                        parameters: [
                            "u": "u\(user)", "i": "i\((user + step) % 10)",
                            "t": .string(Timestamp(milliseconds: Int64(user * 100 + step) * 60_000).description),
                        ])
                }
            }
            #expect(try db.prepare("REFRESH MODEL popularity").kind == .admin)
            let refreshed = try db.query("REFRESH MODEL popularity")
            #expect(
                refreshed["model"] == "popularity" && refreshed["generation"] == 1
                    && refreshed["seconds"]?.numberValue != nil)
            let models = try db.query("SHOW MODELS")
            #expect(models["models"]?[0]?["name"] == "popularity" && models["models"]?[0]?["generation"] == 1)
            let evaluation = try db.query("EVALUATE MODEL popularity K 5 SPLIT leave-last-out")
            #expect(
                evaluation["k"] == 5 && evaluation["split"] == "leave-last-out"
                    && evaluation["ndcg"]?.numberValue != nil)
            #expect(try db.query("RECOMMEND 3 ITEMS FOR USER u1")["items"]?.arrayValue?.count == 3)
            #expect(throws: RecDBError.self) { try db.query("REFRESH MODEL nosuchmodel") }
        }
    }
}

/// QueryValue's JSON text and its conversion from Foundation JSON.
@Suite("Query values")
struct QueryValueTests {
    @Test func jsonTextIsCompactEscapedAndSorted() throws {
        let value: QueryValue = [
            "b": [1, 2.5, true, nil], "a": "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 😀",
            "n": .number(.nan), "i": .number(.infinity), "big": 1e300, "neg": -0.125,
        ]
        let text = value.jsonText
        #expect(
            text
                == #"{"a":"quote \" backslash \\ newline \n tab \t nul \u0000 bell \u0007 é 😀","b":[1,2.5,true,null],"big":1e+300,"i":null,"n":null,"neg":-0.125}"#
        )
        // Foundation reads it back to the same value (non-finite numbers as null).
        let parsed = try QueryValue(json: try JSONSerialization.jsonObject(with: Data(text.utf8)))
        #expect(
            parsed["a"] == value["a"] && parsed["b"] == value["b"] && parsed["n"] == .null && parsed["big"] == 1e300)
    }

    @Test func initFromFoundationJSON() throws {
        let object = try JSONSerialization.jsonObject(
            with: Data(#"{"u":"u1","n":10,"f":0.5,"t":true,"z":false,"l":["a",1],"o":{"x":null}}"#.utf8))
        let value = try QueryValue(json: object)
        #expect(value == ["u": "u1", "n": 10, "f": 0.5, "t": true, "z": false, "l": ["a", 1], "o": ["x": nil]])
        #expect(try QueryValue(json: ["a": 1, "b": true, "c": "x"] as [String: Any]) == ["a": 1, "b": true, "c": "x"])
        #expect(throws: RecDBError.self) { try QueryValue(json: Date()) }
    }
}
