import Foundation
import RecNeural
import Testing

@testable import RecDB

/// The attribute index answers filters exactly as a decode of every item would, through any sequence of writes.
@Suite("Attribute index")
struct AttributeIndexTests {
    static let names = ["price", "maker", "available", "color", "released", "size"]
    static let words = ["acme", "Acme", "zenith", "é", "e\u{301}", "a<b", "10", "5", "", "über", "true", "ab", "abc"]

    /// A value of a random type: attribute names do not fix a type (except the well-known ones).
    static func value(_ random: inout SeededGenerator) -> AttributeValue {
        switch random.below(7) {
        case 0: .number([-1.5, -0.0, 0, 3, 5, 10, 1e300, 7.25][random.below(8)])
        case 1: .string(words[random.below(words.count)])
        case 2: .string(String(repeating: "x", count: 240 + random.below(30)) + words[random.below(3)])
        case 3: .bool(random.below(2) == 0)
        case 4: .strings((0..<random.below(4)).map { _ in words[random.below(words.count)] })
        case 5: .timestamp(Timestamp(milliseconds: Int64(random.below(5)) * 1500 - 2000))
        default: .number(Double(random.below(12)))
        }
    }

    /// A value `name` may hold: `price` and `available` are well-known, with a fixed type.
    static func value(of name: String, _ random: inout SeededGenerator) -> AttributeValue {
        switch name {
        case "price": .number(Double(random.below(20)) - 2)
        case "available": .bool(random.below(3) != 0)
        default: value(&random)
        }
    }

    static func attributes(_ random: inout SeededGenerator) -> Attributes {
        var attributes: Attributes = [:]
        for name in names where random.below(3) != 0 { attributes[name] = value(of: name, &random) }
        if random.below(2) == 0 { attributes["category"] = .string(["Books/Thriller", "Garden"][random.below(2)]) }
        return attributes
    }

    static func predicate(_ random: inout SeededGenerator, depth: Int = 0) -> ItemPredicate {
        let name = (names + ["missing"])[random.below(names.count + 1)]
        switch random.below(depth < 2 ? 8 : 4) {
        case 0, 1:
            let op = ItemPredicate.ComparisonOperator.allCases[random.below(6)]
            return .compare(attribute: name, op, value(&random))
        case 2: return .oneOf(attribute: name, (0..<random.below(3)).map { _ in value(&random) })
        case 3: return random.below(2) == 0 ? .available : .category("Books")
        case 4: return .not(predicate(&random, depth: depth + 1))
        case 5: return .or((0..<random.below(3)).map { _ in predicate(&random, depth: depth + 1) })
        default: return .and((0..<random.below(3)).map { _ in predicate(&random, depth: depth + 1) })
        }
    }

    @Test(arguments: [1, 2, 3])
    func indexAnswersMatchTheScanThroughWrites(seed: UInt64) throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            var random = SeededGenerator(seed: seed)
            try db.write { w in
                for i in 0..<120 { try w.upsertItem("i\(i)", attributes: Self.attributes(&random)) }
            }
            for round in 0..<12 {
                try db.write { w in
                    for _ in 0..<(1 + random.below(20)) {
                        let id = "i\(random.below(140))"
                        switch random.below(5) {
                        case 0: try w.deleteItem(id)
                        case 1: try w.upsertItem(id, attributes: Self.attributes(&random), replace: true)
                        default:
                            let name = Self.names[random.below(Self.names.count)]
                            try w.upsertItem(id, attributes: [name: Self.value(of: name, &random)])
                        }
                    }
                }
                try db.read { r throws in
                    for _ in 0..<60 {
                        let predicate = Self.predicate(&random)
                        #expect(try r.items(matching: predicate) == r.scannedItems(matching: predicate), "round \(round): \(predicate)")
                    }
                }
                #expect(try db.checkIntegrity().isEmpty)
            }
        }
    }

    @Test func numbersAndStringsKeepTheirOrderInKeys() {
        let numbers: [Double] = [-.infinity, -1e300, -2.5, -1, -0.0, 0, 1e-300, 1, 2.5, 1e300, .infinity]
        for (a, b) in zip(numbers, numbers.dropFirst()) {
            let ka = AttributeIndex.orderedBytes(a), kb = AttributeIndex.orderedBytes(b)
            #expect(a == b ? ka == kb : ka.lexicographicallyPrecedes(kb), "\(a) < \(b)")
        }
        let times: [Int64] = [.min, -1, 0, 1, .max]
        for (a, b) in zip(times, times.dropFirst()) {
            #expect(AttributeIndex.orderedBytes(milliseconds: a).lexicographicallyPrecedes(AttributeIndex.orderedBytes(milliseconds: b)))
        }
        #expect(AttributeIndex.textBytes("é") == AttributeIndex.textBytes("e\u{301}"))
    }

    @Test func attributeRemovalAndDeletionLeaveNoEntries() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                try w.upsertItem("a", attributes: ["price": .number(5), "color": .strings(["red", "red", "blue"])])
                try w.upsertItem("b", attributes: ["price": .number(7)])
            }
            let cheap = ItemPredicate.compare(attribute: "price", .less, .number(6))
            try db.read { r throws in #expect(try r.items(matching: cheap).count == 1) }
            try db.write { w in
                try w.upsertItem("a", attributes: ["color": .strings(["blue"])], replace: true)
                try w.deleteItem("b")
            }
            try db.read { r throws in
                #expect(try r.items(matching: cheap).count == 0)
                #expect(try r.items(matching: .compare(attribute: "price", .notEqual, .number(5))).count == 1)
                #expect(try r.schema.itemAttributes?.count(in: r.txn) == 1)
            }
            #expect(try db.checkIntegrity().isEmpty)
        }
    }

    @Test func theCheckReportsDanglingAndMissingEntries() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                try w.upsertItem("a", attributes: ["price": .number(5)])
                try w.upsertItem("b", attributes: ["price": .number(9)])
            }
            try db.environment.write { txn in
                let index = try #require(db.schema.itemAttributes)
                let key = try #require(AttributeIndex.keys("price", .number(5)).first)
                try index.delete(key, value: 0, in: &txn)
                try index.put(key, 1, in: &txn)
                try index.put(key, 77, in: &txn)
            }
            let problems = try db.checkIntegrity().map(\.description)
            #expect(problems.contains { $0.hasPrefix("item_attributes:") && $0.contains("item #77, which does not exist") })
            #expect(problems.contains { $0.contains("lists item 'b' under a value it no longer has") })
            #expect(problems.contains { $0.contains("item 'a' has 0 entries; its attributes give 1") })
        }
    }

    @Test func aVersionOneDatabaseGetsItsIndexWhenOpened() throws {
        try TemporaryDirectory.with { folder in
            let path = folder.appending("db")
            var random = SeededGenerator(seed: 11)
            do {
                let db = try folder.createDatabase()
                try db.write { w in
                    for i in 0..<50 { try w.upsertItem("i\(i)", attributes: Self.attributes(&random)) }
                }
                // Back to what a version-1 build wrote: no index, no marker, format 1.
                try db.environment.write { txn in
                    try #require(db.schema.itemAttributes).removeAll(in: &txn)
                    try db.schema.meta.delete(AttributeIndex.metaKey, in: &txn)
                    var format = BinaryWriter()
                    format.write(UInt32(1))
                    try db.schema.meta.put("format", RecDatabase.magic + format.bytes, in: &txn)
                }
                // Without the marker a reader falls back to the records.
                try db.read { r throws in
                    let predicate = ItemPredicate.compare(attribute: "price", .greater, .number(3))
                    #expect(try r.items(matching: predicate) == r.scannedItems(matching: predicate))
                }
            }
            let db = try RecDatabase.open(at: path)
            try db.read { r throws in
                #expect(try r.schema.meta.get(AttributeIndex.metaKey, in: r.txn) != nil)
                let format = try #require(try r.schema.meta.get("format", in: r.txn))
                #expect(format.suffix(4) == [0, 0, 0, UInt8(RecDatabase.formatVersion)])
                for _ in 0..<40 {
                    let predicate = Self.predicate(&random)
                    #expect(try r.items(matching: predicate) == r.scannedItems(matching: predicate), "\(predicate)")
                }
            }
            #expect(try db.checkIntegrity().isEmpty)
        }
    }
}
