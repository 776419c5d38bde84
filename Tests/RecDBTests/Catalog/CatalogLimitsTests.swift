import Foundation
import Testing

@testable import RecDB

/// Strings that become LMDB keys are checked against ``CatalogLimits`` on every path, reads included: an empty or
/// over-long id, tag or category is `invalid_argument` naming the field, its length and the limit, never LMDB's
/// `MDB_BAD_VALSIZE`.
@Suite("Catalog: key limits")
struct CatalogLimitsTests {
    static let long = String(repeating: "é", count: 150)  // 300 bytes

    static func expectLimit(
        _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        let error = #expect(throws: RecDBError.self, sourceLocation: sourceLocation) { try body() }
        #expect(error?.code == .invalidArgument, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(
            error?.message.contains(fragment) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.lmdbStatus == nil, sourceLocation: sourceLocation)
    }

    @Test func writesOutsideTheLimitsAreInvalidArgument() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let now = Timestamp.now
            Self.expectLimit("item id is empty") { try db.write { w in _ = try w.upsertItem("", attributes: [:]) } }
            Self.expectLimit("user id has 300 bytes; the limit is 255") { try db.write { w in _ = try w.upsertUser(Self.long) } }
            Self.expectLimit("user id is empty") {
                try db.write { w in _ = try w.addEvent(EventInput(user: "", item: "i", type: "view", timestamp: now)) }
            }
            Self.expectLimit("item id has 300 bytes") {
                try db.write { w in _ = try w.addEvent(EventInput(user: "u", item: Self.long, type: "view", timestamp: now)) }
            }
            Self.expectLimit("session id has 300 bytes") {
                try db.write { w in
                    _ = try w.addEvent(EventInput(user: "u", item: "i", type: "view", timestamp: now, session: Self.long))
                }
            }
            Self.expectLimit("item id contains a NUL byte") { try db.write { w in _ = try w.upsertItem("a\0b", attributes: [:]) } }
            Self.expectLimit("tag is empty") { try db.write { w in _ = try w.upsertItem("i", attributes: ["tags": .strings([""])]) } }
            Self.expectLimit("tag has 300 bytes") {
                try db.write { w in _ = try w.upsertItem("i", attributes: ["tags": .strings(["ok", Self.long])]) }
            }
            Self.expectLimit("category has 300 bytes") {
                try db.write { w in _ = try w.upsertItem("i", attributes: ["category": .string(Self.long)]) }
            }
            Self.expectLimit("attribute name is empty") { try db.write { w in _ = try w.upsertUser("u", attributes: ["": .bool(true)]) } }
            Self.expectLimit("event type name has 65 bytes; the limit is 64") {
                try db.defineEventType(EventType(name: String(repeating: "t", count: 65), weight: 1))
            }
            Self.expectLimit("event type name is empty") { try db.defineEventType(EventType(name: "", weight: 1)) }
            #expect(try CatalogCounts.of(db).items == 0)
            #expect(try CatalogCounts.of(db).users == 0)
            try expectConsistent(db)

            // The limits themselves are accepted.
            let longest = String(repeating: "x", count: CatalogLimits.maxIDBytes)
            try db.write { w in
                _ = try w.addEvent(EventInput(user: longest, item: longest, type: "view", timestamp: now, session: longest))
                _ = try w.upsertItem(longest, attributes: ["tags": .strings([longest]), "category": .string(longest)])
            }
            #expect(try db.read { r in try r.items(withTag: longest) }.count == 1)
            try expectConsistent(db)
        }
    }

    @Test func lookupsOutsideTheLimitsAreInvalidArgument() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            Self.expectLimit("item id is empty") { _ = try db.read { r in try r.item("") } }
            Self.expectLimit("user id has 300 bytes") { _ = try db.read { r in try r.userID(for: Self.long) } }
            Self.expectLimit("session id is empty") { _ = try db.read { r in try r.sessionID(for: "") } }
            Self.expectLimit("tag is empty") { _ = try db.read { r in try r.items(withTag: "") } }
            Self.expectLimit("category is empty") { _ = try db.read { r in try r.items(inCategory: "") } }
            Self.expectLimit("item id is empty") { try db.write { w in _ = try w.deleteItem("") } }
            #expect(try db.read { r in try r.item("absent") } == nil)
        }
    }

    @Test func excerptCutsAtACharacterBoundary() {
        #expect("short".excerpt(10) == "short")
        #expect(String(repeating: "a", count: 300).excerpt(200) == String(repeating: "a", count: 200) + "… (300 bytes)")
        // 'é' is two bytes: a cut after 3 bytes keeps one whole 'é' and the 'a'.
        #expect("aééé".excerpt(4) == "aé… (7 bytes)")
    }
}
