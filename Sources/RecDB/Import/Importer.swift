import Foundation
import Synchronization

/// One thing an input row asks to write.
public enum ImportRecord: Sendable {
    /// Create the item or merge these attributes into it.
    case item(id: String, attributes: Attributes)
    /// Create the user or merge these attributes into it.
    case user(id: String, attributes: Attributes)
    /// Record an event; unknown users and items are created.
    case event(EventInput)
}

/// A row that was refused, with where it is and why.
public struct ImportRejection: Sendable, CustomStringConvertible {
    /// `file:line` (or `file: key` for whole-file JSON).
    public var location: String
    /// Why the row was refused, cut to about 1,000 bytes since rows can be huge.
    public var reason: String
    /// "location: reason", one line.
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
    /// Read FIFOs, character devices and sockets too (`recctl import --stream`). Without it, input that is not a
    /// regular file is refused before anything is read: `/dev/zero` or a pipe may never end.
    public var stream = false
    /// The longest line accepted, in bytes (64 MiB by default); a longer one stops the import as
    /// ``RecDBError/Code/malformedInput`` (a stream without line breaks would otherwise fill memory).
    public var maxLineBytes = 64 << 20
    /// Skip the rows of each input file that an earlier run of the same import committed (see ``Importer``).
    /// With false every row is imported again (events are then added twice).
    public var resume = true

    /// The defaults: batches of 50,000 rows, stop at the first bad row, keep 20 rejections, regular files only, lines
    /// up to 64 MiB, resume on.
    public init() {}

    var inputLimits: InputLimits { InputLimits(allowStreams: stream, maxLineBytes: maxLineBytes) }
}

/// Where an import is, reported after each committed batch.
public struct ImportProgress: Sendable {
    /// Rows in committed batches plus rows rejected so far; rows waiting in the batch being filled are not counted.
    public var rowsRead: Int
    /// Rows whose records were committed.
    public var rowsImported: Int
    /// Rows refused so far (only with ``ImportOptions/skipBad``; otherwise the first one stops the import).
    public var rowsRejected: Int
    /// Write transactions committed so far.
    public var batchesCommitted: Int
    /// Wall-clock seconds since the import started.
    public var seconds: Double
    /// Input consumed so far as a fraction of its size, when known.
    public var fraction: Double?
}

/// What an import did.
public struct ImportReport: Sendable {
    /// The format's ``ImportFormat/name``.
    public var format: String
    /// Every row the format read, including skipped and rejected ones.
    public var rowsRead = 0
    /// Rows whose records were committed.
    public var rowsImported = 0
    /// Rows refused: malformed, or naming something invalid (an unknown event type, an id over its limit). All are
    /// counted; only the first ones are kept in ``rejections``.
    public var rowsRejected = 0
    /// Rows that an earlier run of the same import over the same file committed, skipped by this one (counted in
    /// ``rowsRead``, not in ``rowsImported``).
    public var rowsSkipped = 0
    /// Write transactions that committed rows.
    public var batchesCommitted = 0
    /// Items, users and events written: one row may write several (an event and the item it names, say).
    public var recordsWritten = 0
    /// Wall-clock duration of the import, reading and writing overlapped.
    public var seconds = 0.0
    /// The first rejections (up to ``ImportOptions/keptRejections``).
    public var rejections: [ImportRejection] = []
    /// What people should know about the run: a resumed file, a file that changed since an earlier run, a stream.
    public var notes: [String] = []

    /// Imported rows per wall-clock second; 0 before any time has passed.
    public var rowsPerSecond: Double { seconds > 0 ? Double(rowsImported) / seconds : 0 }
}

/// An import stopped at a bad row; the database holds every batch committed before it.
public struct ImportStopped: Error, CustomStringConvertible, Sendable {
    /// Why the import stopped: the bad row's error (with its location) or a failed write.
    public var error: RecDBError
    /// What the import did up to the stop; the committed batches stay in the database.
    public var report: ImportReport
    /// The stopping error's description.
    public var description: String { error.description }
}

/// A source of rows in one import format.
public protocol ImportFormat: Sendable {
    /// The format's name as given to `recctl import`.
    var name: String { get }
    /// Reads every input file and hands each row's records (or its rejection) to `sink`. Files are opened with
    /// ``ImportSink/openCSV(_:delimiter:encoding:)`` or ``ImportSink/openLines(_:encoding:)``, one after the other:
    /// the rows handed to the sink belong to the file opened last, which is what lets a re-run resume per file.
    func read(into sink: ImportSink) throws
    /// The format with the options that change what its rows mean (a column mapping, a delimiter). A re-run skips
    /// committed rows only when its signature is the same. Defaults to ``name``.
    var signature: String { get }
}

extension ImportFormat {
    /// The format's name alone, for formats whose rows mean the same whatever the options.
    public var signature: String { name }
}

/// Collects rows from a format into batches, validating each row before it joins a batch so that a
/// malformed row is refused alone.
///
/// A sink belongs to the thread that parses (it is not `Sendable`); the writing thread sees its progress through
/// ``Progress``.
public final class ImportSink {
    /// What the writing thread reads of the parsing thread's progress while both run.
    final class Progress: Sendable {
        private let rejected = Atomic<Int>(0)
        /// `Double.bitPattern` of the fraction; `UInt64.max` while there is none.
        private let fractionBits = Atomic<UInt64>(.max)

        var rowsRejected: Int { rejected.load(ordering: .relaxed) }
        var fraction: Double? {
            let bits = fractionBits.load(ordering: .relaxed)
            return bits == .max ? nil : Double(bitPattern: bits)
        }

        fileprivate func noteRejected(_ count: Int) { rejected.store(count, ordering: .relaxed) }
        fileprivate func noteFraction(_ fraction: Double?) {
            fractionBits.store(fraction?.bitPattern ?? .max, ordering: .relaxed)
        }
    }

    let database: RecDatabase
    let options: ImportOptions
    private var batch = ImportBatch()
    private let deliver: (ImportBatch) throws -> Void
    private(set) var rowsRead = 0
    private(set) var rowsRejected = 0 {
        didSet { progress.noteRejected(rowsRejected) }
    }
    private(set) var rowsSkipped = 0
    private(set) var rejections: [ImportRejection] = []
    private(set) var notes: [String] = []
    /// A fraction of the input consumed, set by the format as it goes.
    public var fraction: Double? {
        didSet { progress.noteFraction(fraction) }
    }
    let progress: Progress
    /// The format's ``ImportFormat/signature``, part of every marker.
    let signature: String
    /// The input file being read, for resume markers.
    private var current: InputFile?
    /// Markers of files finished since the last batch was sealed.
    private var finishedMarkers: [ImportMarker] = []

    /// The progress of one input file.
    private struct InputFile {
        /// Nil for a stream: it has no identity and cannot be resumed.
        var identity: FileIdentity?
        /// Rows of this file handed to the sink so far.
        var rows = 0
        /// Rows at the start that an earlier run committed.
        var skip = 0
        /// Whether rows were consumed since the last sealed batch.
        var touched = false
    }

    init(
        database: RecDatabase, options: ImportOptions, signature: String, progress: Progress,
        deliver: @escaping (ImportBatch) throws -> Void
    ) {
        self.database = database
        self.progress = progress
        self.options = options
        self.signature = signature
        self.deliver = deliver
    }

    // MARK: - Input files

    /// Opens a delimited file for the format with the import's limits (``ImportOptions/stream``,
    /// ``ImportOptions/maxLineBytes``), and makes it the file the next rows belong to.
    public func openCSV(_ path: String, delimiter: Character = ",", encoding: TextEncoding = .utf8) throws -> CSVReader {
        let reader = try CSVReader(path: path, delimiter: delimiter, encoding: encoding, limits: options.inputLimits)
        try begin(path, isStream: reader.lines.isStream)
        return reader
    }

    /// Opens a text file line by line, like ``openCSV(_:delimiter:encoding:)``.
    public func openLines(_ path: String, encoding: TextEncoding = .utf8) throws -> LineReader {
        let reader = try LineReader(path: path, encoding: encoding, limits: options.inputLimits)
        try begin(path, isStream: reader.isStream)
        return reader
    }

    /// Opens a file only to look at its first rows and tell its layout; the format opens it again to read it. A
    /// stream cannot be read twice, so it is refused even with ``ImportOptions/stream``.
    public func probeCSV(_ path: String, delimiter: Character = ",", format: String) throws -> CSVReader {
        let limits = options.inputLimits
        if try LineReader.checkKind(path, limits: limits) {
            throw RecDBError(
                .invalidArgument,
                "the \(format) format reads the start of its file twice to tell its layout, and a stream can be read "
                    + "only once: save it to a file first",
                location: path)
        }
        return try CSVReader(path: path, delimiter: delimiter, limits: limits)
    }

    /// Starts a new input file: finishes the previous one's marker and looks up what an earlier run committed.
    private func begin(_ path: String, isStream: Bool) throws {
        if let current, current.touched, let marker = marker(of: current) { finishedMarkers.append(marker) }
        current = nil
        guard !isStream, let identity = try FileIdentity(path: path) else {
            current = InputFile(identity: nil)
            notes.append("\(path) is a stream: a re-run cannot skip what this run commits")
            return
        }
        var file = InputFile(identity: identity)
        let key = ImportMarker.key(path: identity.path, signature: signature)
        if let stored = try database.read({ r in try r.importMarker(key: key) }), stored.rows > 0 {
            if !options.resume {
                notes.append(
                    "\(path): an earlier run committed \(stored.rows) rows of this file; all are imported again "
                        + "(resume is off)")
            } else if stored.file == identity && stored.signature == signature {
                file.skip = stored.rows
                notes.append("\(path): skipped the first \(stored.rows) rows, committed by an earlier run of this import")
            } else {
                notes.append(
                    "\(path) changed since an earlier run committed \(stored.rows) of its rows (its size, time or first "
                        + "64 KiB differ): imported from its first row")
            }
        }
        current = file
    }

    private func marker(of file: InputFile) -> ImportMarker? {
        file.identity.map { ImportMarker(file: $0, signature: signature, rows: file.rows) }
    }

    /// Counts one row of the current file; true when an earlier run committed it, so it is skipped.
    @inline(__always)
    private func advance() -> Bool {
        rowsRead += 1
        guard current != nil else { return false }
        current!.rows += 1
        if current!.rows <= current!.skip {
            rowsSkipped += 1
            return true
        }
        current!.touched = true
        return false
    }

    // MARK: - Rows

    /// Adds one input row's records. Invalid records (unknown event type, bad ids or attributes) reject the row.
    public func row(at location: @autoclosure () -> String, _ records: [ImportRecord]) throws {
        if advance() { return }
        if let problem = validate(records) {
            try refuse(at: location(), problem.message, code: problem.code)
            return
        }
        batch.append(records, location: location)
        if batch.rows >= options.batchSize { try flush() }
    }

    /// Refuses one input row: with `skipBad` it is counted and the import goes on; otherwise the import stops here.
    public func reject(at location: String, _ reason: String) throws {
        if advance() { return }
        try refuse(at: location, reason, code: .malformedInput)
    }

    /// Refuses a row because of an error thrown while parsing it (such as invalid UTF-8). When the import stops
    /// here, it stops with that error's code.
    public func reject(_ error: RecDBError) throws {
        if advance() { return }
        try refuse(at: error.location ?? "?", error.message, code: error.code)
    }

    private func refuse(at location: String, _ reason: String, code: RecDBError.Code) throws {
        // Rows can be megabytes long; what is quoted of them stays short.
        let reason = reason.excerpt(1_000)
        rowsRejected += 1
        if rejections.count < options.keptRejections { rejections.append(ImportRejection(location: location, reason: reason)) }
        if !options.skipBad {
            throw RecDBError(
                code, reason + " (import stopped; rows before this batch are committed; --skip-bad skips such rows)",
                location: location)
        }
    }

    /// Seals the batch with the markers of the files its rows came from and hands it to the writer. A batch of
    /// rejected rows only is still written (markers alone), so a re-run skips those rows too.
    func flush() throws {
        var markers = finishedMarkers
        if let current, current.touched, let marker = marker(of: current) { markers.append(marker) }
        guard batch.rows > 0 || !markers.isEmpty else { return }
        var full = batch
        full.markers = markers
        batch = ImportBatch()
        finishedMarkers = []
        current?.touched = false
        try deliver(full)
    }

    private func validate(_ records: [ImportRecord]) -> RecDBError? {
        let types: EventTypeTable
        do { types = try database.read { try $0.eventTypes } } catch { return error as? RecDBError ?? RecDBError(.storage, "\(error)") }
        func limit(_ value: String, _ field: CatalogLimits.Field) -> RecDBError? {
            CatalogLimits.problem(value, field).map { RecDBError(.invalidArgument, $0) }
        }
        for record in records {
            switch record {
            case .item(let id, let attributes):
                if let problem = limit(id, .itemID) { return problem }
                do { try WellKnownAttribute.validate(attributes, forItem: true, owner: "item '\(id)'") } catch {
                    return error as? RecDBError ?? RecDBError(.invalidArgument, "\(error)")
                }
            case .user(let id, let attributes):
                if let problem = limit(id, .userID) { return problem }
                do { try WellKnownAttribute.validate(attributes, forItem: false, owner: "user '\(id)'") } catch {
                    return error as? RecDBError ?? RecDBError(.invalidArgument, "\(error)")
                }
            case .event(let event):
                if let problem = limit(event.user, .userID) ?? limit(event.item, .itemID) { return problem }
                if types.named(event.type) == nil {
                    let name = event.type.excerpt(64)
                    if let problem = limit(event.type, .eventType) { return problem }
                    return RecDBError(
                        .malformedInput, "unknown event type '\(name)' (define it with `recctl types set \(name)=WEIGHT`)")
                }
                if !event.value.isFinite { return RecDBError(.malformedInput, "event value is not a finite number") }
                if let session = event.session, !session.isEmpty, let problem = limit(session, .sessionID) {
                    return problem
                }
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
    /// How far each input file is once this batch commits; written in the batch's transaction.
    var markers: [ImportMarker] = []

    mutating func append(_ rowRecords: [ImportRecord], location: () -> String) {
        if rows == 0 { firstLocation = location() }
        records.append(contentsOf: rowRecords)
        rows += 1
    }
}

/// Runs imports: the format parses on one thread while batches commit on another, one write transaction per batch.
///
/// Re-runs are idempotent: each batch's transaction also records, per input file, how many of its rows are committed
/// (an `ImportMarker` keyed by the file's resolved path and the format's ``ImportFormat/signature``, and holding the
/// file's size, modification time and a CRC-32 of its first 64 KiB). A re-run of the same import over the same file
/// skips those rows, so after a crash, `kill -9` or a full disk, running the same command again imports each row
/// exactly once. A file that changed is imported from its first row. Streams (``ImportOptions/stream``) have no
/// identity and are not resumed.
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
        let progress = ImportSink.Progress()
        let producerResult = ProducerResult()
        let producer = Thread {
            // The sink lives on this thread; what the writer needs of it comes back through `producerResult`.
            let sink = ImportSink(database: database, options: options, signature: format.signature, progress: progress) {
                batch in try queue.put(batch)
            }
            var error: (any Error)?
            do {
                try format.read(into: sink)
                try sink.flush()
            } catch let thrown {
                error = thrown
            }
            let summary = ProducerResult.Summary(
                error: error, rowsRead: sink.rowsRead, rowsRejected: sink.rowsRejected, rowsSkipped: sink.rowsSkipped,
                rejections: sink.rejections, notes: sink.notes)
            producerResult.summary.withLock { $0 = summary }
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
                        for marker in batch.markers { try writer.putImportMarker(marker) }
                    }
                } catch {
                    let failure = error as? RecDBError ?? RecDBError(.io, "\(error)")
                    writeError = Self.explain(failure, batch: batch, committed: report.batchesCommitted, database: database)
                    queue.cancel()
                    break
                }
                if batch.rows == 0 { continue }
                report.rowsImported += batch.rows
                report.recordsWritten += batch.records.count
                report.batchesCommitted += 1
                options.progress?(
                    ImportProgress(
                        rowsRead: report.rowsImported + progress.rowsRejected, rowsImported: report.rowsImported,
                        rowsRejected: progress.rowsRejected, batchesCommitted: report.batchesCommitted,
                        seconds: Date().timeIntervalSince(started), fraction: progress.fraction))
            }
        }
        queue.waitUntilFinished()
        let summary = producerResult.summary.withLock { $0 }
        report.rowsRead = summary.rowsRead
        report.rowsRejected = summary.rowsRejected
        report.rowsSkipped = summary.rowsSkipped
        report.rejections = summary.rejections
        report.notes = summary.notes
        report.seconds = Date().timeIntervalSince(started)
        if let error = writeError ?? summary.error {
            var recError = error as? RecDBError ?? RecDBError(.io, "\(error)")
            // Whatever a format put in its message (a header line, a cell), the error stays short.
            recError.message = recError.message.excerpt(2_000)
            throw ImportStopped(error: recError, report: report)
        }
        return report
    }

    /// The error of a batch that failed to commit, saying which rows were not committed and, when the file system
    /// is full, that it is (``DiskSpace/classify(_:databasePath:)``).
    static func explain(_ error: RecDBError, batch: ImportBatch, committed: Int, database: RecDatabase) -> RecDBError {
        let rows = "the batch of \(batch.rows) rows starting at \(batch.firstLocation)"
        var failure = DiskSpace.classify(error, databasePath: database.environment.path)
        if failure.code == .diskFull {
            failure.message +=
                ": \(rows) was not committed; the \(committed) batches before it stay. Free some space and run the same "
                + "import again: it skips the rows already committed"
        } else {
            failure.message += " (in \(rows); not committed)"
        }
        return failure
    }
}

/// What the parsing thread hands the writing thread when it is done.
private final class ProducerResult: Sendable {
    struct Summary {
        var error: (any Error)?
        var rowsRead = 0, rowsRejected = 0, rowsSkipped = 0
        var rejections: [ImportRejection] = []
        var notes: [String] = []
    }

    let summary = Mutex(Summary())
}

/// A bounded hand-off of batches from the parsing thread to the writing thread: `spaces` counts free places,
/// `arrivals` batches put (and one wake-up for the end); the queue itself is behind a mutex.
final class BatchQueue: Sendable {
    private struct State {
        var items: [ImportBatch] = []
        var cancelled = false
    }

    private let state = Mutex(State())
    /// Free places in the queue. Made at 0 and signalled up to `capacity`: libdispatch traps when a semaphore is
    /// freed below the value it was made with, which a cancelled import leaves this one at.
    private let spaces = DispatchSemaphore(value: 0)
    private let arrivals = DispatchSemaphore(value: 0)
    private let producerDone = DispatchSemaphore(value: 0)

    init(capacity: Int) {
        for _ in 0..<capacity { spaces.signal() }
    }

    struct Cancelled: Error {}

    func put(_ batch: ImportBatch) throws {
        spaces.wait()
        let accepted = state.withLock { state in
            guard !state.cancelled else { return false }
            state.items.append(batch)
            return true
        }
        guard accepted else {
            spaces.signal()  // passes the wake-up on to the next `put`, which fails the same way
            throw Cancelled()
        }
        arrivals.signal()
    }

    /// The next batch; nil once the producer finished and every batch was taken.
    func take() -> ImportBatch? {
        arrivals.wait()
        let batch = state.withLock { state in state.items.isEmpty ? nil : state.items.removeFirst() }
        guard let batch else {
            arrivals.signal()  // the end: a later `take` returns nil at once too
            return nil
        }
        spaces.signal()
        return batch
    }

    /// The producer is done: no more batches come.
    func finish() {
        arrivals.signal()
        producerDone.signal()
    }

    func cancel() {
        state.withLock { state in
            state.cancelled = true
            state.items.removeAll()
        }
        spaces.signal()
    }

    func waitUntilFinished() {
        producerDone.wait()
        producerDone.signal()
    }
}
