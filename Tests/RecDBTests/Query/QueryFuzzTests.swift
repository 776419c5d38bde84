import Foundation
import RecNeural
import Testing

@testable import RecDB

/// 10,000 random and mutated queries: each one returns a result or throws a RecDBError, and the whole run is quick.
@Suite("Query fuzzing")
struct QueryFuzzTests {
    /// A seeded generator (SplitMix64) so that a failure can be replayed.
    typealias Generator = SeededGenerator

    static let valid = [
        "RECOMMEND 10 ITEMS FOR USER $u USING als WHERE category = 'Books' AND price < 20 EXCLUDE SEEN DIVERSIFY 0.3 EXPLAIN",
        "RECOMMEND 5 ITEMS SIMILAR TO ITEM 't7' USING content",
        "RECOMMEND 5 ITEMS FOR SESSION 's9'   -- next item in a visit",
        "RECOMMEND 10 ITEMS FOR ITEMS ('c1','c2') EXCLUDE ('c3') OFFSET 2",
        "RECOMMEND 4 ITEMS MATCHING 'murder mystery' WHERE NOT (tags CONTAINS 'odd' OR price >= 15)",
        "RECOMMEND 3 USERS FOR ITEM 'g7' USING als",
        "RECOMMEND 6 ITEMS FOR USER u2 USING BLEND(als 0.7, content 0.3) DIVERSIFY BY CATEGORY 2 INCLUDE SEEN",
        "RECOMMEND 6 ITEMS FOR USER u2 WHERE price IN (5, 6, 7) AND category UNDER 'Books' AND AVAILABLE",
        "UPSERT ITEM 'z7' SET title = 'Gone Girl', category = 'Books/Thriller', price = 9.99, tags = ['bestseller']",
        "UPSERT USER $u SET age = 31, vip = true",
        "EVENT purchase USER 'u4' ITEM 'z7' VALUE 1 SESSION 's9' AT '2026-11-26T10:00:00Z'",
        "DELETE ITEM 'z8'",
        "DELETE USER 'nobody'",
        "SHOW STATS", "SHOW MODELS", "SHOW USER 'u4' HISTORY LIMIT 20", "SHOW ITEM t3",
        "REFRESH MODEL als", "EVALUATE MODEL als K 10 SPLIT temporal",
    ]

    static let vocabulary = [
        "RECOMMEND", "ITEMS", "USERS", "FOR", "USER", "SESSION", "SIMILAR", "TO", "ITEM", "MATCHING", "USING", "BLEND",
        "WHERE", "AND", "OR", "NOT", "IN", "CONTAINS", "UNDER", "AVAILABLE", "EXCLUDE", "INCLUDE", "SEEN", "DIVERSIFY",
        "BY", "CATEGORY", "OFFSET", "EXPLAIN", "UPSERT", "SET", "DELETE", "EVENT", "VALUE", "AT", "TEXT", "SHOW",
        "STATS", "MODELS", "HISTORY", "LIMIT", "REFRESH", "MODEL", "EVALUATE", "K", "SPLIT", "(", ")", ",", "[", "]",
        "=", "!=", "<", "<=", ">", ">=", ";", "$u", "$missing", "'x'", "''", "'", "\"", "--", "-", "0", "-1", "1e999",
        "99999999999999999999", "0.5", "NaN", "true", "TIMESTAMP", "'2026-01-01'", "price", "tags", "category", "$",
        "10000", "10001", "\u{0}", "é", "😀", "\u{301}", "\n",
    ]

    static func mutate(_ query: String, _ rng: inout Generator) -> String {
        var tokens = query.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var characters = Array(query)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0 where !tokens.isEmpty:
            tokens.remove(at: Int.random(in: 0..<tokens.count, using: &rng))
            return tokens.joined(separator: " ")
        case 1:
            tokens.insert(
                vocabulary.randomElement(using: &rng) ?? "", at: Int.random(in: 0...tokens.count, using: &rng))
            return tokens.joined(separator: " ")
        case 2 where tokens.count > 1:
            let a = Int.random(in: 0..<tokens.count, using: &rng)
            let b = Int.random(in: 0..<tokens.count, using: &rng)
            tokens.swapAt(a, b)
            return tokens.joined(separator: " ")
        case 3 where !characters.isEmpty:
            characters.remove(at: Int.random(in: 0..<characters.count, using: &rng))
            return String(characters)
        case 4:
            let scalar = Unicode.Scalar(UInt32.random(in: 0..<0x3_0000, using: &rng)) ?? "?"
            characters.insert(Character(scalar), at: Int.random(in: 0...characters.count, using: &rng))
            return String(characters)
        case 5:
            let n = Int.random(in: 1...200, using: &rng)
            return "RECOMMEND 3 ITEMS FOR USER u1 WHERE " + String(repeating: "(", count: n) + "price < 9"
                + String(repeating: ")", count: Int.random(in: 0...n, using: &rng))
        case 6:
            let n = Int.random(in: 1...300, using: &rng)
            return "RECOMMEND 3 ITEMS FOR USER u1 WHERE " + String(repeating: "NOT ", count: n) + "AVAILABLE"
        case 7:
            let huge = ["1e308", "1e309", "-1e999", "18446744073709551616", "0.0000001", "10000", "4.5"]
            tokens[Int.random(in: 0..<tokens.count, using: &rng)] = huge.randomElement(using: &rng) ?? "1"
            return tokens.joined(separator: " ")
        case 8:
            let count = Int.random(in: 1...30, using: &rng)
            return (0..<count).map { _ in vocabulary.randomElement(using: &rng) ?? "" }.joined(separator: " ")
        default:
            let count = Int.random(in: 0...80, using: &rng)
            return String((0..<count).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0...127, using: &rng))) })
        }
    }

    @Test func randomAndMutatedQueriesNeverCrash() throws {
        try RecommendTests.with { db in
            var rng = Generator(seed: 20_261_126)
            let started = Date()
            var parsed = 0
            var executed = 0
            for round in 0..<10_000 {
                var query = Self.valid.randomElement(using: &rng) ?? ""
                for _ in 0..<Int.random(in: 0...3, using: &rng) { query = Self.mutate(query, &rng) }
                let parameters: [String: QueryValue] =
                    round % 3 == 0 ? ["u": "u\(round % 30)"] : ["u": .number(Double(round))]
                do {
                    let statement = try db.prepare(query, parameters: parameters)
                    parsed += 1
                    // Admin statements train models: parsing them is enough here.
                    guard statement.kind != .admin else { continue }
                    _ = try db.execute(statement).jsonText
                    executed += 1
                } catch let error as RecDBError {
                    if error.code == .syntax { #expect(error.position != nil, "\(query): \(error)") }
                } catch {
                    Issue.record("\(query) threw a non-RecDB error: \(error)")
                }
            }
            print("query fuzz: parsed \(parsed), executed \(executed) of 10000")
            #expect(parsed > 100 && executed > 50, "parsed \(parsed), executed \(executed)")
            #expect(Date().timeIntervalSince(started) < 60)
        }
    }
}
