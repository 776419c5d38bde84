/// A problem that ``RecDatabase/checkIntegrity(limit:)`` found.
public struct IntegrityProblem: Hashable, Sendable, CustomStringConvertible {
    /// The database (index) where the problem was found.
    public var index: String
    /// What is wrong, naming the ids or keys involved.
    public var message: String
    /// "index: message", one line.
    public var description: String { "\(index): \(message)" }
}

extension RecDatabase {
    /// Verifies the catalog's invariants on one snapshot: the id maps agree both ways, every index entry
    /// points to a live record that agrees with it (the attribute index both ways: see
    /// ``CatalogReading/checkAttributeIndex(_:)``), every event is indexed, and counters match the log.
    /// Returns at most `limit` problems (empty when the database is sound).
    public func checkIntegrity(limit: Int = 100) throws -> [IntegrityProblem] {
        try read { reader in
            var problems: [IntegrityProblem] = []
            func report(_ index: String, _ message: String) -> ScanControl {
                problems.append(IntegrityProblem(index: index, message: message))
                return problems.count >= limit ? .stop : .next
            }
            let s = reader.schema
            let txn = reader.txn

            // Id maps, both ways.
            for (kind, ids, records) in [("item", s.itemIDs, s.items), ("user", s.userIDs, s.users)] {
                try ids.scan(in: txn) { external, internalID in
                    guard let name = try records.withValue(internalID, in: txn, { raw -> String in
                        var r = BinaryReader(raw)
                        return try r.readString()
                    }) else { return report("\(kind)_ids", "'\(external)' maps to #\(internalID), which has no record") }
                    return name == external ? .next
                        : report("\(kind)_ids", "'\(external)' maps to #\(internalID), whose record says '\(name)'")
                }
                try records.scan(in: txn) { internalID, raw in
                    let record = try raw.withUnsafeBytes { try EntityRecord($0) }
                    return try ids.get(record.externalID, in: txn) == internalID ? .next
                        : report("\(kind)s", "#\(internalID) '\(record.externalID)' is missing from \(kind)_ids")
                }
            }
            // Id counters lie beyond every id in use, so no new record can take an old id.
            func nextID(_ name: String) throws -> UInt64 {
                try s.meta.get(name, in: txn).map { bytes in try bytes.withUnsafeBytes { try UInt64Codec.decode($0) } } ?? 0
            }
            var lastItem: UInt32?, lastUser: UInt32?, lastEvent: UInt64?, lastSession: UInt32?
            try s.items.scan(in: txn, reverse: true) { id, _ in lastItem = id; return .stop }
            try s.users.scan(in: txn, reverse: true) { id, _ in lastUser = id; return .stop }
            try s.events.scan(in: txn, reverse: true) { id, _ in lastEvent = id; return .stop }
            try s.sessions.scan(in: txn, reverse: true) { id, _ in lastSession = id; return .stop }
            for (name, last) in [
                ("next.item", lastItem.map(UInt64.init)), ("next.user", lastUser.map(UInt64.init)),
                ("next.event", lastEvent), ("next.session", lastSession.map(UInt64.init)),
            ] {
                if let last, try nextID(name) <= last {
                    _ = report("meta", "\(name) is \(try nextID(name)) but id \(last) is in use")
                }
            }
            if problems.count >= limit { return problems }

            // The event log against the user, item, seen and session indexes.
            var typeCounts: [UInt16: UInt64] = [:]
            try s.events.scanRaw(in: txn) { key, value in
                let sequence = key.loadBigEndianUInt64(at: 0)
                let record = try EventRecord(value)
                typeCounts[record.typeCode, default: 0] += 1
                if try !s.users.contains(record.user, in: txn) {
                    return report("events", "event \(sequence) names user #\(record.user), which does not exist")
                }
                if try !s.items.contains(record.item, in: txn) {
                    return report("events", "event \(sequence) names item #\(record.item), which does not exist")
                }
                if try !reader.hasSeen(userID: record.user, itemID: record.item) {
                    return report("seen", "user #\(record.user) lacks item #\(record.item) of event \(sequence)")
                }
                if record.session != 0, try !s.sessions.contains(record.session, in: txn) {
                    return report("events", "event \(sequence) names session #\(record.session), which does not exist")
                }
                return .next
            }
            if problems.count >= limit { return problems }
            for (code, count) in typeCounts {
                let name = try reader.eventTypes.type(code: code)?.name ?? "type#\(code)"
                let counter = try s.counters.get("events." + name, in: txn) ?? 0
                if counter != count {
                    _ = report("counters", "events.\(name) says \(counter), the log holds \(count)")
                }
            }
            var indexed = 0
            try s.userEvents.scanRaw(in: txn) { key, value in
                indexed += 1
                let user = key.loadBigEndianUInt32(at: 0)
                let entry = try UserEventEntry(value)
                guard let record = try s.events.withValue(entry.sequence, in: txn, { try EventRecord($0) }) else {
                    return report("user_events", "user #\(user) lists event \(entry.sequence), which does not exist")
                }
                if record.user != user || record.item != entry.item || record.time != entry.time
                    || record.session != entry.session
                {
                    return report("user_events", "user #\(user)'s entry for event \(entry.sequence) disagrees with it")
                }
                return .next
            }
            let eventCount = try s.events.count(in: txn)
            if indexed != eventCount {
                _ = report("user_events", "indexes \(indexed) events; the log holds \(eventCount)")
            }
            indexed = 0
            try s.itemEvents.scanRaw(in: txn) { key, value in
                indexed += 1
                let item = key.loadBigEndianUInt32(at: 0)
                let entry = try ItemEventEntry(value)
                guard let record = try s.events.withValue(entry.sequence, in: txn, { try EventRecord($0) }) else {
                    return report("item_events", "item #\(item) lists event \(entry.sequence), which does not exist")
                }
                if record.item != item || record.user != entry.user || record.time != entry.time {
                    return report("item_events", "item #\(item)'s entry for event \(entry.sequence) disagrees with it")
                }
                return .next
            }
            if indexed != eventCount {
                _ = report("item_events", "indexes \(indexed) events; the log holds \(eventCount)")
            }
            try s.seen.scanRaw(in: txn) { key, value in
                let user = key.loadBigEndianUInt32(at: 0)
                let item = value.loadBigEndianUInt32(at: 0)
                if try !s.users.contains(user, in: txn) { return report("seen", "lists user #\(user), which does not exist") }
                return try s.items.contains(item, in: txn) ? .next
                    : report("seen", "user #\(user) lists item #\(item), which does not exist")
            }
            try s.sessionEvents.scanRaw(in: txn) { key, value in
                let session = key.loadBigEndianUInt32(at: 0)
                let entry = try SessionEventEntry(value)
                guard let record = try s.events.withValue(entry.sequence, in: txn, { try EventRecord($0) }) else {
                    return report("session_events", "session #\(session) lists event \(entry.sequence), which does not exist")
                }
                return record.session == session ? .next
                    : report("session_events", "session #\(session) lists event \(entry.sequence) of another session")
            }
            try s.sessionIDs.scan(in: txn) { name, session in
                try s.sessions.contains(session, in: txn) ? .next
                    : report("session_ids", "'\(name)' maps to #\(session), which has no record")
            }

            // Postings point at live items whose attributes still say so.
            for (index, postings, isCategory) in [("category_items", s.categoryItems, true), ("tag_items", s.tagItems, false)] {
                try postings.scanRaw(in: txn) { key, value in
                    let name = try StringCodec.decode(key)
                    let item = value.loadBigEndianUInt32(at: 0)
                    guard let record = try reader.item(internalID: item) else {
                        return report(index, "'\(name)' lists item #\(item), which does not exist")
                    }
                    let holds = isCategory
                        ? WellKnownAttribute.categoryPrefixes(record.category ?? "").contains(name)
                        : record.tags.contains(name)
                    return holds ? .next : report(index, "'\(name)' lists item '\(record.id)', which no longer has it")
                }
            }
            if problems.count < limit { try reader.checkAttributeIndex(report) }
            return problems
        }
    }
}
