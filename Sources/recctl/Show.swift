import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an item's attributes, or a user's attributes and recent history.")

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "item or user")
        var kind: String

        @Argument(help: "The item's or user's id.")
        var id: String

        @Option(help: "How many history entries to show, newest first.")
        var limit: Int = 20

        func validate() throws {
            guard ["item", "user"].contains(kind) else { throw ValidationError("show what? 'item' or 'user', not '\(kind)'") }
            guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
        }

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                try db.read { r in
                    if kind == "item" {
                        guard let item = try r.item(id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
                        let events = try r.eventCount(ofItemID: item.internalID)
                        if options.json {
                            printJSON([
                                "id": item.id, "internal_id": Int(item.internalID), "events": events,
                                "attributes": item.attributes.mapValues(\.jsonObject),
                            ])
                        } else {
                            print("Item \(item.id) (#\(item.internalID)), \(formatCount(events)) events")
                            printAttributes(item.attributes)
                        }
                        return
                    }
                    guard let user = try r.user(id) else { throw RecDBError(.notFound, "unknown user '\(id)'") }
                    let total = try r.history(ofUserID: user.internalID).count
                    let entries = try r.history(ofUserID: user.internalID, limit: limit, newestFirst: true)
                    // Explicit session ids by internal id, looked up once for the whole history.
                    var sessionNames: [UInt32: String] = [:]
                    if entries.contains(where: { $0.sessionID != 0 }) {
                        for session in try r.sessions(ofUserID: user.internalID) {
                            if let id = session.id, let first = session.entries.first { sessionNames[first.sessionID] = id }
                        }
                    }
                    var rows: [[String: Any]] = []
                    for entry in entries {
                        let event = try r.event(sequence: entry.sequence)
                        let item = try r.item(internalID: entry.itemID)
                        var row: [String: Any] = [
                            "time": entry.timestamp.description, "type": event?.type ?? "?", "value": event?.value ?? 0,
                            "item": item?.id ?? "#\(entry.itemID)",
                        ]
                        if let title = item?.title { row["title"] = title }
                        if entry.sessionID != 0, let session = sessionNames[entry.sessionID] { row["session"] = session }
                        rows.append(row)
                    }
                    if options.json {
                        printJSON([
                            "id": user.id, "internal_id": Int(user.internalID), "events": total,
                            "attributes": user.attributes.mapValues(\.jsonObject), "history": rows,
                        ])
                        return
                    }
                    print("User \(user.id) (#\(user.internalID)), \(formatCount(total)) events")
                    printAttributes(user.attributes)
                    if !rows.isEmpty { print("Recent history (newest first):") }
                    let valueTypes = Set(try db.eventTypes.filter(\.usesValue).map(\.name))
                    for row in rows {
                        var kind = String(describing: row["type"]!)
                        if let value = row["value"] as? Double, value != 1 || valueTypes.contains(kind) { kind += "=\(AttributeValue.number(value))" }
                        var line = "  \(row["time"]!)  \(kind.padding(toLength: 12, withPad: " ", startingAt: 0)) \(row["item"]!)"
                        if let title = row["title"] { line += "  \(title)" }
                        if let session = row["session"] { line += "  [session \(session)]" }
                        print(line)
                    }
                }
            }
        }

        private func printAttributes(_ attributes: Attributes) {
            for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
                print("  \(name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(value)")
            }
        }
    }
}
