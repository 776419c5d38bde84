import Foundation
import Logging
import NIOCore
import RecDB

/// The one writer: write statements from every connection queue here, and each batch (whatever arrived while the
/// previous commit ran, up to `maxBatch`) runs in one LMDB write transaction. A client is answered only after the
/// commit that holds its write, so an acknowledged write survives `kill -9`. A statement that fails aborts the
/// transaction; the batch then runs again without it, so one bad write fails alone.
final class GroupCommitWriter: @unchecked Sendable {
    private struct Pending {
        var statement: Statement
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

    /// Queues a write; the promise completes after the commit that holds it (or with its error).
    func submit(_ statement: Statement, promise: EventLoopPromise<QueryValue>) {
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

    private struct StatementFailed: Error {
        var index: Int
        var error: Error
    }

    private func commit(_ batch: [Pending]) {
        var failed: [Int: Error] = [:]
        var results: [Int: QueryValue] = [:]
        while true {
            do {
                // The body runs again when the map grows (a full map is noted where LMDB reports it, so wrapping the
                // statement's error below does not hide it): start each run afresh.
                try database.write { w in
                    results.removeAll(keepingCapacity: true)
                    for (index, pending) in batch.enumerated() where failed[index] == nil {
                        do {
                            results[index] = try database.execute(pending.statement, in: &w)
                        } catch {
                            throw StatementFailed(index: index, error: error)
                        }
                    }
                }
                break
            } catch let failure as StatementFailed {
                failed[failure.index] = failure.error
                if failed.count == batch.count { break }
            } catch {
                // The commit itself failed (a full disk, an I/O error): nothing of this batch is durable.
                logger.error("write batch of \(batch.count) failed to commit: \(error)")
                for index in batch.indices where failed[index] == nil { failed[index] = error }
                results.removeAll()
                break
            }
        }
        batches += 1
        committedWrites += results.count
        for (index, pending) in batch.enumerated() {
            if let result = results[index] {
                pending.promise.succeed(result)
            } else {
                pending.promise.fail(failed[index] ?? RecDBError(.storage, "the write was not committed"))
            }
        }
    }
}
