import Foundation
import Testing

@testable import RecDB

// MARK: - Fixture files

extension TemporaryDirectory {
    /// Writes `text` as UTF-8 to `name` inside the folder (creating subfolders) and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    /// Writes raw `bytes` to `name` inside the folder (creating subfolders) and returns its path.
    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let path = appending(name)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Compresses the file at `path` with the system `gzip` into `path.gz`, removes the original and returns the
    /// new path.
    @discardableResult
    func gzip(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
        process.arguments = ["-f", "-n", path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw GzipFailed(path: path) }
        return path + ".gz"
    }
}

struct GzipFailed: Error {
    var path: String
}

/// The bytes of a file.
func contents(of path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Text as ISO 8859-1 bytes (every character must be below U+0100).
func latin1(_ text: String) -> [UInt8] {
    text.unicodeScalars.map { scalar in
        precondition(scalar.value < 256, "'\(scalar)' is not Latin-1")
        return UInt8(scalar.value)
    }
}

/// A generic events CSV (`user,item,type,time,value`) whose rows carry their own number (1-based) as the value,
/// so a test can tell exactly which rows reached the database.
func numberedEventsCSV(rows: Int, replacing replacements: [Int: String] = [:]) -> String {
    var text = "user,item,type,time,value\n"
    for row in 1...rows {
        text += replacements[row] ?? "u\(row % 4),i\(row % 7),view,\(1_700_000_000 + row),\(row)"
        text += "\n"
    }
    return text
}

// MARK: - Running imports

/// Import options with small batches, so tests can see which batches were committed.
func importOptions(batchSize: Int = 3, skipBad: Bool = false) -> ImportOptions {
    var options = ImportOptions()
    options.batchSize = batchSize
    options.skipBad = skipBad
    return options
}

/// Imports `path` with the named format into `db`, as `recctl import` does.
@discardableResult
func importFile(
    _ format: String, _ path: String, into db: RecDatabase, map: FieldMap? = nil, delimiter: Character? = nil,
    batchSize: Int = 3, skipBad: Bool = false
) throws -> ImportReport {
    let source = try ImportFormats.make(name: format, path: path, map: map, delimiter: delimiter)
    return try Importer.run(source, into: db, options: importOptions(batchSize: batchSize, skipBad: skipBad))
}

/// Expects `body` to stop an import with `code` (and, when given, at `location`); returns the stop.
@discardableResult
func expectImportStopped(
    _ code: RecDBError.Code,
    at location: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> ImportStopped? {
    let stopped = #expect(throws: ImportStopped.self, sourceLocation: sourceLocation) { try body() }
    if let stopped {
        #expect(stopped.error.code == code, "\(stopped.error)", sourceLocation: sourceLocation)
        if let location {
            #expect(stopped.error.location == location, "\(stopped.error)", sourceLocation: sourceLocation)
        }
    }
    return stopped
}

/// Expects the database to pass its integrity check.
func expectConsistent(_ db: RecDatabase, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let problems = try db.checkIntegrity()
    #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
}

// MARK: - Reading back

/// A stored event with external ids, for comparisons.
struct StoredEvent: Equatable, CustomStringConvertible {
    var user: String
    var item: String
    var type: String
    var value: Double
    var time: Int64
    var session: String?

    var description: String { "\(user) \(type) \(item) ×\(value) @\(time)\(session.map { " [\($0)]" } ?? "")" }
}

extension CatalogReading where Self: ~Copyable {
    /// Every event in write order, with external ids.
    func storedEvents() throws -> [StoredEvent] {
        var events: [Event] = []
        try forEachEvent { event in
            events.append(event)
            return .next
        }
        return try events.map { try stored($0) }
    }

    /// A user's events in time order, with external ids.
    func storedEvents(ofUser id: String) throws -> [StoredEvent] {
        try history(ofUser: id).map { entry in
            guard let event = try event(sequence: entry.sequence) else {
                throw RecDBError(.notFound, "event \(entry.sequence)")
            }
            return try stored(event)
        }
    }

    private func stored(_ event: Event) throws -> StoredEvent {
        var session: String?
        if event.sessionID != 0 {
            session = try schema.sessions.withValue(event.sessionID, in: txn) { raw in
                var reader = BinaryReader(raw)
                _ = try reader.readUInt32()
                return try reader.readString()
            }
        }
        return StoredEvent(
            user: try externalUserID(event.userID) ?? "#\(event.userID)",
            item: try externalItemID(event.itemID) ?? "#\(event.itemID)", type: event.type, value: event.value,
            time: event.timestamp.milliseconds, session: session)
    }

    /// The external ids of items by internal id, sorted.
    func externalItemIDs(_ internalIDs: [UInt32]) throws -> [String] {
        try internalIDs.map { try externalItemID($0) ?? "#\($0)" }.sorted()
    }
}

/// Milliseconds since the epoch of an ISO 8601 time, for expected values.
func millis(_ iso: String) -> Int64 {
    guard let time = Timestamp(parsing: iso) else { preconditionFailure("bad time in test: \(iso)") }
    return time.milliseconds
}
