import Testing

@testable import RecDB

@Suite("History and sessions")
struct HistoryTests {
    @Test func historyIsInTimeOrderWhenEventsArriveOutOfOrder() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try db.write { w in
                for minute: Int64 in [50, 10, 30] { try w.addEvent(EventInput("u", "view", "i\(minute)", at: minute)) }
            }
            try db.write { w in
                for minute: Int64 in [20, 40, 60] { try w.addEvent(EventInput("u", "view", "i\(minute)", at: minute)) }
                // Two events at the same moment keep the order they were written in.
                try w.addEvent(EventInput("u", "cart", "i60", at: 60))
                try w.addEvent(EventInput("u", "view", "early", at: -5))
            }
            try db.read { r throws in
                let history = try r.history(ofUser: "u")
                #expect(history.map(\.timestamp) == [-5, 10, 20, 30, 40, 50, 60, 60].map(Clock.minute))
                let items = try history.map { try r.externalItemID($0.itemID) }
                #expect(items == ["early", "i10", "i20", "i30", "i40", "i50", "i60", "i60"])
                #expect(history[6].sequence < history[7].sequence)

                let newest = try r.history(ofUser: "u", limit: 3, newestFirst: true)
                #expect(newest == Array(history.reversed().prefix(3)))
                #expect(try r.history(ofUser: "u", limit: 2) == Array(history.prefix(2)))

                let itemID = try #require(try r.itemID(for: "i60"))
                #expect(try r.events(ofItemID: itemID).map(\.sequence) == [history[6].sequence, history[7].sequence])
                #expect(try r.eventCount(ofItemID: itemID) == 2)
            }
            expectRecDBError(.notFound) { _ = try db.read { r throws in try r.history(ofUser: "nobody") } }
        }
    }

    @Test func sessionsSplitAtGapAndGroupExplicitIDs() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            #expect(db.sessionGap == 30 * 60_000)
            try db.write { w in
                // Session-less: 0, 10, 40 (a gap of exactly 30 min stays together), 71 (31 min: a new visit).
                try w.addEvent(EventInput("u", "view", "a", at: 71))
                try w.addEvent(EventInput("u", "view", "b", at: 0))
                try w.addEvent(EventInput("u", "view", "c", at: 40))
                try w.addEvent(EventInput("u", "view", "d", at: 10))
                // One explicit session, 75 minutes long: still one session.
                try w.addEvent(EventInput("u", "view", "e", at: 80, session: "s1"))
                try w.addEvent(EventInput("u", "cart", "f", at: 5, session: "s1"))
                try w.addEvent(EventInput("other", "view", "a", at: 0, session: "s2"))
            }
            try db.read { r throws in
                let user = try #require(try r.userID(for: "u"))
                let sessions = try r.sessions(ofUserID: user)
                #expect(sessions.map(\.id) == [nil, "s1", nil])
                #expect(
                    sessions.map { $0.entries.map(\.timestamp) }
                        == [[0, 10, 40], [5, 80], [71]].map { $0.map(Clock.minute) }
                )
                #expect(sessions.allSatisfy { $0.userID == user })
                #expect(sessions[1].start == Clock.minute(5))
                #expect(sessions[1].end == Clock.minute(80))

                let s1 = try #require(try r.session("s1"))
                #expect(s1.userID == user)
                #expect(s1.entries.map(\.timestamp) == [Clock.minute(5), Clock.minute(80)])
                #expect(try r.session("missing") == nil)

                #expect(try r.explicitSessionCount == 2)
                // s1, s2, and the two session-less visits of "u".
                #expect(try r.sessionCount() == 4)
            }
        }
    }

    @Test func sessionGapComesFromTheDatabase() throws {
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.sessionGap = 5 * 60_000
            do {
                let db = try folder.createDatabase(options: options)
                try db.write { w in
                    for minute: Int64 in [0, 4, 10] { try w.addEvent(EventInput("u", "view", "i", at: minute)) }
                }
            }
            // Reopened with default options, the stored 5-minute gap still applies.
            let db = try RecDatabase.open(at: folder.appending("db"))
            #expect(db.sessionGap == 5 * 60_000)
            let sessions = try db.read { r throws in try r.sessions(ofUserID: try #require(try r.userID(for: "u"))) }
            #expect(sessions.map(\.entries.count) == [2, 1])
        }
    }
}
