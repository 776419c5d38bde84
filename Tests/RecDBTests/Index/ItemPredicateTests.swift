import Foundation
import Testing

@testable import RecDB

/// Filters: parsing the `WHERE` grammar outside a statement, and the item sets that predicates (with and/or/not) select.
@Suite("Item predicates")
struct ItemPredicateTests {
    // MARK: - Parsing

    @Test(arguments: [
        ("category = 'Books'", ItemPredicate.category("Books")),
        ("category = 'Books/Thriller' ", .category("Books/Thriller")),
        ("tag = 'sale'", .tag("sale")),
        ("tags = 'sale'", .tag("sale")),
        ("price<20", .compare(attribute: "price", .less, .number(20))),
        ("price>=5", .compare(attribute: "price", .greaterOrEqual, .number(5))),
        ("price<=5.5", .compare(attribute: "price", .lessOrEqual, .number(5.5))),
        ("price > -1", .compare(attribute: "price", .greater, .number(-1))),
        ("AVAILABLE", .available),
        ("'available' = true", .compare(attribute: "available", .equal, .bool(true))),
        ("'available' = false", .compare(attribute: "available", .equal, .bool(false))),
        ("brand != 'Acme'", .compare(attribute: "brand", .notEqual, .string("Acme"))),
        ("brand = \"Acme Corp\"", .compare(attribute: "brand", .equal, .string("Acme Corp"))),
        ("category = 'Books/Sci Fi'", .category("Books/Sci Fi")),
        ("title = 'a=b'", .compare(attribute: "title", .equal, .string("a=b"))),
        (
            "created_at >= '2024-01-01'",
            .compare(attribute: "created_at", .greaterOrEqual, .timestamp(Timestamp(parsing: "2024-01-01")!))
        ),
        (
            "category = 'Books' AND price < 20",
            .and([.category("Books"), .compare(attribute: "price", .less, .number(20))])
        ),
    ])
    func parsesAFilter(text: String, expected: ItemPredicate) throws {
        #expect(try ItemPredicate.parse(text) == expected)
    }

    /// Quotes make a value text: a quoted number or boolean stays a string (`zip = '02139'` keeps its zero).
    @Test func quotedValuesAreText() throws {
        #expect(try ItemPredicate.parse("zip = \"02139\"") == .compare(attribute: "zip", .equal, .string("02139")))
        #expect(try ItemPredicate.parse("flag = 'true'") == .compare(attribute: "flag", .equal, .string("true")))
        // An operator inside the quotes is part of the value.
        #expect(try ItemPredicate.parse("note = 'x>=y'") == .compare(attribute: "note", .equal, .string("x>=y")))
        #expect(try ItemPredicate.parse("price < $max", parameters: ["max": 9]) == .compare(attribute: "price", .less, .number(9)))
    }

    /// The old `recctl --where` grammar (`category=Books`, a bare word as a value) is gone: one filter grammar.
    @Test(arguments: ["price", "=5", "price~5", "", "  ", "<20", "category=Books", "price < 20 garbage"])
    func rejectsABadFilter(text: String) {
        expectRecDBError(.syntax) { _ = try ItemPredicate.parse(text) }
    }

    // MARK: - Selecting items

    /// b1, b2 in Books; e1, e2 in Electronics; g1 in Garden.
    static func makeCatalog(_ folder: TemporaryDirectory) throws -> RecDatabase {
        let db = try folder.createDatabase()
        try db.write { w in
            try w.upsertItem(
                "b1",
                attributes: [
                    "category": .string("Books/Thriller"), "tags": .strings(["sale"]), "price": .number(12),
                    "available": .bool(true), "brand": .string("Acme"),
                ])
            try w.upsertItem(
                "b2",
                attributes: [
                    "category": .string("Books"), "price": .number(25), "available": .bool(false),
                    "brand": .string("Zenith"),
                ])
            try w.upsertItem(
                "e1",
                attributes: [
                    "category": .string("Electronics/Audio"), "tags": .strings(["sale", "new"]), "price": .number(99.5),
                    "available": .bool(true), "brand": .string("Acme"),
                ])
            try w.upsertItem(
                "e2",
                attributes: [
                    "category": .string("Electronics"), "tags": .strings(["new"]), "price": .number(4),
                    "available": .bool(true),
                ])
            try w.upsertItem(
                "g1",
                attributes: [
                    "category": .string("Garden"), "brand": .string("Acme Corp"), "zip": .string("02139"),
                    "created_at": .timestamp(Timestamp(parsing: "2024-03-01")!),
                ])
        }
        return db
    }

    /// The external ids of the items `predicate` selects, sorted.
    static func select(_ db: RecDatabase, _ predicate: ItemPredicate) throws -> [String] {
        try db.read { r in
            var ids: [String] = []
            try r.items(matching: predicate).forEach { ids.append(try r.externalItemID($0) ?? "#\($0)") }
            return ids.sorted()
        }
    }

    static func select(_ db: RecDatabase, _ clause: String) throws -> [String] {
        try select(db, ItemPredicate.parse(clause))
    }

    @Test func singleClausesSelectTheirItems() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeCatalog(folder)
            #expect(try Self.select(db, "category = 'Books'") == ["b1", "b2"])
            #expect(try Self.select(db, "category = 'Books/Thriller'") == ["b1"])
            #expect(try Self.select(db, "category = 'Toys'") == [])
            #expect(try Self.select(db, "tag = 'sale'") == ["b1", "e1"])
            #expect(try Self.select(db, "price<20") == ["b1", "e2"])
            #expect(try Self.select(db, "price>=5") == ["b1", "b2", "e1"])
            #expect(try Self.select(db, "price<=4") == ["e2"])
            #expect(try Self.select(db, "'available' = true") == ["b1", "e1", "e2"])
            #expect(try Self.select(db, "'available' = false") == ["b2"])
            // An item without the attribute is "not equal" to any value, and never less or greater.
            #expect(try Self.select(db, "brand != 'Acme'") == ["b2", "e2", "g1"])
            #expect(try Self.select(db, "brand = 'Acme Corp'") == ["g1"])
            #expect(try Self.select(db, "brand = 'Acme'") == ["b1", "e1"])
            #expect(try Self.select(db, "created_at >= '2024-01-01'") == ["g1"])
            #expect(try Self.select(db, "zip = '02139'") == ["g1"])
        }
    }

    /// `!=` on a category or a tag is the complement of `=`: sub-categories and the `tags` list count.
    @Test func notEqualOnCategoryAndTagIsTheComplement() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeCatalog(folder)
            #expect(try Self.select(db, "category != 'Books'") == ["e1", "e2", "g1"])
            #expect(try Self.select(db, "tag != 'sale'") == ["b2", "e2", "g1"])
            #expect(try Self.select(db, "tags != 'new'") == ["b1", "b2", "g1"])
        }
    }

    @Test func andOrNotCombine() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeCatalog(folder)
            let books = ItemPredicate.category("Books"), sale = ItemPredicate.tag("sale")
            let cheap = try ItemPredicate.parse("price<5")
            #expect(try Self.select(db, .and([.category("Electronics"), sale])) == ["e1"])
            #expect(try Self.select(db, .or([.category("Garden"), ItemPredicate.parse("price>50")])) == ["e1", "g1"])
            #expect(try Self.select(db, .not(books)) == ["e1", "e2", "g1"])
            #expect(try Self.select(db, .and([.not(sale), .or([books, cheap])])) == ["b2", "e2"])
            #expect(try Self.select(db, .not(.or([books, sale]))) == ["e2", "g1"])
            #expect(try Self.select(db, .and([books, .not(books)])) == [])
            // The empty conjunction holds for every item; the empty disjunction for none.
            #expect(try Self.select(db, .and([])) == ["b1", "b2", "e1", "e2", "g1"])
            #expect(try Self.select(db, .or([])) == [])
            // A deleted item drops out of every set, the complements included.
            try db.write { w in _ = try w.deleteItem("g1") }
            #expect(try Self.select(db, .not(books)) == ["e1", "e2"])
            #expect(try Self.select(db, "brand != 'Acme'") == ["b2", "e2"])
        }
    }

    /// Sets compare by their members, however large their bitmaps grew.
    @Test func allowedSetsCompareByMembers() {
        var grown = AllowedSet([3, 700])
        grown.remove(700)
        #expect(grown == AllowedSet([3]))
        #expect(grown.hashValue == AllowedSet([3]).hashValue)
        #expect(AllowedSet(limit: 1024) == AllowedSet())
        #expect(AllowedSet([1, 2, 200]).intersection(AllowedSet([2, 3])) == AllowedSet([2]))
        #expect(AllowedSet([1, 2]).union(AllowedSet([130])) == AllowedSet([1, 2, 130]))
        #expect(AllowedSet([1, 2]).subtracting(AllowedSet([2, 500])) == AllowedSet([1]))
        #expect(AllowedSet([1]) != AllowedSet([2]))
    }
}
