import Foundation
import Logging
import NIOCore
import RecDB

/// The one writer: write statements from every connection queue here, and each batch (whatever arrived while the
/// previous commit ran, up to `maxBatch`) runs in one LMDB write transaction. A client is answered only after the
/// commit that holds its write, so an acknowledged write survives `kill -9`. Each statement runs in its own savepoint
/// (a nested LMDB transaction, ``RecDatabase/writeBatch(_:_:)``): one that fails rolls back alone — an `EVENT` that
/// created its user before failing leaves no user — and the rest of the batch commits without running again.
final class GroupCommitWriter: @unchecked Sendable {
    private struct Pending {
        var statement: PreparedStatement
        var promise: EventLoopPromise<QueryValue>
    }

    private let database: RecDatabase
    private let logger: Logger
    private let maxBatch: Int
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var stopping = false
    private var thread: Thread?
    private var finished = false

    /// Writes committed and batches run, for `STATUS`.
    private(set) var committedWrites = 0
    private(set) var batches = 0

    init(database: RecDatabase, logger: Logger, maxBatch: Int = 1024) {
        self.database = database
        self.logger = logger
        self.maxBatch = maxBatch
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "recd-writer"
        self.thread = thread
        thread.start()
    }

    /// Queues a write, its text already encoded (``RecDatabase/prepareModelInputs(for:)``, so the transaction never
    /// waits for the encoder); the promise completes after the commit that holds it (or with its error).
    func submit(_ statement: PreparedStatement, promise: EventLoopPromise<QueryValue>) {
        condition.lock()
        if stopping {
            condition.unlock()
            promise.fail(RecDBError(.invalidArgument, "the server is shutting down"))
            return
        }
        queue.append(Pending(statement: statement, promise: promise))
        condition.signal()
        condition.unlock()
    }

    /// Commits what is queued, then stops the thread. Blocks until it has.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            condition.unlock()
            commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) {
        let outcomes: [Result<QueryValue, any Error>]
        do {
            outcomes = try database.writeBatch(batch) { w, pending in try database.execute(pending.statement, in: &w) }
        } catch {
            // The commit itself failed (a full disk, an I/O error): nothing of this batch is durable.
            logger.error("write batch of \(batch.count) failed to commit: \(error)")
            outcomes = Array(repeating: .failure(error), count: batch.count)
        }
        batches += 1
        for (pending, outcome) in zip(batch, outcomes) {
            switch outcome {
            case .success(let result):
                committedWrites += 1
                pending.promise.succeed(result)
            case .failure(let error):
                pending.promise.fail(error)
            }
        }
    }
}
