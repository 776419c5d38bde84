import Foundation
import RecNeural
import Testing

@testable import RecDB

/// Cached filter sets follow item writes through the change log: after any sequence of upserts and deletes, a
/// cached filter gives exactly the set a fresh evaluation gives.
@Suite("Filter cache")
struct FilterCacheTests {
    static let predicates: [ItemPredicate] = [
        .category("Books"), .category("Books/Thriller"), .tag("sale"), .available,
        .compare(attribute: "price", .less, .number(20)),
        .oneOf(attribute: "brand", [.string("acme"), .string("zenith")]),
        .and([.category("Books"), .compare(attribute: "price", .lessOrEqual, .number(30)), .available]),
        .or([.tag("sale"), .category("Garden")]),
        .not(.category("Books")),
    ]

    static func attributes(_ random: inout SeededGenerator) -> Attributes {
        let categories = ["Books/Thriller", "Books/Cooking", "Garden", "Garden/Tools"]
        var attributes: Attributes = [
            "title": .string("Item \(random.below(1000))"),
            "category": .string(categories[random.below(categories.count)]),
            "price": .number(Double(random.below(50))),
            "available": .bool(random.below(4) != 0),
            "brand": .string(["acme", "zenith", "other"][random.below(3)]),
        ]
        if random.below(2) == 0 { attributes["tags"] = .strings(["sale"]) }
        return attributes
    }

    @Test func cachedFiltersMatchFreshEvaluationAfterWrites() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            var random = SeededGenerator(seed: 7)
            try db.write { w in
                for i in 0..<300 { try w.upsertItem("i\(i)", attributes: Self.attributes(&random)) }
            }
            for round in 0..<40 {
                // Warm the cache at this version.
                try db.read { r in for predicate in Self.predicates { _ = try r.cachedItems(matching: predicate) } }
                // A few writes: changes, new items, deletions, sometimes several transactions in a row.
                for _ in 0...random.below(3) {
                    try db.write { w in
                        for _ in 0..<(1 + random.below(8)) {
                            let id = "i\(random.below(330))"
                            if random.below(6) == 0 {
                                try w.deleteItem(id)
                            } else {
                                try w.upsertItem(id, attributes: Self.attributes(&random))
                            }
                        }
                    }
                }
                try db.read { r in
                    for predicate in Self.predicates {
                        let cached = try r.cachedItems(matching: predicate)
                        let fresh = try r.items(matching: predicate)
                        #expect(cached == fresh, "round \(round): \(predicate)")
                    }
                }
            }
        }
    }

    @Test func theChangeLogIsPrunedAndAFilterOlderThanItIsEvaluatedAfresh() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            _ = try db.write { w in try w.upsertItem("a", attributes: ["price": .number(5)]) }
            let predicate = ItemPredicate.compare(attribute: "price", .less, .number(10))
            try db.read { r in _ = try r.cachedItems(matching: predicate) }
            for i in 0..<(Int(CatalogWriter.itemChangeHistory) + 100) {
                _ = try db.write { w in try w.upsertItem("a", attributes: ["price": .number(Double(i % 20))]) }
            }
            try db.read { r throws in
                #expect(try r.schema.itemChanges.count(in: r.txn) <= Int(CatalogWriter.itemChangeHistory) + 64)
                #expect(try r.cachedItems(matching: predicate) == r.items(matching: predicate))
            }
        }
    }
}

extension SeededGenerator {
    /// A number in 0..<bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
