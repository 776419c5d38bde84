import Testing

@testable import RecDB

@Suite("Catalog writes")
struct CatalogWriteTests {
    @Test func throwInsideWriteAbortsEverything() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                try w.upsertItem("a", attributes: ["category": .string("Books")])
                try w.addEvent(EventInput("u0", "view", "a", at: 0))
            }
            let before = try CatalogCounts.of(db)

            #expect(throws: DeliberateFailure.self) {
                try db.write { w in
                    try w.upsertItem(
                        "b",
                        attributes: ["category": .string("Books/Thriller"), "tags": .strings(["dark"])]
                    )
                    try w.addEvent(EventInput("u9", "purchase", "b", at: 1, session: "s9"))
                    try w.addEvent(EventInput("u0", "view", "a", at: 2))
                    #expect(try w.item("b") != nil)
                    throw DeliberateFailure()
                }
            }

            #expect(try CatalogCounts.of(db) == before)
            try db.read { r throws in
                #expect(try r.item("b") == nil)
                #expect(try r.user("u9") == nil)
                #expect(try r.sessionID(for: "s9") == nil)
                #expect(try r.items(inCategory: "Books/Thriller") == [])
                #expect(try r.items(withTag: "dark") == [])
                #expect(try r.history(ofUser: "u0").count == 1)
            }
            // The id counters rolled back too: the next new item and user take the ids "b" and "u9" would have had.
            let (item, user) = try db.write { w in (try w.upsertItem("c", attributes: [:]), try w.upsertUser("u1")) }
            #expect(item == 1)
            #expect(user == 1)
        }
    }

    /// A result page reads only an item's id and title; they match the whole record's, whatever else it holds.
    @Test func itemHeadingMatchesTheWholeRecord() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let items: [(String, Attributes)] = [
                ("a", ["title": .string("Gone Girl"), "price": .number(9.5)]),
                ("b", ["available": .bool(true), "tags": .strings(["x", "y"]), "title": .string("Ünïcode ✓"),
                       "created_at": .timestamp(Timestamp(milliseconds: 5))]),
                ("c", ["tags": .strings([]), "price": .number(1)]),
                ("d", ["subtitle": .string("not the title"), "titles": .strings(["x"])]),
                ("e", [:]),
            ]
            try db.write { w in for (id, attributes) in items { try w.upsertItem(id, attributes: attributes) } }
            try db.read { r throws in
                for (id, _) in items {
                    let item = try #require(try r.item(id))
                    let heading = try #require(try r.itemHeading(internalID: item.internalID))
                    #expect(heading.id == item.id)
                    #expect(heading.title == item.title)
                }
                #expect(try r.itemHeading(internalID: 99) == nil)
            }
        }
    }

    static let invalidItemAttributes: [Attributes] = [
        ["price": .string("9.99")],
        ["tags": .string("dark,nordic")],
        ["price": .number(.nan)],
        ["rating": .number(.infinity)],
        ["available": .string("yes")],
        ["created_at": .number(1)],
        ["category": .string(" / / ")],
        ["": .string("empty name")],
    ]

    @Test(arguments: invalidItemAttributes)
    func invalidItemAttributesAreRejected(_ attributes: Attributes) throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let original: Attributes = ["title": .string("Gone Girl"), "price": .number(9.5)]
            try db.write { w in _ = try w.upsertItem("i", attributes: original) }

            expectRecDBError(.invalidArgument) {
                try db.write { w in _ = try w.upsertItem("i", attributes: attributes) }
            }
            expectRecDBError(.invalidArgument) {
                try db.write { w in _ = try w.upsertItem("new", attributes: attributes) }
            }

            try db.read { r throws in
                #expect(try r.item("i")?.attributes == original)
                #expect(try r.item("new") == nil)
                #expect(try r.itemCount == 1)
            }
        }
    }

    @Test func userAttributesMustBeFinite() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            expectRecDBError(.invalidArgument) {
                try db.write { w in _ = try w.upsertUser("u", attributes: ["score": .number(.nan)]) }
            }
            #expect(try db.read { r throws in try r.user("u") } == nil)
        }
    }

    @Test func idsMustHaveOneTo255Bytes() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            expectRecDBError(.invalidArgument) { try db.write { w in _ = try w.upsertItem("", attributes: [:]) } }
            expectRecDBError(.invalidArgument) {
                try db.write { w in _ = try w.upsertUser(String(repeating: "x", count: 256)) }
            }
            try db.write { w in _ = try w.upsertUser(String(repeating: "x", count: 255)) }
            #expect(try CatalogCounts.of(db).users == 1)
        }
    }

    @Test func upsertMergesOrReplacesAttributes() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let first = try db.write { w in
                try w.upsertItem("i", attributes: ["title": .string("Gone Girl"), "price": .number(9.5)])
            }
            let second = try db.write { w in try w.upsertItem("i", attributes: ["price": .number(7)]) }
            #expect(first == second)
            #expect(
                try db.read { r throws in try r.item("i")?.attributes }
                    == ["title": .string("Gone Girl"), "price": .number(7)]
            )
            try db.write { w in _ = try w.upsertItem("i", attributes: ["brand": .string("Orion")], replace: true) }
            #expect(try db.read { r throws in try r.item("i")?.attributes } == ["brand": .string("Orion")])
        }
    }

    @Test func addEventWithUnknownTypeThrows() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            expectRecDBError(.invalidArgument) {
                try db.write { w in _ = try w.addEvent(EventInput("u", "teleport", "i", at: 0)) }
            }
            #expect(
                try CatalogCounts.of(db)
                    == CatalogCounts(items: 0, users: 0, events: 0, explicitSessions: 0, eventsByType: [:])
            )
        }
    }

    @Test func addEventRejectsNonFiniteValuesAndMissingEntities() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            expectRecDBError(.invalidArgument) {
                try db.write { w in
                    _ = try w.addEvent(
                        EventInput(user: "u", item: "i", type: "rating", value: .nan, timestamp: Clock.start)
                    )
                }
            }
            expectRecDBError(.notFound) {
                try db.write { w in _ = try w.addEvent(EventInput("u", "view", "i", at: 0), createMissing: false) }
            }
            #expect(try CatalogCounts.of(db).events == 0)
        }
    }

    @Test func definedEventTypeCanBeRecorded() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.defineEventType(EventType(name: "share", weight: 4))
            #expect(try db.eventTypes.contains(EventType(name: "share", weight: 4)))
            try db.write { w in _ = try w.addEvent(EventInput("u", "share", "i", at: 0)) }
            #expect(try CatalogCounts.of(db).eventsByType == ["share": 1])
        }
    }

    /// `DEFINE EVENT TYPE` is a write statement (what a replicated cluster publishes): the types it adds or
    /// reweights are seen by the statements after it in the same transaction and by every later one.
    @Test func defineEventTypeStatementAddsAndReweightsInTheWritersTransaction() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let statement = try db.prepare("DEFINE EVENT TYPE wishlist WEIGHT 2.5")
            #expect(statement.kind == .write && statement.verb == "define_event_type")
            try db.write { w in
                let answer = try db.execute(statement, in: &w)
                #expect(answer == .object(["name": .string("wishlist"), "weight": .number(2.5)]))
                _ = try db.execute(try db.prepare("EVENT wishlist USER 'u' ITEM 'i'"), in: &w)
                _ = try db.execute(try db.prepare("DEFINE EVENT TYPE stars WEIGHT VALUE"), in: &w)
            }
            #expect(try db.eventTypes.contains(EventType(name: "wishlist", weight: 2.5)))
            #expect(try db.eventTypes.contains(EventType(name: "stars", weight: 1, usesValue: true)))
            _ = try db.query("DEFINE EVENT TYPE wishlist WEIGHT 3")
            #expect(try db.eventTypes.filter { $0.name == "wishlist" } == [EventType(name: "wishlist", weight: 3)])
            #expect(try CatalogCounts.of(db).eventsByType["wishlist"] == 1)
            expectRecDBError(.syntax) { _ = try db.prepare("DEFINE EVENT TYPE wishlist") }
            expectRecDBError(.syntax) { _ = try db.prepare("DEFINE EVENT wishlist WEIGHT 2") }
        }
    }

    @Test func eventCountsByTypeAccumulateAcrossWrites() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                for minute in 0..<3 { try w.addEvent(EventInput("u1", "view", "i\(minute)", at: Int64(minute))) }
                try w.addEvent(EventInput("u1", "purchase", "i0", at: 5))
            }
            try db.write { w in
                try w.addEvent(EventInput("u2", "purchase", "i1", at: 6))
                try w.addEvent(EventInput(user: "u2", item: "i1", type: "rating", value: 4, timestamp: Clock.minute(7)))
            }
            try db.read { r throws in
                #expect(try r.eventCountsByType() == ["view": 3, "purchase": 2, "rating": 1])
                #expect(try r.eventCount == 6)
                #expect(try r.event(sequence: 6)?.value == 4)
                #expect(try r.event(sequence: 6)?.type == "rating")
            }
        }
    }
}
