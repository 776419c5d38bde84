import Foundation
import Testing

/// `recctl vectors …` and `recctl index …` end to end: the built binary against a database in a temporary folder.
@Suite("recctl vectors and index")
struct VectorCommandTests {
    /// Five items from a CSV whose id column is `sku`: A1, A2, A5 in Books (A5 in Books/Poetry), A3, A4 in Music.
    static let itemsCSV = """
        sku,title,category,price
        A1,Alpha,Books,10
        A2,Beta,Books,12
        A3,Gamma,Music,5
        A4,Delta,Music,7
        A5,Epsilon,Books/Poetry,3

        """

    /// 4-d vectors: around A1 lie A2, then A3; A4 and A5 are orthogonal to it.
    static let vectorsCSV = """
        id,x0,x1,x2,x3
        A1,1,0,0,0
        A2,0.9,0.1,0,0
        A3,0.8,0.3,0.1,0
        A4,0,1,0,0
        A5,0,0,1,0

        """

    /// A database in `folder/db` with the five items and the space `emb` (4-d cosine) holding their vectors.
    static func databaseWithVectors(in folder: TemporaryDirectory) throws -> String {
        let db = folder.appending("db")
        try RecCtl.succeed("init", "--db", db)
        let items = try folder.write("items.csv", itemsCSV)
        try RecCtl.succeed("import", "csv", items, "--kind", "items", "--map", "id=sku", "--db", db)
        let created = try RecCtl.succeed("vectors", "create", "emb", "--dim", "4", "--metric", "cosine", "--db", db)
        #expect(created.stdout.contains("Created space emb: 4 dimensions, cosine."), "\(created)")
        let imported = try RecCtl.succeed(
            "vectors", "import", "emb", folder.write("vectors.csv", vectorsCSV), "--db", db, "--json"
        ).json
        #expect(imported["rows"] as? Int == 5 && imported["created"] as? Int == 0, "\(imported)")
        return db
    }

    /// `vectors search … --json` as (id, score) pairs.
    static func search(_ arguments: String..., db: String, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> [(id: String, score: Double)]
    {
        let result = try RecCtl.Child(["vectors", "search"] + arguments + ["--db", db, "--json"]).finish()
        #expect(result.status == 0, "\(arguments): \(result)", sourceLocation: sourceLocation)
        let rows = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]]
        let parsed = try #require(rows, "\(result)", sourceLocation: sourceLocation)
        return parsed.map { (id: $0["id"] as? String ?? "?", score: $0["score"] as? Double ?? .nan) }
    }

    static func isDescending(_ rows: [(id: String, score: Double)]) -> Bool {
        zip(rows, rows.dropFirst()).allSatisfy { $0.score >= $1.score }
    }

    @Test func createImportSearchBuildAndDrop() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.databaseWithVectors(in: folder)

            // Near an item: the item itself is left out, the rest come best first.
            let near = try Self.search("emb", "--id", "A1", "-k", "3", db: db)
            #expect(near.map(\.id) == ["A2", "A3", "A4"] || near.map(\.id) == ["A2", "A3", "A5"], "\(near)")
            #expect(Self.isDescending(near), "\(near)")
            #expect(abs(near[0].score - 0.9 / (0.81 + 0.01).squareRoot()) < 1e-4, "\(near)")
            let text = try RecCtl.succeed("vectors", "search", "emb", "--id", "A1", "-k", "3", "--db", db).stdout
            let lines = text.split(separator: "\n")
            #expect(lines.count == 3, "\(text)")
            #expect(lines.first?.hasPrefix("  1  A2") == true && lines.first?.hasSuffix("  Beta") == true, "\(text)")
            #expect(lines.dropFirst().first?.hasPrefix("  2  A3") == true, "\(text)")
            #expect(!text.contains("A1 "), "\(text)")

            // Near a vector: the item with that very vector comes first with score 1.
            let byVector = try Self.search("emb", "--vector", "1,0,0,0", "-k", "3", db: db)
            #expect(byVector.map(\.id) == ["A1", "A2", "A3"], "\(byVector)")
            #expect(abs(byVector[0].score - 1) < 1e-5 && Self.isDescending(byVector), "\(byVector)")
            #expect(try Self.search("emb", "--vector=-1,0,0,0", "-k", "1", db: db).first?.id != "A1")

            // Filters: only matching items, sub-categories included; several --where must all hold.
            let books = try Self.search("emb", "--vector", "0,1,0,0", "-k", "5", "--where", "category = 'Books'", db: db)
            #expect(Set(books.map(\.id)) == ["A1", "A2", "A5"], "\(books)")
            let cheap = try Self.search("emb", "--id", "A1", "--where", "price<6", db: db)
            #expect(Set(cheap.map(\.id)) == ["A3", "A5"], "\(cheap)")
            let cheapBooks = try Self.search(
                "emb", "--id", "A1", "--where", "price<6", "--where", "category = 'Books'", db: db)
            #expect(cheapBooks.map(\.id) == ["A5"], "\(cheapBooks)")
            let notBooks = try Self.search("emb", "--id", "A1", "--where", "category != 'Books'", db: db)
            #expect(Set(notBooks.map(\.id)) == ["A3", "A4"], "\(notBooks)")

            // Before any build the index stats say so; then a build, stats, check.
            let before = try RecCtl.succeed("index", "stats", "emb", "--db", db).stdout
            #expect(before.contains("none yet"), "\(before)")
            let built = try RecCtl.succeed("index", "build", "emb", "--db", db, "--json").json
            #expect(built["generation"] as? Int == 1 && built["nodes"] as? Int == 5, "\(built)")
            let stats = try RecCtl.succeed("index", "stats", "emb", "--db", db, "--json").json
            #expect(stats["generation"] as? Int == 1, "\(stats)")
            #expect(stats["pending"] as? Int == 0, "\(stats)")
            #expect(stats["vectors"] as? Int == 5 && stats["indexed"] as? Int == 5, "\(stats)")
            #expect(stats["metric"] as? String == "cosine" && stats["dimension"] as? Int == 4, "\(stats)")
            let check = try RecCtl.run("index", "check", "emb", "--db", db)
            #expect(check.status == 0 && check.stdout.hasPrefix("OK: 5 nodes"), "\(check)")
            // The graph answers as the exact scan did.
            #expect(try Self.search("emb", "--id", "A1", "-k", "2", db: db).map(\.id) == ["A2", "A3"])

            // A file with unknown ids needs --create-missing; the new item is searchable at once (pending).
            let extra = try folder.write("extra.csv", "id,x0,x1,x2,x3\nB1,0.5,0.5,0,0\n")
            let unknown = try RecCtl.fail("vectors", "import", "emb", extra, "--db", db)
            #expect(unknown.hasPrefix("\(extra):2: unknown item 'B1'"), "\(unknown)")
            let created = try RecCtl.succeed(
                "vectors", "import", "emb", extra, "--create-missing", "--db", db, "--json")
            #expect(created.json["created"] as? Int == 1, "\(created)")
            #expect(try Self.search("emb", "--vector", "1,1,0,0", "-k", "1", db: db).map(\.id) == ["B1"])
            let pending = try RecCtl.succeed("index", "stats", "emb", "--db", db, "--json").json
            #expect(pending["pending"] as? Int == 1 && pending["vectors"] as? Int == 6, "\(pending)")

            // list, then drop.
            let list = try RecCtl.succeed("vectors", "list", "--db", db, "--json")
            let spaces = try #require(
                (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) as? [[String: Any]], "\(list)")
            #expect(spaces.count == 1, "\(list)")
            #expect(spaces.first?["space"] as? String == "emb")
            #expect(spaces.first?["dimension"] as? Int == 4 && spaces.first?["metric"] as? String == "cosine")
            #expect(spaces.first?["item_vectors"] as? Int == 6 && spaces.first?["user_vectors"] as? Int == 0)
            #expect(spaces.first?["item_generation"] as? Int == 1)
            #expect(try RecCtl.succeed("vectors", "list", "--db", db).stdout.hasPrefix("emb  4-d cosine  items 6"))
            #expect(try RecCtl.succeed("vectors", "drop", "emb", "--db", db).stdout.contains("Dropped space emb."))
            #expect(try RecCtl.succeed("vectors", "list", "--db", db).stdout.contains("No embedding spaces."))
            #expect(try RecCtl.succeed("vectors", "list", "--db", db, "--json").stdout.hasPrefix("[]"))
            // The items stay.
            #expect(try RecCtl.succeed("stats", "--db", db, "--json").json["items"] as? Int == 6)
        }
    }

    @Test func errorsExitWithStatus1AndAMessage() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.databaseWithVectors(in: folder)

            let dimension = try RecCtl.fail("vectors", "search", "emb", "--vector", "1,0,0", "--db", db)
            #expect(dimension.contains("3 dimensions") && dimension.contains("has 4"), "\(dimension)")
            let notNumber = try RecCtl.fail("vectors", "search", "emb", "--vector", "1,x,0,0", "--db", db)
            #expect(notNumber.contains("'x' is not a number"), "\(notNumber)")
            let unknownSpace = try RecCtl.fail("vectors", "search", "nope", "--id", "A1", "--db", db)
            #expect(unknownSpace.contains("unknown embedding space 'nope'"), "\(unknownSpace)")
            #expect(try RecCtl.fail("index", "build", "nope", "--db", db).contains("unknown embedding space 'nope'"))
            #expect(try RecCtl.fail("index", "stats", "nope", "--db", db).contains("unknown embedding space 'nope'"))
            #expect(try RecCtl.fail("vectors", "drop", "nope", "--db", db).contains("unknown embedding space 'nope'"))
            let unknownItem = try RecCtl.fail("vectors", "search", "emb", "--id", "ZZ", "--db", db)
            #expect(unknownItem.contains("'ZZ'"), "\(unknownItem)")
            let badWhere = try RecCtl.fail("vectors", "search", "emb", "--id", "A1", "--where", "price~5", "--db", db)
            #expect(badWhere.contains("unexpected character '~'"), "\(badWhere)")
            #expect(try RecCtl.fail("vectors", "create", "emb", "--dim", "4", "--db", db).contains("exists"))

            // A file with a row of the wrong dimension names that row; rows before it in the batch are not kept.
            let bad = try folder.write("bad.csv", "A1,1,0,0,0\nA2,1,0,0,0\nA3,1,0,0\n")
            let wrong = try RecCtl.fail("vectors", "import", "emb", bad, "--db", db)
            #expect(wrong.hasPrefix("\(bad):3: "), "\(wrong)")
            #expect(wrong.contains("3 dimensions"), "\(wrong)")
            let json = try RecCtl.run("vectors", "import", "emb", bad, "--db", db, "--json")
            #expect(json.status == 1)
            let error = json.json["error"] as? [String: Any]
            #expect(error?["code"] as? String == "invalid_argument" && error?["at"] as? String == "\(bad):3", "\(json)")
            // The space kept its vectors as they were.
            #expect(try Self.search("emb", "--vector", "1,0,0,0", "-k", "1", db: db).map(\.id) == ["A1"])
            let fvecs = folder.appending("missing.fvecs")
            #expect(try RecCtl.fail("vectors", "import", "emb", fvecs, "--db", db).hasPrefix("\(fvecs): "))
        }
    }
}
