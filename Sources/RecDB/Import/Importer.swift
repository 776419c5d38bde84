import Foundation

/// One thing an input row asks to write.
public enum ImportRecord: Sendable {
    case item(id: String, attributes: Attributes)
    case user(id: String, attributes: Attributes)
    case event(EventInput)
}

/// A row that was refused, with where it is and why.
public struct ImportRejection: Sendable, CustomStringConvertible {
    /// `file:line` (or `file: key` for whole-file JSON).
    public var location: String
    public var reason: String
    public var description: String { "\(location): \(reason)" }
}

/// How an import runs.
public struct ImportOptions: Sendable {
    /// Rows per write transaction. Each committed batch is durable; a crash loses at most the batch in flight.
    public var batchSize = 50_000
    /// Skip and count malformed rows instead of stopping at the first one.
    public var skipBad = false
    /// How many rejections the report keeps (all are counted).
    public var keptRejections = 20
    /// Called after every committed batch.
    public var progress: (@Sendable (ImportProgress) -> Void)?

    public init() {}
}

/// Where an import is, reported after each committed batch.
public struct ImportProgress: Sendable {
    public var rowsRead: Int
    public var rowsImported: Int
    public var rowsRejected: Int
    public var batchesCommitted: Int
    public var seconds: Double
    /// Input consumed so far as a fraction of its size, when known.
    public var fraction: Double?
}

/// What an import did.
public struct ImportReport: Sendable {
    public var format: String
    public var rowsRead = 0
    public var rowsImported = 0
    public var rowsRejected = 0
    public var batchesCommitted = 0
    public var recordsWritten = 0
    public var seconds = 0.0
    /// The first rejections (up to ``ImportOptions/keptRejections``).
    public var rejections: [ImportRejection] = []

    public var rowsPerSecond: Double { seconds > 0 ? Double(rowsImported) / seconds : 0 }
}

/// An import stopped at a bad row; the database holds every batch committed before it.
public struct ImportStopped: Error, CustomStringConvertible, Sendable {
    public var error: RecDBError
    public var report: ImportReport
    public var description: String { error.description }
}

/// A source of rows in one import format.
public protocol ImportFormat: Sendable {
    /// The format's name as given to `recctl import`.
    var name: String { get }
    /// Reads every input file and hands each row's records (or its rejection) to `sink`.
    func read(into sink: ImportSink) throws
}

/// Collects rows from a format into batches, validating each row before it joins a batch so that a
/// malformed row is refused alone.
public final class ImportSink: @unchecked Sendable {
    let database: RecDatabase
    let options: ImportOptions
    private var batch = ImportBatch()
    private let deliver: (ImportBatch) throws -> Void
    private(set) var rowsRead = 0
    private(set) var rowsRejected = 0
    private(set) var rejections: [ImportRejection] = []
    /// A fraction of the input consumed, set by the format as it goes.
    public var fraction: Double?

    init(database: RecDatabase, options: ImportOptions, deliver: @escaping (ImportBatch) throws -> Void) {
        self.database = database
        self.options = options
        self.deliver = deliver
    }

    /// Adds one input row's records. Invalid records (unknown event type, bad ids or attributes) reject the row.
    public func row(at location: @autoclosure () -> String, _ records: [ImportRecord]) throws {
        rowsRead += 1
        if let problem = validate(records) {
            try reject(at: location(), problem, counted: false)
            return
        }
        batch.append(records, location: location)
        if batch.rows >= options.batchSize { try flush() }
    }

    /// Refuses one input row: with `skipBad` it is counted and the import goes on; otherwise the import stops here.
    public func reject(at location: String, _ reason: String) throws {
        try reject(at: location, reason, counted: true)
    }

    /// Refuses a row because of an error thrown while parsing it (such as invalid UTF-8). When the import stops
    /// here, it stops with that error's code.
    public func reject(_ error: RecDBError) throws {
        rowsRead += 1
        try reject(at: error.location ?? "?", error.message, counted: false, code: error.code)
    }

    private func reject(at location: String, _ reason: String, counted: Bool, code: RecDBError.Code = .malformedInput)
        throws
    {
        if counted { rowsRead += 1 }
        rowsRejected += 1
        if rejections.count < options.keptRejections { rejections.append(ImportRejection(location: location, reason: reason)) }
        if !options.skipBad {
            throw RecDBError(
                code, reason + " (import stopped; rows before this batch are committed; --skip-bad skips such rows)",
                location: location)
        }
    }

    func flush() throws {
        guard batch.rows > 0 else { return }
        let full = batch
        batch = ImportBatch()
        try deliver(full)
    }

    private func validate(_ records: [ImportRecord]) -> String? {
        for record in records {
            switch record {
            case .item(let id, let attributes):
                if id.isEmpty || id.utf8.count > CatalogWriter.maxIDLength { return "item id is empty or too long" }
                do { try WellKnownAttribute.validate(attributes, forItem: true, owner: "item '\(id)'") } catch {
                    return (error as? RecDBError)?.message ?? "\(error)"
                }
            case .user(let id, let attributes):
                if id.isEmpty || id.utf8.count > CatalogWriter.maxIDLength { return "user id is empty or too long" }
                do { try WellKnownAttribute.validate(attributes, forItem: false, owner: "user '\(id)'") } catch {
                    return (error as? RecDBError)?.message ?? "\(error)"
                }
            case .event(let event):
                if event.user.isEmpty || event.user.utf8.count > CatalogWriter.maxIDLength { return "user id is empty or too long" }
                if event.item.isEmpty || event.item.utf8.count > CatalogWriter.maxIDLength { return "item id is empty or too long" }
                if database.eventType(named: event.type) == nil {
                    return "unknown event type '\(event.type)' (define it with `recctl types set \(event.type)=WEIGHT`)"
                }
                if !event.value.isFinite { return "event value is not a finite number" }
                if let session = event.session, session.utf8.count > CatalogWriter.maxIDLength { return "session id too long" }
            }
        }
        return nil
    }
}

/// Rows bound for one write transaction.
struct ImportBatch: Sendable {
    var records: [ImportRecord] = []
    var rows = 0
    /// Where the batch's first row is, for errors raised while writing it.
    var firstLocation = ""

    mutating func append(_ rowRecords: [ImportRecord], location: () -> String) {
        if rows == 0 { firstLocation = location() }
        records.append(contentsOf: rowRecords)
        rows += 1
    }
}

/// Runs imports: the format parses on one thread while batches commit on another, one write transaction per batch.
public enum Importer {
    /// Imports everything `format` reads into `database`. Throws ``ImportStopped`` at the first bad row unless
    /// `options.skipBad`; batches committed before it stay.
    @discardableResult
    public static func run(_ format: some ImportFormat, into database: RecDatabase, options: ImportOptions = ImportOptions())
        throws -> ImportReport
    {
        let started = Date()
        let queue = BatchQueue(capacity: 2)
        var report = ImportReport(format: format.name)
        let sink = ImportSink(database: database, options: options) { batch in try queue.put(batch) }
        let producerResult = ProducerResult()
        let producer = Thread {
            do {
                try format.read(into: sink)
                try sink.flush()
            } catch {
                producerResult.error = error
            }
            queue.finish()
        }
        producer.stackSize = 8 << 20
        producer.start()

        var writeError: (any Error)?
        let cache = IDCache()
        try database.environment.withDeferredMetaSync {
            while let batch = queue.take() {
                do {
                    try database.write(using: cache) { writer in
                        for record in batch.records {
                            switch record {
                            case .item(let id, let attributes): try writer.upsertItem(id, attributes: attributes)
                            case .user(let id, let attributes): try writer.upsertUser(id, attributes: attributes)
                            case .event(let event): try writer.addEvent(event)
                            }
                        }
                    }
                } catch {
                    var failure = error as? RecDBError ?? RecDBError(.io, "\(error)")
                    failure.message += " (in the batch of \(batch.rows) rows starting at \(batch.firstLocation); not committed)"
                    writeError = failure
                    queue.cancel()
                    break
                }
                report.rowsImported += batch.rows
                report.recordsWritten += batch.records.count
                report.batchesCommitted += 1
                options.progress?(
                    ImportProgress(
                        rowsRead: report.rowsImported + sink.rowsRejected, rowsImported: report.rowsImported,
                        rowsRejected: sink.rowsRejected, batchesCommitted: report.batchesCommitted,
                        seconds: Date().timeIntervalSince(started), fraction: sink.fraction))
            }
        }
        queue.waitUntilFinished()
        report.rowsRead = sink.rowsRead
        report.rowsRejected = sink.rowsRejected
        report.rejections = sink.rejections
        report.seconds = Date().timeIntervalSince(started)
        if let error = writeError ?? producerResult.error {
            let recError = error as? RecDBError ?? RecDBError(.io, "\(error)")
            throw ImportStopped(error: recError, report: report)
        }
        return report
    }
}

private final class ProducerResult: @unchecked Sendable {
    var error: (any Error)?
}

/// A bounded hand-off of batches from the parsing thread to the writing thread.
final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [ImportBatch] = []
    private let capacity: Int
    private var finished = false
    private var cancelled = false
    private var producerDone = false

    init(capacity: Int) { self.capacity = capacity }

    struct Cancelled: Error {}

    func put(_ batch: ImportBatch) throws {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        if cancelled { throw Cancelled() }
        items.append(batch)
        condition.broadcast()
    }

    func take() -> ImportBatch? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished { condition.wait() }
        guard !items.isEmpty else { return nil }
        let batch = items.removeFirst()
        condition.broadcast()
        return batch
    }

    func finish() {
        condition.lock()
        finished = true
        producerDone = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilFinished() {
        condition.lock()
        while !producerDone { condition.wait() }
        condition.unlock()
    }
}
