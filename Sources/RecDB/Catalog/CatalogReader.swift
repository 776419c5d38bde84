/// Reads of the catalog, available in read and write transactions alike.
public protocol CatalogReading: ~Copyable {
    /// The database this reader belongs to.
    var database: RecDatabase { get }
    /// The LMDB transaction; valid only inside the closure that handed out this reader.
    var handle: TransactionHandle { get }
    /// Whether the transaction is a read-only snapshot (false inside a write transaction, which may yet abort).
    var isSnapshot: Bool { get }
}

/// A consistent read-only view of the catalog, handed out by ``RecDatabase/read(_:)``.
public struct CatalogReader: CatalogReading, ~Copyable {
    /// The database whose snapshot this is.
    public let database: RecDatabase
    /// The snapshot (an opaque handle); valid only inside the ``RecDatabase/read(_:)`` closure.
    public let handle: TransactionHandle
    /// Always true: a reader never writes.
    public var isSnapshot: Bool { true }
}

extension CatalogReading where Self: ~Copyable {
    var schema: CatalogSchema { database.schema }
    var txn: ReadTransaction { ReadTransaction(viewing: handle) }

    /// The event types as this transaction sees them (a change made by another process is seen by the next
    /// transaction that starts after it commits).
    var eventTypes: EventTypeTable {
        get throws { try database.eventTypeCache.table(in: txn, readOnly: isSnapshot, schema: schema) }
    }

    // MARK: - Items and users

    /// The internal id of an item, or nil.
    /// Throws ``RecDBError/Code/invalidArgument`` for an id outside ``CatalogLimits`` (no such id can exist).
    public func itemID(for id: String) throws -> UInt32? {
        try CatalogLimits.check(id, .itemID)
        return try schema.itemIDs.get(id, in: txn)
    }

    /// The internal id of a user, or nil.
    /// Throws ``RecDBError/Code/invalidArgument`` for an id outside ``CatalogLimits`` (no such id can exist).
    public func userID(for id: String) throws -> UInt32? {
        try CatalogLimits.check(id, .userID)
        return try schema.userIDs.get(id, in: txn)
    }

    /// An item by external id, or nil.
    public func item(_ id: String) throws -> Item? {
        guard let internalID = try itemID(for: id) else { return nil }
        return try item(internalID: internalID)
    }

    /// An item by internal id, or nil when absent or deleted.
    public func item(internalID: UInt32) throws -> Item? {
        try schema.items.withValue(internalID, in: txn) { raw in
            let record = try EntityRecord(raw)
            return Item(id: record.externalID, internalID: internalID, attributes: record.attributes)
        }
    }

    /// An item's external id and title (its `title` attribute when that is a string), or nil when absent or
    /// deleted: what a result page shows, read without decoding the item's other attributes.
    package func itemHeading(internalID: UInt32) throws -> (id: String, title: String?)? {
        try schema.items.withValue(internalID, in: txn) { raw in
            var reader = BinaryReader(raw)
            let id = try reader.readString()
            return (id, try Attributes.string(named: "title", from: &reader))
        }
    }

    /// A user by external id, or nil.
    public func user(_ id: String) throws -> User? {
        guard let internalID = try userID(for: id) else { return nil }
        return try user(internalID: internalID)
    }

    /// A user by internal id, or nil.
    public func user(internalID: UInt32) throws -> User? {
        try schema.users.withValue(internalID, in: txn) { raw in
            let record = try EntityRecord(raw)
            return User(id: record.externalID, internalID: internalID, attributes: record.attributes)
        }
    }

    /// The external id of an item's internal id, or nil.
    public func externalItemID(_ internalID: UInt32) throws -> String? {
        try schema.items.withValue(internalID, in: txn) { raw in
            var reader = BinaryReader(raw)
            return try reader.readString()
        }
    }

    /// The external id of a user's internal id, or nil.
    public func externalUserID(_ internalID: UInt32) throws -> String? {
        try schema.users.withValue(internalID, in: txn) { raw in
            var reader = BinaryReader(raw)
            return try reader.readString()
        }
    }

    /// Calls `body` for every item in internal-id order.
    public func forEachItem(_ body: (Item) throws -> ScanControl) throws {
        try schema.items.scan(in: txn) { id, raw in
            let record = try raw.withUnsafeBytes { try EntityRecord($0) }
            return try body(Item(id: record.externalID, internalID: id, attributes: record.attributes))
        }
    }

    /// Calls `body` for every user in internal-id order.
    public func forEachUser(_ body: (User) throws -> ScanControl) throws {
        try schema.users.scan(in: txn) { id, raw in
            let record = try raw.withUnsafeBytes { try EntityRecord($0) }
            return try body(User(id: record.externalID, internalID: id, attributes: record.attributes))
        }
    }

    // MARK: - Events

    /// The event with global sequence number `sequence`, or nil.
    public func event(sequence: UInt64) throws -> Event? {
        try schema.events.withValue(sequence, in: txn) { raw in try decodeEvent(sequence: sequence, raw) }
    }

    func decodeEvent(sequence: UInt64, _ raw: UnsafeRawBufferPointer) throws -> Event {
        let record = try EventRecord(raw)
        let typeName = try eventTypes.type(code: record.typeCode)?.name ?? "type#\(record.typeCode)"
        return Event(
            sequence: sequence, userID: record.user, itemID: record.item, type: typeName, value: record.value,
            timestamp: Timestamp(milliseconds: record.time), sessionID: record.session, text: record.text)
    }

    /// The sequence number of the newest event, 0 when there is none.
    public func lastEventSequence() throws -> UInt64 {
        var last: UInt64 = 0
        try schema.events.scanRaw(in: txn, reverse: true) { key, _ in
            last = key.loadBigEndianUInt64(at: 0)
            return .stop
        }
        return last
    }

    /// Calls `body` for every event from sequence number `start` on, in write order (for incremental training).
    public func forEachEvent(from start: UInt64 = 0, _ body: (Event) throws -> ScanControl) throws {
        try schema.events.scanRaw(in: txn, from: UInt64Codec.withBytes(of: start) { Array($0) }) { key, value in
            try body(try decodeEvent(sequence: key.loadBigEndianUInt64(at: 0), value))
        }
    }

    /// A user's history in time order (oldest first), or the newest `limit` entries newest first.
    public func history(ofUserID user: UInt32, limit: Int? = nil, newestFirst: Bool = false) throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        try schema.userEvents.duplicatesRaw(of: user, in: txn, reverse: newestFirst) { raw in
            let entry = try UserEventEntry(raw)
            entries.append(
                HistoryEntry(
                    timestamp: Timestamp(milliseconds: entry.time), sequence: entry.sequence, itemID: entry.item,
                    sessionID: entry.session))
            if let limit, entries.count >= limit { return .stop }
            return .next
        }
        return entries
    }

    /// A user's history by external id; an unknown user is an error.
    public func history(ofUser id: String, limit: Int? = nil, newestFirst: Bool = false) throws -> [HistoryEntry] {
        guard let user = try userID(for: id) else { throw RecDBError(.notFound, "unknown user '\(id)'") }
        return try history(ofUserID: user, limit: limit, newestFirst: newestFirst)
    }

    /// The events of an item in time order, as (time, sequence, user).
    public func events(ofItemID item: UInt32) throws -> [(timestamp: Timestamp, sequence: UInt64, userID: UInt32)] {
        var entries: [(Timestamp, UInt64, UInt32)] = []
        try schema.itemEvents.duplicatesRaw(of: item, in: txn) { raw in
            let entry = try ItemEventEntry(raw)
            entries.append((Timestamp(milliseconds: entry.time), entry.sequence, entry.user))
            return .next
        }
        return entries
    }

    /// How many events an item has.
    public func eventCount(ofItemID item: UInt32) throws -> Int { try schema.itemEvents.duplicateCount(of: item, in: txn) }

    /// The items a user interacted with, in internal-id order.
    public func seenItems(ofUserID user: UInt32) throws -> [UInt32] { try schema.seen.duplicates(of: user, in: txn) }

    /// Whether a user interacted with an item.
    public func hasSeen(userID user: UInt32, itemID item: UInt32) throws -> Bool {
        var found = false
        try schema.seen.duplicatesRaw(of: user, in: txn) { raw in
            let value = raw.loadBigEndianUInt32(at: 0)
            if value == item { found = true }
            return value >= item ? .stop : .next
        }
        return found
    }

    // MARK: - Postings

    /// The items in a category or any of its sub-categories (`Books` includes `Books/Thriller`), sorted.
    public func items(inCategory path: String) throws -> [UInt32] {
        let normalized = WellKnownAttribute.categoryPrefixes(path).last ?? path
        try CatalogLimits.check(normalized, .category)
        return try schema.categoryItems.duplicates(of: normalized, in: txn)
    }

    /// The items with a tag, sorted.
    public func items(withTag tag: String) throws -> [UInt32] {
        try CatalogLimits.check(tag, .tag)
        return try schema.tagItems.duplicates(of: tag, in: txn)
    }

    /// Every category path prefix with its number of items.
    public func categories() throws -> [(path: String, itemCount: Int)] {
        var result: [(String, Int)] = []
        var last: String?
        try schema.categoryItems.scanRaw(in: txn) { key, _ in
            let path = try StringCodec.decode(key)
            if path == last {
                result[result.count - 1].1 += 1
            } else {
                result.append((path, 1))
                last = path
            }
            return .next
        }
        return result
    }

    // MARK: - Sessions

    /// The internal id of an explicit session, or nil.
    /// Throws ``RecDBError/Code/invalidArgument`` for an id outside ``CatalogLimits`` (no such id can exist).
    public func sessionID(for id: String) throws -> UInt32? {
        try CatalogLimits.check(id, .sessionID)
        return try schema.sessionIDs.get(id, in: txn)
    }

    /// An explicit session by id, with its events in time order; nil when unknown.
    public func session(_ id: String) throws -> Session? {
        guard let internalID = try sessionID(for: id), let raw = try schema.sessions.get(internalID, in: txn) else {
            return nil
        }
        let user = raw.withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) }
        var entries: [HistoryEntry] = []
        try schema.sessionEvents.duplicatesRaw(of: internalID, in: txn) { bytes in
            let entry = try SessionEventEntry(bytes)
            if let event = try event(sequence: entry.sequence) {
                entries.append(
                    HistoryEntry(
                        timestamp: event.timestamp, sequence: entry.sequence, itemID: event.itemID, sessionID: internalID))
            }
            return .next
        }
        return Session(id: id, userID: user, entries: entries)
    }

    /// A user's visits in time order: events with an explicit session id are grouped by it; the others are split
    /// wherever the user was inactive for longer than the database's session gap.
    public func sessions(ofUserID user: UInt32) throws -> [Session] {
        let entries = try history(ofUserID: user)
        var explicit: [UInt32: Int] = [:]
        var sessions: [Session] = []
        var currentImplicit: Int?
        for entry in entries {
            if entry.sessionID != 0 {
                if let index = explicit[entry.sessionID] {
                    sessions[index].entries.append(entry)
                } else {
                    explicit[entry.sessionID] = sessions.count
                    let name = try schema.sessions.withValue(entry.sessionID, in: txn) { raw in
                        var reader = BinaryReader(raw)
                        _ = try reader.readUInt32()
                        return try reader.readString()
                    }
                    sessions.append(Session(id: name, userID: user, entries: [entry]))
                }
                continue
            }
            if let index = currentImplicit,
                entry.timestamp.milliseconds - sessions[index].end.milliseconds <= database.sessionGap
            {
                sessions[index].entries.append(entry)
            } else {
                currentImplicit = sessions.count
                sessions.append(Session(id: nil, userID: user, entries: [entry]))
            }
        }
        return sessions
    }

    // MARK: - Counts

    /// Items in the catalog (deleted ones are not counted); a B-tree count, not a scan.
    public var itemCount: Int { get throws { try schema.items.count(in: txn) } }
    /// Users in the catalog, known and anonymous alike; a B-tree count, not a scan.
    public var userCount: Int { get throws { try schema.users.count(in: txn) } }
    /// Events in the log; a B-tree count, not a scan.
    public var eventCount: Int { get throws { try schema.events.count(in: txn) } }
    /// Explicit sessions (with an id); see ``sessionCount()`` for visits split by the gap too.
    public var explicitSessionCount: Int { get throws { try schema.sessions.count(in: txn) } }

    /// Events per type name (types with no events are left out).
    public func eventCountsByType() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for type in try eventTypes.all {
            if let count = try schema.counters.get("events." + type.name, in: txn), count > 0 {
                counts[type.name] = Int(count)
            }
        }
        return counts
    }

    /// Every visit: explicit sessions plus runs of session-less events split by the inactivity gap.
    /// Scans the history index.
    public func sessionCount() throws -> Int {
        var implicit = 0
        var lastUser: UInt32?
        var lastTime: Int64 = .min
        let gap = database.sessionGap
        try schema.userEvents.scanRaw(in: txn) { key, value in
            let user = key.loadBigEndianUInt32(at: 0)
            let entry = try UserEventEntry(value)
            guard entry.session == 0 else { return .next }
            if user != lastUser || entry.time - lastTime > gap { implicit += 1 }
            lastUser = user
            lastTime = entry.time
            return .next
        }
        return try explicitSessionCount + implicit
    }
}
