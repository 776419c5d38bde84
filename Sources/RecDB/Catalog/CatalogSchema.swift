/// The named LMDB databases of a RecDB catalog and the byte layout of their fixed-size entries.
/// `Schemas/storage-layout.md` documents the same layout for people.
struct CatalogSchema: Sendable {
    /// Format metadata, id counters and settings: string keys.
    let meta: Database<StringCodec, BytesCodec>
    let itemIDs: Database<StringCodec, UInt32Codec>
    let items: Database<UInt32Codec, BytesCodec>
    let userIDs: Database<StringCodec, UInt32Codec>
    let users: Database<UInt32Codec, BytesCodec>
    /// Every event by global sequence number.
    let events: Database<UInt64Codec, BytesCodec>
    /// user → (time, seq, item, session), 24 bytes each, in time order.
    let userEvents: Database<UInt32Codec, BytesCodec>
    /// item → (time, seq, user), 20 bytes each, in time order.
    let itemEvents: Database<UInt32Codec, BytesCodec>
    /// user → item, the set of items a user interacted with.
    let seen: Database<UInt32Codec, UInt32Codec>
    /// category path prefix → item.
    let categoryItems: Database<StringCodec, UInt32Codec>
    /// tag → item.
    let tagItems: Database<StringCodec, UInt32Codec>
    let sessionIDs: Database<StringCodec, UInt32Codec>
    /// session → (user, external id).
    let sessions: Database<UInt32Codec, BytesCodec>
    /// session → (time, seq), 16 bytes each.
    let sessionEvents: Database<UInt32Codec, BytesCodec>
    /// event type name → (code, weight, uses value).
    let eventTypes: Database<StringCodec, BytesCodec>
    /// Named counters, such as events of one type.
    let counters: Database<StringCodec, UInt64Codec>
    /// Which items each item version changed (version → sorted big-endian `UInt32` ids), for the last
    /// ``CatalogWriter/itemChangeHistory`` versions: cached filters catch up by re-checking only those items.
    let itemChanges: Database<UInt64Codec, BytesCodec>
    /// Attribute name and order-preserving value → item (see ``AttributeIndex``). Nil only in a read-only process
    /// on a database written before the index existed; readers then evaluate filters from the item records.
    let itemAttributes: Database<BytesCodec, UInt32Codec>?

    init(environment env: Environment) throws {
        meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
        itemIDs = try env.database("item_ids", key: StringCodec.self, value: UInt32Codec.self)
        items = try env.database("items", key: UInt32Codec.self, value: BytesCodec.self)
        userIDs = try env.database("user_ids", key: StringCodec.self, value: UInt32Codec.self)
        users = try env.database("users", key: UInt32Codec.self, value: BytesCodec.self)
        events = try env.database("events", key: UInt64Codec.self, value: BytesCodec.self)
        userEvents = try env.database(
            "user_events", key: UInt32Codec.self, value: BytesCodec.self, flags: .fixedSizeDuplicates)
        itemEvents = try env.database(
            "item_events", key: UInt32Codec.self, value: BytesCodec.self, flags: .fixedSizeDuplicates)
        seen = try env.database("seen", key: UInt32Codec.self, value: UInt32Codec.self, flags: .fixedSizeDuplicates)
        categoryItems = try env.database(
            "category_items", key: StringCodec.self, value: UInt32Codec.self, flags: .fixedSizeDuplicates)
        tagItems = try env.database("tag_items", key: StringCodec.self, value: UInt32Codec.self, flags: .fixedSizeDuplicates)
        sessionIDs = try env.database("session_ids", key: StringCodec.self, value: UInt32Codec.self)
        sessions = try env.database("sessions", key: UInt32Codec.self, value: BytesCodec.self)
        sessionEvents = try env.database(
            "session_events", key: UInt32Codec.self, value: BytesCodec.self, flags: .fixedSizeDuplicates)
        eventTypes = try env.database("event_types", key: StringCodec.self, value: BytesCodec.self)
        counters = try env.database("counters", key: StringCodec.self, value: UInt64Codec.self)
        itemChanges = try env.database("item_changes", key: UInt64Codec.self, value: BytesCodec.self)
        itemAttributes = try env.addedLater {
            try env.database(
                "item_attributes", key: BytesCodec.self, value: UInt32Codec.self, flags: .fixedSizeDuplicates)
        }
    }

    static let allNames = [
        "meta", "item_ids", "items", "user_ids", "users", "events", "user_events", "item_events", "seen",
        "category_items", "tag_items", "session_ids", "sessions", "session_events", "event_types", "counters",
        "item_changes", "item_attributes",
    ]
}

// MARK: - Fixed-size index entries

/// A user-history entry: 24 bytes, ordered by time then sequence.
struct UserEventEntry {
    static let size = 24
    var time: Int64
    var sequence: UInt64
    var item: UInt32
    var session: UInt32

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: Self.size)
        writer.write(time)
        writer.write(sequence)
        writer.write(item)
        writer.write(session)
        return writer.bytes
    }

    init(time: Int64, sequence: UInt64, item: UInt32, session: UInt32) {
        self.time = time
        self.sequence = sequence
        self.item = item
        self.session = session
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        guard raw.count == Self.size else { throw RecDBError(.corrupted, "user history entry has \(raw.count) bytes") }
        var reader = BinaryReader(raw)
        time = try reader.readInt64()
        sequence = try reader.readUInt64()
        item = try reader.readUInt32()
        session = try reader.readUInt32()
    }
}

/// An item-events entry: 20 bytes, ordered by time then sequence.
struct ItemEventEntry {
    static let size = 20
    var time: Int64
    var sequence: UInt64
    var user: UInt32

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: Self.size)
        writer.write(time)
        writer.write(sequence)
        writer.write(user)
        return writer.bytes
    }

    init(time: Int64, sequence: UInt64, user: UInt32) {
        self.time = time
        self.sequence = sequence
        self.user = user
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        guard raw.count == Self.size else { throw RecDBError(.corrupted, "item events entry has \(raw.count) bytes") }
        var reader = BinaryReader(raw)
        time = try reader.readInt64()
        sequence = try reader.readUInt64()
        user = try reader.readUInt32()
    }
}

/// A session-events entry: 16 bytes, ordered by time then sequence.
struct SessionEventEntry {
    static let size = 16
    var time: Int64
    var sequence: UInt64

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: Self.size)
        writer.write(time)
        writer.write(sequence)
        return writer.bytes
    }

    init(time: Int64, sequence: UInt64) {
        self.time = time
        self.sequence = sequence
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        guard raw.count == Self.size else { throw RecDBError(.corrupted, "session events entry has \(raw.count) bytes") }
        var reader = BinaryReader(raw)
        time = try reader.readInt64()
        sequence = try reader.readUInt64()
    }
}

/// The stored form of an event (value of `events`).
struct EventRecord {
    var user: UInt32
    var item: UInt32
    var typeCode: UInt16
    var value: Double
    var time: Int64
    var session: UInt32
    var text: String?

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: 40)
        writer.write(user)
        writer.write(item)
        writer.write(typeCode)
        writer.write(value)
        writer.write(time)
        writer.write(session)
        if let text {
            writer.write(UInt8(1))
            writer.write(text)
        } else {
            writer.write(UInt8(0))
        }
        return writer.bytes
    }

    init(user: UInt32, item: UInt32, typeCode: UInt16, value: Double, time: Int64, session: UInt32, text: String?) {
        self.user = user
        self.item = item
        self.typeCode = typeCode
        self.value = value
        self.time = time
        self.session = session
        self.text = text
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(raw)
        user = try reader.readUInt32()
        item = try reader.readUInt32()
        typeCode = try reader.readUInt16()
        value = try reader.readDouble()
        time = try reader.readInt64()
        session = try reader.readUInt32()
        text = try reader.readUInt8() == 1 ? try reader.readString() : nil
    }
}

/// The stored form of an item or user record: external id, then attributes.
struct EntityRecord {
    var externalID: String
    var attributes: Attributes

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: 64)
        writer.write(externalID)
        attributes.encoded(into: &writer)
        return writer.bytes
    }

    init(externalID: String, attributes: Attributes) {
        self.externalID = externalID
        self.attributes = attributes
    }

    init(_ raw: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(raw)
        externalID = try reader.readString()
        attributes = try Attributes.decode(from: &reader)
    }
}

/// Id counters in `meta`, read through a raw transaction handle (the writer and the index builder hold one).
enum CatalogSchemaAccess {
    /// A `u64` counter from `meta` (0 when unset).
    static func nextID(_ name: String, handle: TransactionHandle, meta: Database<StringCodec, BytesCodec>) throws -> UInt64 {
        try meta.withValue(name, in: ReadTransaction(viewing: handle)) { try UInt64Codec.decode($0) } ?? 0
    }

    /// An id counter from `meta` as a limit on ids (0 when unset): one past the largest internal id, so at most 2³²
    /// (ids are `UInt32`); a larger value is `corrupted`.
    static func idLimit(_ name: String, handle: TransactionHandle, meta: Database<StringCodec, BytesCodec>) throws -> Int {
        let value = try nextID(name, handle: handle, meta: meta)
        guard value <= UInt64(UInt32.max) + 1 else {
            throw RecDBError(.corrupted, "meta '\(name)' is \(value), past the largest id a UInt32 can hold")
        }
        return Int(value)
    }
}

/// Knobs of the filtered-search planner, settable through `RECDB_FILTER_TUNING="widenBelow,widenPower,subgraphBelow"`

extension Environment {
    /// Opens tables a newer version added: nil instead of `not_found` in a read-only process on a database written
    /// before they existed (a writer creates them).
    func addedLater<T>(_ open: () throws -> T) throws -> T? {
        do {
            return try open()
        } catch let error as RecDBError where options.readOnly && error.code == .notFound {
            return nil
        }
    }
}
