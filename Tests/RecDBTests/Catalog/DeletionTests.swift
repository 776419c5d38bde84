import Testing

@testable import RecDB

@Suite("Deleting items and users")
struct DeletionTests {
    /// Two users and two items: u1 viewed and bought i1 and viewed i2 in session s1; u2 put i1 in the cart in s2.
    static func makeCatalog(in folder: TemporaryDirectory) throws -> RecDatabase {
        let db = try folder.createDatabase()
        try db.write { w in
            try w.upsertItem("i1", attributes: ["category": .string("Books/Thriller"), "tags": .strings(["dark"])])
            try w.upsertItem("i2", attributes: ["category": .string("Books/Poetry")])
            try w.addEvent(EventInput("u1", "view", "i1", at: 0, session: "s1"))
            try w.addEvent(EventInput("u1", "purchase", "i1", at: 1))
            try w.addEvent(EventInput("u1", "view", "i2", at: 2, session: "s1"))
            try w.addEvent(EventInput("u2", "cart", "i1", at: 3, session: "s2"))
        }
        #expect(
            try CatalogCounts.of(db)
                == CatalogCounts(
                    items: 2,
                    users: 2,
                    events: 4,
                    explicitSessions: 2,
                    eventsByType: ["view": 2, "purchase": 1, "cart": 1]
                )
        )
        return db
    }

    static func allEvents(_ db: RecDatabase) throws -> [Event] {
        try db.read { r throws in
            var events: [Event] = []
            try r.forEachEvent { event in
                events.append(event)
                return .next
            }
            return events
        }
    }

    @Test func deleteItemRemovesEveryTrace() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeCatalog(in: folder)
            let (i1, i2, u1, u2) = try db.read { r throws in
                (try r.itemID(for: "i1")!, try r.itemID(for: "i2")!, try r.userID(for: "u1")!, try r.userID(for: "u2")!)
            }
            let removedSequences = try Self.allEvents(db).filter { $0.itemID == i1 }.map(\.sequence)
            #expect(removedSequences.count == 3)

            #expect(try db.write { w in try w.deleteItem("i1") })
            #expect(try db.write { w in try w.deleteItem("i1") } == false)

            #expect(
                try CatalogCounts.of(db)
                    == CatalogCounts(items: 1, users: 2, events: 1, explicitSessions: 1, eventsByType: ["view": 1])
            )
            try db.read { r throws in
                #expect(try r.itemID(for: "i1") == nil)
                #expect(try r.item(internalID: i1) == nil)
                #expect(try r.item("i2") != nil)
                #expect(try r.items(inCategory: "Books") == [i2])
                #expect(try r.items(inCategory: "Books/Thriller") == [])
                #expect(try r.items(withTag: "dark") == [])
                #expect(try r.categories().map(\.path) == ["Books", "Books/Poetry"])
                #expect(try r.history(ofUserID: u1).map(\.itemID) == [i2])
                #expect(try r.history(ofUserID: u2) == [])
                #expect(try r.seenItems(ofUserID: u1) == [i2])
                #expect(try r.seenItems(ofUserID: u2) == [])
                #expect(try r.hasSeen(userID: u1, itemID: i1) == false)
                #expect(try r.events(ofItemID: i1).isEmpty)
                for sequence in removedSequences { #expect(try r.event(sequence: sequence) == nil) }
                #expect(try r.session("s1")?.entries.map(\.itemID) == [i2])
                #expect(try r.session("s2") == nil, "a session left without events goes away")
                #expect(try r.sessionID(for: "s2") == nil)
                #expect(try r.user("u2") != nil, "users stay")
            }
            #expect(try Self.allEvents(db).map(\.itemID) == [i2])
        }
    }

    @Test func deleteUserRemovesEveryTrace() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeCatalog(in: folder)
            let (i1, i2, u1, u2) = try db.read { r throws in
                (try r.itemID(for: "i1")!, try r.itemID(for: "i2")!, try r.userID(for: "u1")!, try r.userID(for: "u2")!)
            }
            let removedSequences = try Self.allEvents(db).filter { $0.userID == u1 }.map(\.sequence)
            #expect(removedSequences.count == 3)

            #expect(try db.write { w in try w.deleteUser("u1") })
            #expect(try db.write { w in try w.deleteUser("u1") } == false)

            #expect(
                try CatalogCounts.of(db)
                    == CatalogCounts(items: 2, users: 1, events: 1, explicitSessions: 1, eventsByType: ["cart": 1])
            )
            try db.read { r throws in
                #expect(try r.userID(for: "u1") == nil)
                #expect(try r.user(internalID: u1) == nil)
                #expect(try r.history(ofUserID: u1) == [])
                #expect(try r.seenItems(ofUserID: u1) == [])
                #expect(try r.events(ofItemID: i1).map(\.userID) == [u2])
                #expect(try r.events(ofItemID: i2).isEmpty)
                #expect(try r.eventCount(ofItemID: i1) == 1)
                for sequence in removedSequences { #expect(try r.event(sequence: sequence) == nil) }
                #expect(try r.session("s1") == nil)
                #expect(try r.sessionID(for: "s1") == nil)
                #expect(try r.session("s2")?.userID == u2)
                #expect(try r.history(ofUserID: u2).map(\.itemID) == [i1])
                #expect(try r.items(inCategory: "Books") == [i1, i2], "items and their postings stay")
            }
            expectRecDBError(.notFound) { _ = try db.read { r throws in try r.history(ofUser: "u1") } }
            #expect(try Self.allEvents(db).map(\.userID) == [u2])

            // A user of the same external id comes back with a new internal id: ids are never reused.
            let again = try db.write { w in try w.upsertUser("u1") }
            #expect(again != u1)
            #expect(try db.read { r throws in try r.history(ofUserID: again) } == [])
        }
    }
}
