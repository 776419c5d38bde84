import Foundation
import Logging
import NIOCore
import NIOPosix
import RecDB

/// What every connection of one `recd` shares: the database, the writer, the thread pools, the policy and the
/// counters.
final class ServerContext: @unchecked Sendable {
    struct Policy {
        /// Longest request line in bytes.
        var maxLineLength = 1 << 20
        /// Open connections at most; more are answered with an error and closed.
        var maxConnections = 1024
        /// Requests one connection may have in flight before the server stops reading from it.
        var maxPipelined = 256
        /// No writes or admin statements for anyone.
        var readOnly = false
        /// Peers (by uid) that may run admin statements (REFRESH, EVALUATE), besides root and the server's own uid.
        var adminUIDs: Set<UInt32> = []
    }

    let database: RecDatabase
    let writer: GroupCommitWriter
    /// Runs reads (each on its own read transaction) and query parsing, off the event loops.
    let readers: NIOThreadPool
    /// Runs admin statements one at a time.
    let adminQueue = DispatchQueue(label: "recd-admin")
    let policy: Policy
    let logger: Logger
    let startedAt = Date()
    let ownUID = UInt32(getuid())

    private let lock = NSLock()
    private var channels: [ObjectIdentifier: Channel] = [:]
    private var inFlight = 0
    private(set) var requestsServed = 0
    private(set) var connectionsAccepted = 0

    init(database: RecDatabase, policy: Policy, logger: Logger, readerThreads: Int) {
        self.database = database
        self.policy = policy
        self.logger = logger
        writer = GroupCommitWriter(database: database, logger: logger)
        readers = NIOThreadPool(numberOfThreads: readerThreads)
    }

    func start() {
        readers.start()
        writer.start()
    }

    /// May this peer run admin statements?
    func isAdmin(_ uid: UInt32?) -> Bool {
        guard let uid else { return false }
        return uid == 0 || uid == ownUID || policy.adminUIDs.contains(uid)
    }

    /// Registers a new connection; false when the limit is reached.
    func register(_ channel: Channel) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard channels.count < policy.maxConnections else { return false }
        channels[ObjectIdentifier(channel)] = channel
        connectionsAccepted += 1
        return true
    }

    func unregister(_ channel: Channel) {
        lock.lock()
        channels[ObjectIdentifier(channel)] = nil
        lock.unlock()
    }

    var connectionCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return channels.count
    }

    func requestStarted() {
        lock.lock()
        inFlight += 1
        lock.unlock()
    }

    func requestFinished() {
        lock.lock()
        inFlight -= 1
        requestsServed += 1
        lock.unlock()
    }

    var requestsInFlight: Int {
        lock.lock()
        defer { lock.unlock() }
        return inFlight
    }

    var openChannels: [Channel] {
        lock.lock()
        defer { lock.unlock() }
        return Array(channels.values)
    }

    /// The answer to `STATUS`: the daemon itself, not the data (that is `SHOW STATS`).
    func status() -> QueryValue {
        .object([
            "pid": .number(Double(getpid())), "uptime_s": .number(Date().timeIntervalSince(startedAt).rounded()),
            "connections": .number(Double(connectionCount)), "connections_accepted": .number(Double(connectionsAccepted)),
            "requests_served": .number(Double(requestsServed)), "requests_in_flight": .number(Double(requestsInFlight)),
            "writes_committed": .number(Double(writer.committedWrites)), "write_batches": .number(Double(writer.batches)),
            "database": .string(database.path), "read_only": .bool(policy.readOnly),
        ])
    }
}
