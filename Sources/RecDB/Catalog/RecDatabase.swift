import Foundation
import RecNeural

/// A RecDB database: the catalog of items, users, events and sessions in one LMDB environment.
///
/// ```swift
/// let db = try RecDatabase.open(at: "shop.recdb", create: true)
/// try db.write { w in
///     try w.upsertItem("i7", attributes: ["title": .string("Gone Girl"), "category": .string("Books/Thriller")])
///     try w.addEvent(EventInput(user: "u42", item: "i7", type: "purchase", timestamp: .now))
/// }
/// let history = try db.read { r in try r.history(ofUser: "u42") }
/// ```
public final class RecDatabase: Sendable {
    /// The on-disk format this build writes. Opening a database with a higher version fails; a version-1 database
    /// (no attribute index) is upgraded when a writable process opens it, and so is a version-2 one (version 3: a
    /// float32 index generation is the only store of the vectors it holds; see `VectorStore.swift`), and so is a
    /// version-3 one (version 4: impressions are found by unit through the impression log, not the unit index
    /// `experiment_unit_impressions`, which an older RecDB would go on writing unseen; see `ImpressionLog.swift`).
    public static let formatVersion: UInt32 = 4
    static let magic: [UInt8] = Array("RECDB".utf8)

    /// Options for opening a database.
    public struct Options: Sendable {
        /// How the LMDB environment is opened; its `create` is replaced by the `create` argument of
        /// ``RecDatabase/open(at:create:options:)``.
        public var storage = Environment.Options()
        /// The inactivity gap that splits a user's events into sessions when events carry no session id.
        public var sessionGap: Int64 = 30 * 60 * 1000
        /// The defaults: default storage options and a 30-minute session gap.
        public init() {}
    }

    /// The LMDB environment that holds the catalog, the vectors and the models.
    public let environment: Environment
    let schema: CatalogSchema
    let vectorSchema: VectorSchema
    let modelSchema: ModelSchema
    /// Decoded model data per generation.
    let modelCache = ModelCache()
    /// Allowed sets of recent filters.
    let filterCache = FilterCache()
    /// The event types of the latest snapshot read (see ``CatalogReading/eventTypes``).
    let eventTypeCache = EventTypeCache()
    /// Experiments' tables; nil only in a read-only process on a database written before they existed.
    let experimentSchema: ExperimentSchema?
    /// The live popularity and trending counters (``ItemHeatSchema``); nil in a read-only process on an older file.
    let itemHeatSchema: ItemHeatSchema?
    /// Decoded experiments.
    let experimentCache = ExperimentCache()
    /// Impressions of `RECOMMEND … IN EXPERIMENT` waiting for the next group commit (in a server).
    public let impressions = ImpressionQueue()
    /// Each user's and session's recent impressions, for crediting events that name no recommendation.
    let unitImpressions = UnitImpressionIndex()

    /// The folder of the database.
    public var path: String { environment.path }
    /// The inactivity gap used to split sessions, in milliseconds. Stored in `meta` when the database is created
    /// (`recctl init --session-gap`) and never changed afterwards, so reading it once at open is snapshot-correct.
    public let sessionGap: Int64

    /// Opens the database in folder `path`. With `create`, a missing or empty folder becomes a new database;
    /// without it, a missing database is an error that says to run `recctl init`.
    public static func open(at path: String, create: Bool = false, options: Options = Options()) throws -> RecDatabase {
        var storage = options.storage
        storage.create = create
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        if !create && !FileManager.default.fileExists(atPath: dataFile) {
            throw RecDBError(.notFound, "no RecDB database here; create one with `recctl init`", location: path)
        }
        let env = try Environment.open(at: path, options: storage)
        // Serving's matrix products run on the calling thread (see `Parallel.applyThreadCount`).
        Parallel.applyThreadCount()
        return try RecDatabase(environment: env, create: create, options: options)
    }

    private init(environment env: Environment, create: Bool, options: Options) throws {
        environment = env
        try Self.checkFormat(env, create: create, options: options)
        schema = try CatalogSchema(environment: env)
        vectorSchema = try VectorSchema(environment: env)
        modelSchema = try ModelSchema(environment: env)
        experimentSchema = try env.addedLater { try ExperimentSchema(environment: env) }
        itemHeatSchema = try env.addedLater { try ItemHeatSchema(environment: env) }
        let meta = schema.meta
        sessionGap = try env.read { txn in
            guard let raw = try meta.get("session_gap_ms", in: txn), raw.count == 8 else { return options.sessionGap }
            return raw.withUnsafeBytes { Int64(bitPattern: $0.loadBigEndianUInt64(at: 0)) }
        }
        if !env.options.readOnly {
            try buildAttributeIndexIfMissing()
            try migrateFormerUnitIndex()
            try raiseFormatVersion()
            try removeAbandonedGenerations()
            try removeStaleModelData()
        }
    }

    /// Fails unless `env` is empty (and may be initialised) or holds a RecDB catalog of a readable version.
    private static func checkFormat(_ env: Environment, create: Bool, options: Options) throws {
        let names = try env.databaseNames()
        if names.isEmpty {
            guard create, !env.options.readOnly else {
                throw RecDBError(.notRecDB, "the database is empty; create it with `recctl init`", location: env.path)
            }
            let meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
            let types = try env.database("event_types", key: StringCodec.self, value: BytesCodec.self)
            try env.write { txn in
                var format = BinaryWriter()
                format.write(formatVersion)
                try meta.put("format", magic + format.bytes, in: &txn)
                var gap = BinaryWriter()
                gap.write(UInt64(bitPattern: options.sessionGap))
                try meta.put("session_gap_ms", gap.bytes, in: &txn)
                try meta.put("created_at", Array(Timestamp.now.description.utf8), in: &txn)
                for (index, type) in EventType.defaults.enumerated() {
                    try types.put(type.name, encodeType(type, code: UInt16(index + 1)), in: &txn)
                }
            }
            return
        }
        guard names.contains("meta") else {
            throw RecDBError(
                .notRecDB, "this LMDB environment was not made by RecDB (it holds \(names.prefix(5).joined(separator: ", ")))",
                location: env.path)
        }
        let meta = try env.database("meta", key: StringCodec.self, value: BytesCodec.self)
        let format = try env.read { txn in try meta.get("format", in: txn) }
        guard let format, format.count == magic.count + 4, Array(format.prefix(magic.count)) == magic else {
            throw RecDBError(.notRecDB, "the meta database has no RecDB format marker", location: env.path)
        }
        let version = format.withUnsafeBytes { $0.loadBigEndianUInt32(at: magic.count) }
        if version > formatVersion {
            throw RecDBError(
                .formatTooNew,
                "the database has format version \(version); this RecDB reads up to \(formatVersion): upgrade RecDB",
                location: env.path)
        }
    }

    // MARK: - Transactions

    /// Runs `body` on a consistent snapshot of the catalog.
    public func read<R>(_ body: (borrowing CatalogReader) throws -> R) throws -> R {
        try environment.read { txn in
            let reader = CatalogReader(database: self, handle: txn.handle)
            return try body(reader)
        }
    }

    /// Runs `body` in one write transaction: all of its changes commit together on return, none on a throw.
    /// `body` may run again when the map grows, so keep its effects inside the writer.
    public func write<R>(_ body: (inout CatalogWriter) throws -> R) throws -> R {
        var logged: (base: UInt64, entries: [ImpressionLogEntry])?
        let result = try environment.write { txn in
            logged = nil
            var writer = try CatalogWriter(database: self, handle: txn.handle)
            let result = try body(&writer)
            try writer.flush()
            if let base = writer.impressionLogBase { logged = (base, writer.loggedImpressions) }
            return result
        }
        if let logged { unitImpressions.committed(logged.entries, after: logged.base, now: Timestamp.now.milliseconds) }
        return result
    }

    /// Runs `body` once for each of `elements` in one write transaction, each in its own savepoint (see
    /// ``CatalogWriter/attempt(_:)``): a failure rolls back only that element's changes, and the others commit
    /// together without running again. Returns one result per element, in order.
    ///
    /// ```swift
    /// let outcomes = try db.writeBatch(statements) { w, statement in try db.execute(statement, in: &w) }
    /// ```
    ///
    /// Throws only when the transaction as a whole fails (its commit: a full disk, an I/O error); then nothing of it
    /// was written. When the map fills, it grows and the whole batch runs again (as with ``write(_:)``), so `body`
    /// runs more than once per element only then. recd's group commit runs its batches through this. `finally` runs
    /// last in the same transaction, outside the savepoints (a replica records its applied log sequence there); its
    /// throw fails the whole batch.
    public func writeBatch<Element, R>(
        _ elements: [Element], _ body: (inout CatalogWriter, Element) throws -> R,
        finally: ((inout CatalogWriter) throws -> Void)? = nil
    ) throws -> [Result<R, any Error>] {
        // Impressions queued by reads go first, so a statement of this batch finds the impression it answers.
        let impressions = self.impressions.drain()
        return try write { w in
            // All in one savepoint; only when that fails (a damaged experiment) one by one, so the rest are kept.
            if case .failure = try w.attempt({ w in try w.record(impressions) }) {
                for impression in impressions { _ = try w.attempt { w in try w.record(impression) } }
            }
            var outcomes: [Result<R, any Error>] = []
            outcomes.reserveCapacity(elements.count)
            for element in elements {
                outcomes.append(try w.attempt { w in try body(&w, element) })
            }
            try finally?(&w)
            return outcomes
        }
    }

    /// Like ``write(_:)``, with an id cache that outlives the transaction (see ``IDCache``).
    func write<R>(using cache: IDCache, _ body: (inout CatalogWriter) throws -> R) throws -> R {
        var learned = IDCache.Entries()
        var transactionID = 0
        let result = try environment.write { txn in
            transactionID = txn.handle.id
            if let last = cache.lastTransactionID, transactionID != last + 1 { cache.entries = IDCache.Entries() }
            var writer = try CatalogWriter(database: self, handle: txn.handle)
            writer.cache = cache
            let result = try body(&writer)
            try writer.flush()
            learned = writer.resolved
            return result
        }
        cache.merge(learned, transactionID: transactionID)
        return result
    }

    // MARK: - Event types

    /// The event types configured now (as the latest committed transaction has them).
    public var eventTypes: [EventType] {
        get throws { try read { try $0.eventTypes.all } }
    }

    /// Adds an event type or changes the weight of an existing one (`DEFINE EVENT TYPE` does this inside a write
    /// statement, so a replicated cluster applies it through the log).
    public func defineEventType(_ type: EventType) throws {
        try environment.write { txn in try Self.putEventType(type, schema: schema, in: &txn) }
    }

    /// Writes `type` (a new code, or the existing one's) and a fresh token, so every process sees the change at its
    /// next transaction: the token its cached table was read under no longer matches.
    static func putEventType(_ type: EventType, schema: CatalogSchema, in txn: inout WriteTransaction) throws {
        try CatalogLimits.check(type.name, .eventType)
        guard type.weight.isFinite else {
            throw RecDBError(.invalidArgument, "event type '\(type.name)' needs a finite weight, not \(type.weight)")
        }
        var code = UInt16(1)
        var existing: UInt16?
        try schema.eventTypes.scan(in: txn) { name, raw in
            let decoded = try raw.withUnsafeBytes { try Self.decodeType(name: name, $0) }
            if name == type.name { existing = decoded.0 }
            code = max(code, decoded.0 + 1)
            return .next
        }
        try schema.eventTypes.put(type.name, Self.encodeType(type, code: existing ?? code), in: &txn)
        var token = BinaryWriter()
        token.write(UInt64.random(in: 1 ... .max - 1))
        try schema.meta.put(EventTypeTable.tokenKey, token.bytes, in: &txn)
    }

    static func encodeType(_ type: EventType, code: UInt16) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(code)
        writer.write(type.weight)
        writer.write(UInt8(type.usesValue ? 1 : 0))
        return writer.bytes
    }

    static func decodeType(name: String, _ raw: UnsafeRawBufferPointer) throws -> (UInt16, EventType) {
        var reader = BinaryReader(raw)
        let code = try reader.readUInt16()
        let weight = try reader.readDouble()
        let usesValue = try reader.readUInt8() != 0
        return (code, EventType(name: name, weight: weight, usesValue: usesValue))
    }

    // MARK: - Maintenance

    /// Writes a compacted, consistent copy of the database to the folder `destination` while writers go on.
    public func backup(to destination: String) throws {
        try environment.copy(to: destination, compact: true)
    }
}
