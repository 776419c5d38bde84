import Foundation
import Logging
import NIOCore
import RecDB
import RecReplication
import RecWire
import Synchronization

/// recd as one node of a replicated cluster (`recd --replicate nats://…`): the writes it accepts go to a JetStream
/// stream instead of its own writer, and every node — this one included — applies the stream in order through its
/// group-commit writer.
///
/// - A client's write is published as a ``LogEntry`` (text, parameters, the time accepted here) and answered once
///   JetStream has acknowledged it (stored on a quorum) *and* this node has applied it; the answer carries the
///   entry's stream sequence as `"seq"`.
/// - The apply loop reads the stream with an ordered consumer from the sequence after the one this database
///   recorded, runs each entry at its accepted time (``Timestamp/pinned``) so every node writes the same bytes, and
///   the writer records the batch's last sequence in the same LMDB transaction
///   (``CatalogWriter/recordAppliedStreamSequence(_:)``): a restart, or a node restored from a backup, resumes
///   exactly after it.
/// - A read with `"min_seq": N` waits (up to the read deadline) until this node has applied N: read-your-writes on
///   any node.
final class Replica: Sendable {
    /// Where the log lives and who this node is.
    struct Settings: Sendable {
        var servers: [String]
        var stream = "recdb"
        var nodeID: String
        var replicas = 3
        /// Ship each refreshed generation from the node that trained it (``GenerationShipping``) instead of every
        /// node retraining (`--ship-generations`).
        var shipGenerations = false
        /// The subject the stream stores: the stream's name + `.writes`.
        var subject: String { stream + ".writes" }
    }

    private struct Accepted {
        var promise: EventLoopPromise<QueryValue>
        var acknowledged: UInt64?
        var applied: (sequence: UInt64, outcome: Result<QueryValue, any Error>)?
    }

    private struct Waiter {
        var id: Int
        var sequence: UInt64
        var promise: EventLoopPromise<Void>
    }

    private struct State {
        var applied: UInt64 = 0
        var submitted: UInt64 = 0
        var nextWrite = 0
        var nextWaiter = 0
        var accepted: [String: Accepted] = [:]
        var waiters: [Waiter] = []
        var stopping = false
        var entriesApplied = 0
        var publishFailures = 0
        /// Milliseconds from acceptance (on any node) to commit here, for the last 4,096 entries.
        var lags: [Double] = []
        var lagCursor = 0
        /// By model, the answer of its last replicated `REFRESH` here (how the node got the generation, seconds).
        var refreshes: [String: QueryValue] = [:]
    }

    let settings: Settings
    private let jetStream: JetStream
    /// Set with ``Settings/shipGenerations``.
    private let shipping: GenerationShipping?
    private let database: RecDatabase
    private let writer: GroupCommitWriter
    private let limits: RequestLimits
    private let logger: Logger
    /// Random per process start: write ids stay unique across restarts of one node.
    private let bootID = String(UInt32.random(in: 0 ... .max), radix: 36)
    private let state = Mutex(State())
    private let exited = DispatchSemaphore(value: 0)

    init(
        jetStream: JetStream, settings: Settings, database: RecDatabase, writer: GroupCommitWriter,
        limits: RequestLimits, logger: Logger
    ) throws {
        self.jetStream = jetStream
        self.settings = settings
        self.database = database
        self.writer = writer
        self.limits = limits
        self.logger = logger
        shipping = settings.shipGenerations
            ? try GenerationShipping(jetStream: jetStream, writeStream: settings.stream, replicas: settings.replicas) : nil
        let applied = try database.appliedStreamSequence
        state.withLock {
            $0.applied = applied
            $0.submitted = applied
        }
    }

    /// Starts the apply loop (after the writer has started).
    func start() {
        let thread = Thread { [self] in applyLoop() }
        thread.name = "recd-replica"
        thread.start()
    }

    /// Stops the apply loop and fails the writes and reads still waiting on it (`shutting_down`).
    func stop() {
        let (accepted, waiters) = state.withLock { state in
            state.stopping = true
            defer {
                state.accepted.removeAll()
                state.waiters.removeAll()
            }
            return (Array(state.accepted.values), state.waiters)
        }
        exited.wait()
        exited.signal()
        let error = RecDBError(.shuttingDown, "the server is shutting down")
        for write in accepted { write.promise.fail(error) }
        for waiter in waiters { waiter.promise.fail(error) }
        jetStream.close()
    }

    /// `--refresh-every` on this cluster: `REFRESH` entries published once per slot for all nodes
    /// (``ScheduledRefreshes``), not started.
    func scheduledRefreshes(models: [String], every interval: TimeInterval) -> ScheduledRefreshes {
        ScheduledRefreshes(
            jetStream: jetStream, subject: settings.subject, nodeID: settings.nodeID, models: models, every: interval
        ) { [logger] problem in logger.warning("\(problem)") }
    }

    /// The last stream sequence this node has applied and committed.
    var appliedSequence: UInt64 { state.withLock { $0.applied } }

    // MARK: - Accepting writes

    /// Publishes a client's write to the stream; the future completes with its result plus `"seq"` once JetStream
    /// has acknowledged it and this node has applied it, or fails (`unavailable`) when the stream cannot store it.
    func publish(
        _ query: String, parameters: [String: QueryValue], on eventLoop: any EventLoop
    ) -> EventLoopFuture<QueryValue> {
        let promise = eventLoop.makePromise(of: QueryValue.self)
        let id: String? = state.withLock { state in
            guard !state.stopping else { return nil }
            state.nextWrite += 1
            let id = "\(settings.nodeID)-\(bootID)-\(state.nextWrite)"
            state.accepted[id] = Accepted(promise: promise)
            return id
        }
        guard let id else {
            promise.fail(RecDBError(.shuttingDown, "the server is shutting down"))
            return promise.futureResult
        }
        let entry = LogEntry(
            query: query, parameters: parameters, acceptedAt: .now, origin: settings.nodeID, writeID: id)
        jetStream.publish(subject: settings.subject, payload: entry.encoded, messageID: id) { [self] result in
            switch result {
            case .success(let sequence): settle(id) { $0.acknowledged = sequence }
            case .failure(let error):
                state.withLock { $0.publishFailures += 1 }
                failUnlessApplied(id, error)
            }
        }
        return promise.futureResult
    }

    /// Updates an accepted write and answers its client once it is both acknowledged and applied.
    private func settle(_ id: String, _ change: (inout Accepted) -> Void) {
        let done: Accepted? = state.withLock { state in
            guard var write = state.accepted[id] else { return nil }
            change(&write)
            guard write.acknowledged != nil, write.applied != nil else {
                state.accepted[id] = write
                return nil
            }
            state.accepted[id] = nil
            return write
        }
        guard let done, let (sequence, outcome) = done.applied else { return }
        switch outcome {
        case .success(let value): done.promise.succeed(Self.adding(sequence: sequence, to: value))
        case .failure(let error): done.promise.fail(error)
        }
    }

    /// A publish that JetStream never acknowledged fails, unless this node already applied it (then the stream has
    /// it: a consumer only sees stored messages).
    private func failUnlessApplied(_ id: String, _ error: RecDBError) {
        let failed: Accepted? = state.withLock { state in
            guard let write = state.accepted[id], write.applied == nil else { return nil }
            state.accepted[id] = nil
            return write
        }
        if let failed {
            failed.promise.fail(error)
        } else {
            settle(id) { $0.acknowledged = $0.acknowledged ?? $0.applied?.sequence }
        }
    }

    private static func adding(sequence: UInt64, to value: QueryValue) -> QueryValue {
        guard case .object(var members) = value else { return ["result": value, "seq": .number(Double(sequence))] }
        members["seq"] = .number(Double(sequence))
        return .object(members)
    }

    // MARK: - Read-your-writes

    /// Completes once this node has applied `sequence`; fails with `timeout` after `deadline`.
    func waitForSequence(_ sequence: UInt64, deadline: Duration, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let waiter: Int? = state.withLock { state in
            guard state.applied < sequence else { return nil }
            state.nextWaiter += 1
            state.waiters.append(Waiter(id: state.nextWaiter, sequence: sequence, promise: promise))
            return state.nextWaiter
        }
        guard let waiter else {
            promise.succeed(())
            return promise.futureResult
        }
        let milliseconds = deadline.components.seconds * 1000 + deadline.components.attoseconds / 1_000_000_000_000_000
        eventLoop.scheduleTask(in: .milliseconds(milliseconds)) { [self] in
            let (expired, applied) = state.withLock { state in
                let index = state.waiters.firstIndex { $0.id == waiter }
                if let index { state.waiters.remove(at: index) }
                return (index != nil, state.applied)
            }
            guard expired else { return }
            promise.fail(
                RecDBError(
                    .timeout,
                    "node \(settings.nodeID) has applied stream sequence \(applied); waited \(milliseconds) ms for \(sequence)"))
        }
        return promise.futureResult
    }

    // MARK: - Applying the stream

    private func applyLoop() {
        var next = state.withLock { $0.applied } + 1
        var consumer: OrderedConsumer?
        logger.info("replica \(settings.nodeID): applying stream '\(settings.stream)' from sequence \(next)")
        while !state.withLock({ $0.stopping }) {
            do {
                if consumer == nil {
                    consumer = try jetStream.orderedConsumer(stream: settings.stream, subject: settings.subject, from: next)
                }
                guard let message = try consumer!.next(timeoutMilliseconds: 200) else { continue }
                guard message.sequence >= next else { continue }  // delivered again after a consumer reset
                if message.sequence > next {
                    // The stream no longer holds what this database lacks (its retention removed it): applying on
                    // would leave this node different from the others for good.
                    logger.critical(
                        """
                        replica \(settings.nodeID): the database has applied stream '\(settings.stream)' up to \(next - 1) \
                        but the stream resumes at \(message.sequence); restore a newer backup (recctl backup of another \
                        node) and start again; exiting
                        """)
                    exit(76)
                }
                apply(message)
                next = message.sequence + 1
                throttle()
            } catch {
                logger.warning("replica \(settings.nodeID): \(error); reopening the consumer from \(next)")
                consumer?.close()
                consumer = nil
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        consumer?.close()
        exited.signal()
    }

    /// Hands one entry to the writer; an entry that does not parse still moves the applied sequence on (it fails
    /// the same way on every node, and its client is told why).
    private func apply(_ message: StreamMessage) {
        var entry: LogEntry?
        var statement: PreparedStatement?
        var failure: (any Error)?
        do {
            let decoded = try LogEntry(decoding: message.payload)
            entry = decoded
            let parsed = try Timestamp.$pinned.withValue(decoded.acceptedAt) {
                try database.prepare(decoded.query, parameters: decoded.parameters, limits: limits)
            }
            if parsed.isRefresh {
                return refresh(parsed, entry: decoded, sequence: message.sequence)
            }
            guard parsed.kind == .write else {
                throw RecDBError(.invalidArgument, "stream sequence \(message.sequence) is not a write statement")
            }
            statement = parsed.needsModelInputs ? try database.prepareModelInputs(for: parsed) : PreparedStatement(parsed)
        } catch {
            failure = error
            if entry == nil { logger.error("stream sequence \(message.sequence) is not a log entry: \(error)") }
        }
        let sequence = message.sequence
        let mine = entry?.origin == settings.nodeID ? entry?.writeID : nil
        let acceptedAt = entry?.acceptedAt
        let rejected = failure
        state.withLock { $0.submitted = sequence }
        writer.submit(
            GroupCommitWriter.Pending(
                statement: statement,
                complete: { [self] outcome in
                    applied(sequence, writeID: mine, acceptedAt: acceptedAt, outcome: rejected.map { .failure($0) } ?? outcome)
                }, streamSequence: sequence, acceptedAt: acceptedAt))
    }

    /// `REFRESH MODEL …` from the log: trains once everything before it is committed, at its accepted time, so
    /// every node trains on the same events with the same clock and serves the same model. The apply loop waits
    /// meanwhile (the log's later entries queue in JetStream); then the writer records the sequence.
    private func refresh(_ statement: Statement, entry: LogEntry, sequence: UInt64) {
        while state.withLock({ $0.applied < sequence - 1 && !$0.stopping }) { usleep(1_000) }
        let outcome = Result<QueryValue, any Error> {
            // One-thread index builds: every node builds the same graph and serves the same answers.
            try Timestamp.$pinned.withValue(entry.acceptedAt) {
                try RecDatabase.$reproducibleIndexBuilds.withValue(true) {
                    let train = { try self.database.execute(statement, control: RequestControl()) }
                    guard let shipping, let model = statement.refreshedModel else { return try train() }
                    let answer = try shipping.refresh(
                        model: model, in: database, id: entry.writeID, trainsHere: entry.origin == settings.nodeID,
                        acceptedAt: entry.acceptedAt, train: train)
                    logger.info("replica \(settings.nodeID): REFRESH \(model) at \(sequence): \(answer.jsonText)")
                    state.withLock { $0.refreshes[model] = answer }
                    return answer
                }
            }
        }
        let mine = entry.origin == settings.nodeID ? entry.writeID : nil
        state.withLock { $0.submitted = sequence }
        writer.submit(
            GroupCommitWriter.Pending(
                statement: nil,
                complete: { [self] committed in
                    if case .failure = committed {
                        applied(sequence, writeID: mine, acceptedAt: entry.acceptedAt, outcome: committed)
                    } else {
                        applied(sequence, writeID: mine, acceptedAt: entry.acceptedAt, outcome: outcome)
                    }
                }, streamSequence: sequence, acceptedAt: entry.acceptedAt))
    }

    /// Keeps the writer's queue short during a long catch-up.
    private func throttle() {
        while state.withLock({ $0.submitted - $0.applied > 4096 && !$0.stopping }) { usleep(1_000) }
    }

    /// After the commit that holds `sequence`: moves the applied sequence on, wakes the reads waiting for it and
    /// answers the write's client when this node accepted it.
    private func applied(
        _ sequence: UInt64, writeID: String?, acceptedAt: Timestamp?, outcome: Result<QueryValue, any Error>
    ) {
        if case .failure(let error) = outcome, (try? database.appliedStreamSequence).map({ $0 < sequence }) ?? true {
            // The batch's commit failed (a full disk, an I/O error) while the loop has read on: stop here, so that a
            // restart applies the stream again from the sequence the database recorded.
            logger.critical("replica \(settings.nodeID): the commit of stream sequence \(sequence) failed (\(error)); exiting")
            exit(75)
        }
        let lag = acceptedAt.map { Double(Timestamp.now.milliseconds - $0.milliseconds) }
        let ready: [Waiter] = state.withLock { state in
            state.applied = max(state.applied, sequence)
            state.entriesApplied += 1
            if let lag {
                if state.lags.count < 4096 { state.lags.append(lag) } else { state.lags[state.lagCursor] = lag }
                state.lagCursor = (state.lagCursor + 1) % 4096
            }
            let applied = state.applied
            let ready = state.waiters.filter { $0.sequence <= applied }
            state.waiters.removeAll { $0.sequence <= applied }
            return ready
        }
        for waiter in ready { waiter.promise.succeed(()) }
        if let writeID { settle(writeID) { $0.applied = (sequence, outcome) } }
    }

    // MARK: - Status

    /// The `replication` member of `STATUS`.
    var status: QueryValue {
        let now = state.withLock { $0 }
        let sorted = now.lags.sorted()
        func percentile(_ p: Double) -> QueryValue {
            sorted.isEmpty ? .null : .number(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
        }
        return .object([
            "node_id": .string(settings.nodeID), "stream": .string(settings.stream),
            "applied_seq": .number(Double(now.applied)), "entries_applied": .number(Double(now.entriesApplied)),
            "writes_waiting": .number(Double(now.accepted.count)),
            "publish_failures": .number(Double(now.publishFailures)),
            "lag_p50_ms": percentile(0.5), "lag_p99_ms": percentile(0.99), "refreshes": .object(now.refreshes),
        ])
    }
}
