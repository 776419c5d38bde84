import RecDB

extension TemporaryDirectory {
    /// Creates a new database in the subfolder `name`.
    func createDatabase(_ name: String = "db", options: RecDatabase.Options = .init()) throws -> RecDatabase {
        try RecDatabase.open(at: appending(name), create: true, options: options)
    }
}

/// Fixed points in time, so tests read as minutes after a start.
enum Clock {
    static let start = Timestamp(milliseconds: 1_700_000_000_000)

    static func minute(_ minutes: Int64) -> Timestamp {
        Timestamp(milliseconds: start.milliseconds + minutes * 60_000)
    }
}

/// The totals a reader reports, compared before and after an operation.
struct CatalogCounts: Equatable, CustomStringConvertible {
    var items: Int
    var users: Int
    var events: Int
    var explicitSessions: Int
    var eventsByType: [String: Int]

    static func of(_ db: RecDatabase) throws -> CatalogCounts {
        try db.read { r throws in
            CatalogCounts(
                items: try r.itemCount,
                users: try r.userCount,
                events: try r.eventCount,
                explicitSessions: try r.explicitSessionCount,
                eventsByType: try r.eventCountsByType()
            )
        }
    }

    var description: String {
        "items \(items), users \(users), events \(events), sessions \(explicitSessions), by type \(eventsByType)"
    }
}

extension EventInput {
    /// An event at `minute` minutes after ``Clock/start``.
    init(_ user: String, _ type: String, _ item: String, at minute: Int64, session: String? = nil) {
        self.init(user: user, item: item, type: type, timestamp: Clock.minute(minute), session: session)
    }
}
