import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Long jobs (an index build, a model refresh) write their partial results before they switch to them. Two guards keep
/// two runs of one job apart:
/// - in this process, ``JobRegistry`` (one job of a name per database at a time; a second fails with
///   ``RecDBError/Code/busy``);
/// - across processes, a lease in `meta` (`job:NAME` → process id), which also tells the clean-up at open to remove
///   partial results only when the process that wrote them is gone (it crashed or was killed).
///
/// The lease is taken in a write transaction, which may do the job's first step too (a refresh reserves its
/// generation there), and is released only by its owner: the process it names, under the registry's claim.
extension RecDatabase {
    static func jobKey(_ name: String) -> String { "job:" + name }

    /// Claims job `name` in this process, takes its lease and runs `start` in the same write transaction; fails with
    /// `busy` when this process or another live one runs the job. Returns the claim and what `start` returned.
    func beginJob<R>(_ name: String, _ start: (inout CatalogWriter) throws -> R) throws -> (JobTicket, R) {
        let ticket = try JobRegistry.shared.claim(name, path: path)
        do {
            let started = try write { w in
                var txn = WriteTransaction(continuing: w.handle)
                if let holder = try schema.meta.get(Self.jobKey(name), in: txn).flatMap(Self.leaseHolder),
                    holder != getpid(), Self.isAlive(holder)
                {
                    throw RecDBError(
                        .busy, "\(JobRegistry.subject(of: name)) is busy: job \(name) is running in process \(holder)",
                        location: path)
                }
                var writer = BinaryWriter()
                writer.write(UInt32(bitPattern: getpid()))
                try schema.meta.put(Self.jobKey(name), writer.bytes, in: &txn)
                return try start(&w)
            }
            return (ticket, started)
        } catch {
            JobRegistry.shared.release(ticket)
            throw error
        }
    }

    /// Gives the lease back, if this process holds it, and then the claim.
    func endJob(_ ticket: JobTicket) {
        _ = try? environment.write { txn in
            let key = Self.jobKey(ticket.name)
            if try schema.meta.get(key, in: txn).flatMap(Self.leaseHolder) == getpid() {
                try schema.meta.delete(key, in: &txn)
            }
        }
        JobRegistry.shared.release(ticket)
    }

    /// Runs `body` holding job `name` (claim and lease), with what `start` returned in the transaction that took the
    /// lease.
    func withJob<S, R>(
        _ name: String, start: (inout CatalogWriter) throws -> S, _ body: (JobTicket, S) throws -> R
    ) throws -> R {
        let (ticket, started) = try beginJob(name, start)
        defer { endJob(ticket) }
        return try body(ticket, started)
    }

    /// Runs `body` holding job `name` (claim and lease).
    func withJob<R>(_ name: String, _ body: () throws -> R) throws -> R {
        try withJob(name, start: { _ in () }) { _, _ in try body() }
    }

    /// Whether job `name` runs: in this process under a claim other than `except`, or in another live process.
    func isJobRunning<T: Transaction & ~Copyable>(
        _ name: String, in txn: borrowing T, except: JobTicket? = nil
    ) throws -> Bool {
        if JobRegistry.shared.isRunning(name, path: path, except: except) { return true }
        guard let holder = try schema.meta.get(Self.jobKey(name), in: txn).flatMap(Self.leaseHolder) else { return false }
        return holder != getpid() && Self.isAlive(holder)
    }

    private static func leaseHolder(_ bytes: [UInt8]) -> pid_t? {
        guard bytes.count == 4 else { return nil }
        return pid_t(bitPattern: bytes.withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) })
    }

    private static func isAlive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    static func indexJob(_ space: String, _ kind: VectorKind) -> String { "index:\(space):\(kind)" }
    static func refreshJob(_ model: String) -> String { "refresh:\(model)" }
}
