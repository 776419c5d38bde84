import Foundation
import Logging
import NIOCore
import NIOPosix
import RecDB
import RecReplication
import Synchronization

/// What every connection of one `recd` shares: the database, the writer, the work lanes, the policy and the
/// counters.
final class ServerContext: Sendable {
    struct Policy: Sendable {
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
        /// Where light reads run: on the connection's event loop (no thread hop) or on the reader pool.
        var lightReads = LightReads.inline
    }

    /// Where light reads run (`recd --light-reads`).
    enum LightReads: String, Sendable, CaseIterable {
        /// On the event loop that read the request: no hand-over to another thread and back, so no wake-ups and
        /// context switches per request. A light read takes about a tenth of a millisecond; heavy reads never run
        /// here (they have their own lane), so a loop is never held for long.
        case inline
        /// On the reader pool (`--threads` threads, at least 2), as before: an event loop only frames and answers.
        case pool
    }

    let database: RecDatabase
    let writer: GroupCommitWriter
    /// This node of a replicated cluster (`recd --replicate`): writes go through the stream; nil when alone.
    let replica: Replica?
    /// Runs light reads (each on its own read transaction) and the parsing of long statements, off the event loops.
    let readers: NIOThreadPool
    /// Runs heavy reads, one at a time, so that light reads never wait behind them.
    let heavyReaders: NIOThreadPool
    /// Runs admin statements and scheduled refreshes one at a time (see ``RefreshScheduler``).
    let adminQueue = DispatchQueue(label: "recd-admin")
    let policy: Policy
    let logger: Logger
    let startedAt = Date()
    /// What `--metrics` exports (counted whether or not it is served).
    let metrics = DaemonMetrics()

    /// What connections and requests change: every read and write of it holds the lock, `STATUS` included.
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var controls: [ObjectIdentifier: RequestControl] = [:]
        var inFlight = 0
        var heavyInFlight = 0
        var draining = false
        var requestsServed = 0
        var connectionsAccepted = 0
        var connectionsRefused = 0
    }

    private let state = Mutex(State())

    init(
        database: RecDatabase, policy: Policy, logger: Logger, readerThreads: Int,
        replication: (JetStream, Replica.Settings)? = nil
    ) throws {
        self.database = database
        self.policy = policy
        self.logger = logger
        let metrics = self.metrics
        writer = GroupCommitWriter(database: database, logger: logger) { metrics.batchCommitted(size: $0) }
        replica = try replication.map { [writer] in
            try Replica(
                jetStream: $0.0, settings: $0.1, database: database, writer: writer, limits: policy.limits, logger: logger)
        }
        readers = NIOThreadPool(numberOfThreads: readerThreads)
        heavyReaders = NIOThreadPool(numberOfThreads: 1)
    }

    func start() {
        readers.start()
        heavyReaders.start()
        writer.start()
        replica?.start()
    }

    // MARK: - Connections

    /// Registers a new connection; false when the limit is reached.
    func register(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard state.channels.count < policy.maxConnections, !state.draining else {
                state.connectionsRefused += 1
                return false
            }
            state.channels[ObjectIdentifier(channel)] = channel
            state.connectionsAccepted += 1
            return true
        }
    }

    func unregister(_ channel: any Channel) {
        state.withLock { $0.channels[ObjectIdentifier(channel)] = nil }
    }

    var connectionCount: Int { state.withLock { $0.channels.count } }

    var openChannels: [any Channel] { state.withLock { Array($0.channels.values) } }

    // MARK: - Requests

    /// Counts a request in; false when the server is draining (shutting down) and takes no new work.
    func requestStarted() -> Bool {
        state.withLock { state in
            state.inFlight += 1
            return !state.draining
        }
    }

    func requestFinished() {
        state.withLock { state in
            state.inFlight -= 1
            state.requestsServed += 1
        }
    }

    var requestsInFlight: Int { state.withLock { $0.inFlight } }

    /// Requests answered since the server started.
    var requestsServed: Int { state.withLock { $0.requestsServed } }

    /// Tracks a running request's control, so shutdown can cancel it.
    func track(_ control: RequestControl) {
        state.withLock { $0.controls[ObjectIdentifier(control)] = control }
    }

    func untrack(_ control: RequestControl) {
        state.withLock { $0.controls[ObjectIdentifier(control)] = nil }
    }

    /// Stops taking new requests (they are answered `shutting_down`).
    func beginDraining() {
        state.withLock { $0.draining = true }
    }

    /// Cancels every request still running.
    func cancelAll() {
        let running = state.withLock { Array($0.controls.values) }
        for control in running { control.cancel() }
    }

    /// Reserves a place for a heavy read; false when the heavy lane is full.
    func enterHeavyLane() -> Bool {
        state.withLock { state in
            guard state.heavyInFlight < policy.heavyQueueLimit else { return false }
            state.heavyInFlight += 1
            return true
        }
    }

    func leaveHeavyLane() {
        state.withLock { $0.heavyInFlight -= 1 }
    }

    /// Throws `read_only` or `permission_denied` unless a peer with `role` (described as `who`) may run `statement`.
    func authorize(_ statement: Statement, role: Role, who: String) throws {
        if statement.kind != .read && policy.readOnly { throw RecDBError(.readOnly, "this server is read-only") }
        let needed = Role.needed(for: statement.kind)
        guard role >= needed else {
            throw RecDBError(
                .permissionDenied, "\(who) has the \(role) role; \(statement.kind.rawValue) statements need the \(needed) role")
        }
    }

    /// The gauges ``DaemonMetrics/scrape(_:database:)`` reads, taken together.
    var metricsSnapshot: DaemonMetrics.Snapshot {
        let now = state.withLock { $0 }
        return DaemonMetrics.Snapshot(
            writeQueueDepth: writer.queueDepth, impressionsPending: database.impressions.pendingCount,
            heavyInFlight: now.heavyInFlight, heavyQueueLimit: policy.heavyQueueLimit, connections: now.channels.count,
            requestsInFlight: now.inFlight)
    }

    /// The answer to `STATUS`: the daemon itself, not the data (that is `SHOW STATS`).
    func status(role: Role) -> QueryValue {
        // One snapshot under the lock, so the counters agree with each other.
        let now = state.withLock { $0 }
        let writes = writer.counters
        return .object([
            "pid": .number(Double(getpid())), "uptime_s": .number(Date().timeIntervalSince(startedAt).rounded()),
            "connections": .number(Double(now.channels.count)),
            "connections_accepted": .number(Double(now.connectionsAccepted)),
            "connections_refused": .number(Double(now.connectionsRefused)),
            "requests_served": .number(Double(now.requestsServed)), "requests_in_flight": .number(Double(now.inFlight)),
            "heavy_in_flight": .number(Double(now.heavyInFlight)),
            "writes_committed": .number(Double(writes.committedWrites)), "write_batches": .number(Double(writes.batches)),
            "database": .string(database.path), "read_only": .bool(policy.readOnly), "role": .string(role.description),
            "replication": replica?.status ?? .null,
        ])
    }
}
