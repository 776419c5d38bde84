import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Long jobs (an index build, a model refresh) write their partial results before they switch to them. A lease in
/// `meta` (`job:NAME` → process id) tells other processes that such a job is running, so that the clean-up at open
/// removes partial results only when the process that wrote them is gone (it crashed or was killed).
extension RecDatabase {
    static func jobKey(_ name: String) -> String { "job:" + name }

    /// Takes the lease for job `name`; fails when a live process holds it.
    func beginJob(_ name: String) throws {
        try environment.write { txn in
            if let holder = try schema.meta.get(Self.jobKey(name), in: txn).flatMap(Self.leaseHolder),
                holder != getpid(), Self.isAlive(holder)
            {
                throw RecDBError(.alreadyExists, "\(name) is already running in process \(holder)", location: path)
            }
            var writer = BinaryWriter()
            writer.write(UInt32(bitPattern: getpid()))
            try schema.meta.put(Self.jobKey(name), writer.bytes, in: &txn)
        }
    }

    /// Gives the lease back.
    func endJob(_ name: String) {
        _ = try? environment.write { txn in try schema.meta.delete(Self.jobKey(name), in: &txn) }
    }

    /// Runs `body` holding the lease for job `name`.
    func withJob<R>(_ name: String, _ body: () throws -> R) throws -> R {
        try beginJob(name)
        defer { endJob(name) }
        return try body()
    }

    /// Whether a live process other than this one holds the lease for job `name`.
    func isJobRunningElsewhere<T: Transaction & ~Copyable>(_ name: String, in txn: borrowing T) throws -> Bool {
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
