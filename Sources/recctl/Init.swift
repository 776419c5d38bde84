import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a new, empty database.")

        @OptionGroup var options: DatabaseOptions

        @Option(name: .long, help: "Minutes of inactivity that end a session when events carry no session id.")
        var sessionGap: Int = 30

        @Option(name: .customLong("event-type"), help: "Define or reweight an event type: NAME=WEIGHT (repeatable).")
        var eventTypes: [String] = []

        @Flag(
            name: .customLong("group-access"),
            help: "Let the folder's group read and write the database (files 0660, folder 0770); by default only its owner may (0600, 0700).")
        var groupAccess = false

        func validate() throws {
            guard sessionGap > 0 else { throw ValidationError("--session-gap must be positive") }
            _ = try eventTypes.map(parseEventType)
        }

        func run() throws {
            try running(json: options.json) {
                let path = try options.path
                let existed = FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("data.mdb"))
                var dbOptions = RecDatabase.Options()
                dbOptions.sessionGap = Int64(sessionGap) * 60_000
                if groupAccess { dbOptions.storage.access = .group }
                let db = try options.open(create: true, options: dbOptions)
                for spec in eventTypes { try db.defineEventType(try parseEventType(spec)) }
                if options.json {
                    printJSON(["ok": true, "path": db.path, "created": !existed, "format_version": Int(RecDatabase.formatVersion)])
                } else {
                    print(existed ? "Database already exists at \(db.path); left as it was." : "Created a RecDB database at \(db.path).")
                }
            }
        }
    }
}

/// Parses `NAME=WEIGHT` or `NAME=value` (the event's own value is its weight).
func parseEventType(_ spec: String) throws -> EventType {
    let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
    guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("event type '\(spec)' is not NAME=WEIGHT") }
    if parts[1] == "value" { return EventType(name: parts[0], weight: 1, usesValue: true) }
    guard let weight = Double(parts[1]), weight.isFinite else {
        throw ValidationError("event type '\(spec)': the weight must be a number or 'value'")
    }
    return EventType(name: parts[0], weight: weight)
}
