import Foundation
import Logging
import NIOCore
import NIOPosix
import RecDB

/// What every connection of one `recd` shares: the database, the writer, the work lanes, the policy and the
/// counters.
final class ServerContext: @unchecked Sendable {
    struct Policy {
        /// Longest request line in bytes.
        var maxLineLength = 1 << 20
        /// Open connections at most; more are answered with `too_many_connections` and closed.
        var maxConnections = 1024
        /// Requests one connection may have in flight before the server stops reading from it.
        var maxPipelined = 256
        /// No writes or admin statements for anyone.
        var readOnly = false
        /// Who may do what.
        var roles = RoleTable()
        /// How much work one statement may ask for.
        var limits = RequestLimits.standard
        /// How long a read may take, queueing included, before it stops and answers `timeout`.
        var readDeadline: Duration = .seconds(5)
        /// Heavy reads (language model, encoder, big blends) waiting or running at most; more are answered `busy`.
        var heavyQueueLimit = 16
    }

    let database: RecDatabase
    let writer: GroupCommitWriter
    /// Runs light reads (each on its own read transaction) and the parsing of long statements, off the event loops.
    let readers: NIOThreadPool
    /// Runs heavy reads, one at a time, so that light reads never wait behind them.
    let heavyReaders: NIOThreadPool
    /// Runs admin statements and scheduled refreshes one at a time (see ``RefreshScheduler``).
    let adminQueue = DispatchQueue(label: "recd-admin")
    let policy: Policy
    let logger: Logger
    let startedAt = Date()

    private let lock = NSLock()
    private var channels: [ObjectIdentifier: Channel] = [:]
    private var controls: [ObjectIdentifier: RequestControl] = [:]
    private var inFlight = 0
    private var heavyInFlight = 0
    private var draining = false
    private(set) var requestsServed = 0
    private(set) var connectionsAccepted = 0
    private(set) var connectionsRefused = 0

    init(database: RecDatabase, policy: Policy, logger: Logger, readerThreads: Int) {
        self.database = database
        self.policy = policy
        self.logger = logger
        writer = GroupCommitWriter(database: database, logger: logger)
        readers = NIOThreadPool(numberOfThreads: readerThreads)
        heavyReaders = NIOThreadPool(numberOfThreads: 1)
    }

    func start() {
        readers.start()
        heavyReaders.start()
        writer.start()
    }

    // MARK: - Connections

    /// Registers a new connection; false when the limit is reached.
    func register(_ channel: Channel) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard channels.count < policy.maxConnections, !draining else {
            connectionsRefused += 1
            return false
        }
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

    var openChannels: [Channel] {
        lock.lock()
        defer { lock.unlock() }
        return Array(channels.values)
    }

    // MARK: - Requests

    /// Counts a request in; nil when the server is draining (shutting down) and takes no new work.
    func requestStarted() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        inFlight += 1
        return !draining
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

    /// Tracks a running request's control, so shutdown can cancel it.
    func track(_ control: RequestControl) {
        lock.lock()
        controls[ObjectIdentifier(control)] = control
        lock.unlock()
    }

    func untrack(_ control: RequestControl) {
        lock.lock()
        controls[ObjectIdentifier(control)] = nil
        lock.unlock()
    }

    /// Stops taking new requests (they are answered `shutting_down`).
    func beginDraining() {
        lock.lock()
        draining = true
        lock.unlock()
    }

    /// Cancels every request still running.
    func cancelAll() {
        lock.lock()
        let running = Array(controls.values)
        lock.unlock()
        for control in running { control.cancel() }
    }

    /// Reserves a place for a heavy read; false when the heavy lane is full.
    func enterHeavyLane() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard heavyInFlight < policy.heavyQueueLimit else { return false }
        heavyInFlight += 1
        return true
    }

    func leaveHeavyLane() {
        lock.lock()
        heavyInFlight -= 1
        lock.unlock()
    }

    /// The answer to `STATUS`: the daemon itself, not the data (that is `SHOW STATS`).
    func status(role: Role) -> QueryValue {
        lock.lock()
        let heavy = heavyInFlight, refused = connectionsRefused
        lock.unlock()
        return .object([
            "pid": .number(Double(getpid())), "uptime_s": .number(Date().timeIntervalSince(startedAt).rounded()),
            "connections": .number(Double(connectionCount)), "connections_accepted": .number(Double(connectionsAccepted)),
            "connections_refused": .number(Double(refused)),
            "requests_served": .number(Double(requestsServed)), "requests_in_flight": .number(Double(requestsInFlight)),
            "heavy_in_flight": .number(Double(heavy)),
            "writes_committed": .number(Double(writer.committedWrites)), "write_batches": .number(Double(writer.batches)),
            "database": .string(database.path), "read_only": .bool(policy.readOnly), "role": .string(role.description),
        ])
    }
}
