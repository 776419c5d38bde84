import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count users, items, events by type and sessions.")

        @OptionGroup var options: DatabaseOptions

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let stats = try db.read { r in
                    (
                        users: try r.userCount, items: try r.itemCount, events: try r.eventCount,
                        byType: try r.eventCountsByType(), sessions: try r.sessionCount(),
                        explicitSessions: try r.explicitSessionCount, categories: try r.categories().count
                    )
                }
                let fileBytes = db.environment.fileSize, usedBytes = db.environment.usedBytes
                if options.json {
                    printJSON([
                        "users": stats.users, "items": stats.items, "events": stats.events, "events_by_type": stats.byType,
                        "sessions": stats.sessions, "explicit_sessions": stats.explicitSessions,
                        "categories": stats.categories, "db_bytes": fileBytes, "used_bytes": usedBytes,
                        "path": db.path,
                    ])
                    return
                }
                print("Database   \(db.path)")
                print("Users      \(formatCount(stats.users))")
                print("Items      \(formatCount(stats.items))")
                print("Events     \(formatCount(stats.events))")
                for (type, count) in stats.byType.sorted(by: { $0.value > $1.value }) {
                    print("  \(type.padding(toLength: 10, withPad: " ", startingAt: 0)) \(formatCount(count))")
                }
                print("Sessions   \(formatCount(stats.sessions)) (\(formatCount(stats.explicitSessions)) with explicit ids)")
                print("Categories \(formatCount(stats.categories)) (counting every path prefix)")
                print("Size       \(formatBytes(fileBytes)) on disk, \(formatBytes(usedBytes)) in use")
            }
        }
    }
}
