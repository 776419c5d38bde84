import Foundation
import Logging
import NIOCore
import RecDB
import Synchronization

/// The one writer: write statements from every connection queue here, and each batch (whatever arrived while the
/// previous commit ran, up to `maxBatch`) runs in one LMDB write transaction. A client is answered only after the
/// commit that holds its write, so an acknowledged write survives `kill -9`. Each statement runs in its own savepoint
/// (a nested LMDB transaction, ``RecDatabase/writeBatch(_:_:)``): one that fails rolls back alone — an `EVENT` that
/// created its user before failing leaves no user — and the rest of the batch commits without running again.
final class GroupCommitWriter: Sendable {
    /// A write waiting for its batch. A replicated one carries its log sequence and accepted time (see ``Replica``);
    /// an entry that does not parse has no statement and only moves the applied sequence on.
    struct Pending: Sendable {
        var statement: PreparedStatement?
        var complete: @Sendable (Result<QueryValue, any Error>) -> Void
        var streamSequence: UInt64? = nil
        var acceptedAt: Timestamp? = nil
    }

    /// Writes committed and batches run, for `STATUS`.
    struct Counters {
        var committedWrites = 0
        var batches = 0
    }

    private struct State {
        var queue: [Pending] = []
        var stopping = false
        var finished = false
        var counters = Counters()
    }

    private let database: RecDatabase
    private let logger: Logger
    private let maxBatch: Int
    /// Called with the size of each committed batch (the metrics' histogram).
    private let batchCommitted: @Sendable (Int) -> Void
    private let state = Mutex(State())
    /// Signalled once per queued write and once by `stop`; the writer thread sleeps on it while the queue is empty.
    private let wake = DispatchSemaphore(value: 0)
    /// Signalled with `wake` by writes and `stop` (not by impressions): ends the writer's wait for impressions' company.
    private let writeArrived = DispatchSemaphore(value: 0)
    /// Signalled when the writer thread has committed everything and returned.
    private let exited = DispatchSemaphore(value: 0)

    /// How long queued impressions wait for company before a commit of their own (a write takes them at once).
    private let impressionDelay: DispatchTimeInterval

    init(
        database: RecDatabase, logger: Logger, maxBatch: Int = 1024,
        impressionDelay: DispatchTimeInterval = .milliseconds(50),
        batchCommitted: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.database = database
        self.logger = logger
        self.maxBatch = maxBatch
        self.impressionDelay = impressionDelay
        self.batchCommitted = batchCommitted
    }

    /// Writes committed and batches run so far, read together.
    var counters: Counters { state.withLock { $0.counters } }

    /// Writes waiting for the writer thread.
    var queueDepth: Int { state.withLock { $0.queue.count } }

    func start() {
        // Reads in experiments queue their impressions for the next batch instead of committing them themselves.
        database.impressions.deferToWriter { [wake] in wake.signal() }
        let thread = Thread { [self] in run() }
        thread.name = "recd-writer"
        thread.start()
    }

    /// Queues a write, its text already encoded (``RecDatabase/prepareModelInputs(for:)``, so the transaction never
    /// waits for the encoder); the promise completes after the commit that holds it (or with its error).
    func submit(_ statement: PreparedStatement, promise: EventLoopPromise<QueryValue>) {
        submit(Pending(statement: statement, complete: { promise.completeWith($0) }))
    }

    /// Queues a write; `pending.complete` runs after the commit that holds it (or with its error).
    func submit(_ pending: Pending) {
        let accepted = state.withLock { state in
            guard !state.stopping else { return false }
            state.queue.append(pending)
            return true
        }
        guard accepted else {
            pending.complete(.failure(RecDBError(.invalidArgument, "the server is shutting down")))
            return
        }
        writeArrived.signal()
        wake.signal()
    }

    /// Commits what is queued, then stops the thread. Blocks until it has.
    func stop() {
        let alreadyFinished = state.withLock { state in
            state.stopping = true
            return state.finished
        }
        guard !alreadyFinished else { return }
        writeArrived.signal()
        wake.signal()
        exited.wait()
        exited.signal()  // lets any other caller of `stop` through too
    }

    private func run() {
        while true {
            wake.wait()
            // Impressions alone wait up to `impressionDelay` for more (or for a write to carry them), so reads in
            // experiments cost one commit per delay rather than one per few reads.
            var waitedForImpressions = false
            // A wake-up may find the queue already drained by an earlier turn: take what is there, or nothing.
            while true {
                let (batch, done): ([Pending], Bool) = state.withLock { state in
                    if state.queue.isEmpty {
                        if state.stopping { state.finished = true }
                        return ([], state.stopping)
                    }
                    let batch = Array(state.queue.prefix(maxBatch))
                    state.queue.removeFirst(batch.count)
                    return (batch, false)
                }
                if batch.isEmpty && database.impressions.pendingCount > 0 {
                    if !waitedForImpressions && !done {
                        waitedForImpressions = true
                        while writeArrived.wait(timeout: .now()) == .success {}  // writes already taken
                        if state.withLock({ $0.queue.isEmpty && !$0.stopping }) {
                            _ = writeArrived.wait(timeout: .now() + impressionDelay)  // a write or `stop` ends it
                        }
                        continue
                    }
                    commit([])  // impressions alone (the batch writes them first)
                    waitedForImpressions = false
                    continue
                }
                if done {
                    exited.signal()
                    return
                }
                if batch.isEmpty { break }
                commit(batch)
            }
        }
    }

    private func commit(_ batch: [Pending]) {
        let outcomes: [Result<QueryValue, any Error>]
        do {
            // A replicated batch records the last log sequence it holds in its own transaction.
            let applied = batch.compactMap(\.streamSequence).max()
            outcomes = try database.writeBatch(batch) { w, pending in
                guard let statement = pending.statement else { return QueryValue.null }
                return try Timestamp.$pinned.withValue(pending.acceptedAt) { try database.execute(statement, in: &w) }
            } finally: { w in
                if let applied { try w.recordAppliedStreamSequence(applied) }
            }
        } catch {
            // The commit itself failed (a full disk, an I/O error): nothing of this batch is durable.
            logger.error("write batch of \(batch.count) failed to commit: \(error)")
            outcomes = Array(repeating: .failure(error), count: batch.count)
        }
        let committed = outcomes.count { if case .success = $0 { true } else { false } }
        batchCommitted(batch.count)
        state.withLock { state in
            state.counters.batches += 1
            state.counters.committedWrites += committed
        }
        for (pending, outcome) in zip(batch, outcomes) { pending.complete(outcome) }
    }
}
