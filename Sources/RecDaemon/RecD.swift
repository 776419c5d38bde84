import ArgumentParser
import Foundation
import Logging
import RecDB
import RecReplication
import RecText

/// `recd`: serves a RecDB database over a Unix domain socket to many local clients at once.
@main
struct RecD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recd",
        abstract: "Serve a RecDB database over a Unix domain socket (one query per line, one JSON response per line).",
        discussion: """
            Reads run in parallel on read transactions; writes are batched into one transaction (group commit) and \
            acknowledged after it commits. SIGTERM or SIGINT: stop accepting, finish in-flight requests, commit, \
            close, remove the socket file. Query by hand: socat - UNIX-CONNECT:DB/recd.sock
            """)

    @Option(help: "The database folder (or RECDB_PATH).") var db: String?
    @Option(help: "The socket path (default: recd.sock in the database folder).") var socket: String?
    @Option(name: .customLong("socket-mode"), help: "The socket file's mode, octal.") var socketMode: String = "0660"
    @Option(name: .customLong("max-line"), help: "Longest request line in bytes.") var maxLine: Int = 1 << 20
    @Option(name: .customLong("max-connections"), help: "Open connections at most.") var maxConnections: Int = 1024
    @Option(name: .customLong("admin-uid"), help: "A uid that may run admin statements (repeatable; same as --grant admin=uid:N).")
    var adminUIDs: [UInt32] = []
    @Option(
        name: .customLong("grant"),
        help: ArgumentHelp(
            "Give peers a role (repeatable): ROLE=WHO, ROLE none|read|write|admin, WHO uid:N, gid:N, user:NAME, group:NAME or *.",
            discussion: "Root, the server's own user and the owner of data.mdb are always admins."))
    var grants: [String] = []
    @Option(name: .customLong("default-role"), help: "The role of peers no --grant names: none, read, write or admin.")
    var defaultRole: String = "read"
    @Option(help: "How long a read may take, queueing included, before it answers timeout (e.g. 5s, 500ms).")
    var deadline: String = "5s"
    @Option(name: .customLong("heavy-queue"), help: "Slow reads (language model, encoder, big blends) queued at most; more are answered busy.")
    var heavyQueue: Int = 16
    @Option(name: .customLong("max-results"), help: "OFFSET + count of one RECOMMEND at most.") var maxResults: Int = 1000
    @Option(name: .customLong("max-blend"), help: "Models in one BLEND at most.") var maxBlend: Int = 8
    @Option(name: .customLong("map-size"), help: "The memory map to reserve at open (it grows on demand), e.g. 64G, 16M.")
    var mapSize: String?
    @Flag(name: .customLong("read-only"), help: "Refuse writes and admin statements.") var readOnly = false
    @Option(name: .customLong("refresh-every"), help: "Refresh models on a schedule, e.g. 30m, 1h, 90s.") var refreshEvery: String?
    @Option(name: .customLong("refresh-models"), help: "Comma-separated models the schedule refreshes.")
    var refreshModels: String = "popularity,itemknn,als,content,session"
    @Option(help: "Event-loop threads.") var threads: Int = 2
    @Option(
        name: .customLong("light-reads"),
        help: "Where light reads run: inline (on the event loop that read them) or pool (on reader threads).")
    var lightReads: String = "inline"
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(name: .customLong("log-format"), help: "text (one line per message) or json (one JSON object per line).")
    var logFormat: String = "text"
    @Option(
        name: .customLong("metrics"),
        help: ArgumentHelp(
            "Serve Prometheus metrics and the dashboard over HTTP on a loopback HOST:PORT, e.g. 127.0.0.1:9464.",
            discussion: "Off by default. /metrics, / (dashboard), /console; only loopback addresses are accepted."))
    var metrics: String?
    @Option(
        name: .customLong("http-role"),
        help: "The role of queries from the dashboard's console: none, read or write (default: read, or less when --default-role is less).")
    var httpRole: String?
    @Flag(
        name: .customLong("warm-up"), inversion: .prefixedNo,
        help: "Load the serving models in the background once the socket is open, so first requests do not wait.")
    var warmUp = true

    @Option(
        help: ArgumentHelp(
            "Join a replicated cluster: NATS JetStream servers, comma-separated (nats://host:4222,…).",
            discussion: "Writes go to the stream and every node applies it in order; see the README's Scaling section."))
    var replicate: String?
    @Option(help: "The JetStream stream that carries the writes (with --replicate).") var stream: String = "recdb"
    @Option(name: .customLong("node-id"), help: "This node's name in the cluster, unique (with --replicate).")
    var nodeID: String?
    @Option(name: .customLong("stream-replicas"), help: "Servers that store each write when recd creates the stream.")
    var streamReplicas: Int = 3
    @Flag(
        name: .customLong("ship-generations"),
        help: "With --replicate: the node that accepts a REFRESH trains and ships the generation; the others install it.")
    var shipGenerations = false

    func validate() throws {
        if replicate != nil {
            guard let nodeID, !nodeID.isEmpty, nodeID.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
            else { throw ValidationError("--replicate needs --node-id NAME (letters, digits, _ and -)") }
            guard (1...5).contains(streamReplicas) else { throw ValidationError("--stream-replicas is 1 to 5") }
            guard !stream.isEmpty, stream.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw ValidationError("--stream takes letters, digits, _ and -")
            }
        }
        if shipGenerations, replicate == nil { throw ValidationError("--ship-generations needs --replicate") }
        guard db ?? ProcessInfo.processInfo.environment["RECDB_PATH"] != nil else {
            throw ValidationError("give --db PATH (or set RECDB_PATH)")
        }
        guard mode_t(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode takes octal, like 0660") }
        guard maxLine >= 64, maxConnections >= 1, threads >= 1 else { throw ValidationError("limits must be positive") }
        if let refreshEvery, RefreshScheduler.seconds(refreshEvery) == nil {
            throw ValidationError("--refresh-every takes a duration like 90s, 30m or 1h")
        }
        guard Self.duration(deadline) != nil else { throw ValidationError("--deadline takes a duration like 5s or 500ms") }
        guard Role(name: defaultRole) != nil else { throw ValidationError("--default-role is none, read, write or admin") }
        for grant in grants {
            do { _ = try Grant(parsing: grant) } catch { throw ValidationError("--grant \(grant): \(error)") }
        }
        guard heavyQueue >= 1, maxResults >= 1, maxBlend >= 1 else { throw ValidationError("limits must be positive") }
        guard ServerContext.LightReads(rawValue: lightReads) != nil else {
            throw ValidationError("--light-reads is inline or pool")
        }
        if let mapSize, Self.bytes(mapSize) == nil { throw ValidationError("--map-size takes a size like 64G or 256M") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
        if let metrics, HTTPSide.loopbackAddress(metrics) == nil {
            throw ValidationError("--metrics takes a loopback HOST:PORT such as 127.0.0.1:9464 (got '\(metrics)')")
        }
        if let httpRole {
            guard let role = Role(name: httpRole), role <= .write else {
                throw ValidationError("--http-role is none, read or write")
            }
        }
    }

    /// A duration like `5s`, `500ms`, `2m`.
    static func duration(_ text: String) -> Duration? {
        if text.hasSuffix("ms"), let value = Double(text.dropLast(2)), value > 0 { return .milliseconds(value) }
        guard let seconds = RefreshScheduler.seconds(text) else { return nil }
        return .milliseconds(seconds * 1000)
    }

    /// A size like `64G`, `256M`, `4096`.
    static func bytes(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        if let unit = text.last.flatMap({ units[Character($0.uppercased())] }), let value = Int(text.dropLast()), value > 0 {
            return value * unit
        }
        return Int(text).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The connection limit that fits the process's file descriptors: raises the soft limit to the hard one, and
    /// keeps 64 descriptors for the database, model files and logs.
    static func connectionLimit(_ wanted: Int, logger: Logger) -> Int {
        var limits = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return wanted }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        let available = limits.rlim_cur == rlim_t.max ? Int.max : Int(limits.rlim_cur) - 64
        guard wanted > available else { return wanted }
        let lowered = max(1, available)
        logger.notice(
            "--max-connections \(wanted) lowered to \(lowered): the process may open \(limits.rlim_cur) files (ulimit -n)")
        return lowered
    }

    /// Connects to the NATS servers and makes sure the write stream exists.
    static func joinCluster(
        _ servers: String, stream: String, nodeID: String, replicas: Int, shipGenerations: Bool
    ) throws -> (JetStream, Replica.Settings) {
        let urls = servers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let settings = Replica.Settings(
            servers: urls, stream: stream, nodeID: nodeID, replicas: replicas, shipGenerations: shipGenerations)
        let jetStream = try JetStream(servers: urls, name: "recd \(nodeID)")
        try jetStream.ensureStream(StreamSettings(name: stream, subject: settings.subject, replicas: replicas))
        return (jetStream, settings)
    }

    func run() throws {
        RecText.install()
        let path = db ?? ProcessInfo.processInfo.environment["RECDB_PATH"]!
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "recd")
        // A data.mdb truncated under the running server ends it with a message naming the file, never a bare SIGBUS.
        Environment.exitOnBusError()
        let database: RecDatabase
        do {
            var options = RecDatabase.Options()
            if let mapSize, let bytes = Self.bytes(mapSize) { options.storage.initialMapSize = bytes }
            database = try RecDatabase.open(at: path, options: options)
        } catch {
            FileHandle.standardError.write("recd: error: \(error)\n".data(using: .utf8)!)
            throw ExitCode.failure
        }
        var policy = ServerContext.Policy()
        policy.maxLineLength = maxLine
        policy.maxConnections = Self.connectionLimit(maxConnections, logger: logger)
        policy.readOnly = readOnly
        policy.readDeadline = Self.duration(deadline)!
        policy.heavyQueueLimit = heavyQueue
        policy.lightReads = ServerContext.LightReads(rawValue: lightReads)!
        policy.limits.maxResults = maxResults
        policy.limits.maxBlendModels = maxBlend
        var roles = RoleTable()
        roles.defaultRole = Role(name: defaultRole)!
        roles.grants = grants.compactMap { try? Grant(parsing: $0) } + adminUIDs.map { Grant(role: .admin, who: .uid($0)) }
        roles.admins = [UInt32(getuid())]
        var info = stat()
        if stat((database.path as NSString).appendingPathComponent("data.mdb"), &info) == 0 { roles.admins.insert(info.st_uid) }
        policy.roles = roles
        let context: ServerContext
        do {
            context = try ServerContext(
                database: database, policy: policy, logger: logger, readerThreads: max(2, threads),
                replication: try replicate.map { try Self.joinCluster(
                        $0, stream: stream, nodeID: nodeID!, replicas: streamReplicas, shipGenerations: shipGenerations) })
        } catch {
            FileHandle.standardError.write("recd: error: \(error)\n".data(using: .utf8)!)
            throw ExitCode.failure
        }
        let socketPath = socket ?? (path as NSString).appendingPathComponent("recd.sock")
        let server = Server(context: context, socketPath: socketPath, socketMode: mode_t(socketMode, radix: 8)!, eventLoops: threads)
        do {
            try server.start()
        } catch {
            FileHandle.standardError.write("recd: error: \(error)\n".data(using: .utf8)!)
            throw ExitCode.failure
        }
        logger.info("serving \(path) on \(socketPath)")
        var http: HTTPSide?
        if let metrics, let address = HTTPSide.loopbackAddress(metrics) {
            // The console never has more than the socket gives a peer it does not know, and never admin.
            let role = httpRole.flatMap(Role.init(name:)) ?? min(.read, roles.defaultRole)
            let side = HTTPSide(server: context, host: address.host, port: address.port, role: role)
            do {
                let port = try side.start()
                let host = address.host.contains(":") ? "[\(address.host)]" : address.host
                logger.info("metrics and dashboard on http://\(host):\(port)/ (console role \(role))")
            } catch {
                FileHandle.standardError.write("recd: error: \(error)\n".data(using: .utf8)!)
                server.shutdown()
                throw ExitCode.failure
            }
            http = side
        }
        if warmUp {
            // Requests that arrive meanwhile wait for a model being loaded rather than load it again.
            DispatchQueue.global().async {
                let started = DispatchTime.now().uptimeNanoseconds
                let warmed = (try? database.warmUp()) ?? []
                let milliseconds = (DispatchTime.now().uptimeNanoseconds - started) / 1_000_000
                logger.info("warmed up \(warmed.joined(separator: ", ")) in \(milliseconds) ms")
            }
        }
        var scheduler: RefreshScheduler?
        var clusterSchedule: ScheduledRefreshes?  // a cluster's schedule goes through the log: one REFRESH per slot
        if let refreshEvery, let seconds = RefreshScheduler.seconds(refreshEvery), let replica = context.replica {
            clusterSchedule = replica.scheduledRefreshes(
                models: refreshModels.split(separator: ",").map(String.init), every: seconds)
            clusterSchedule?.start()
        } else if let refreshEvery, let seconds = RefreshScheduler.seconds(refreshEvery) {
            let metrics = context.metrics
            scheduler = RefreshScheduler(
                database: database, models: refreshModels.split(separator: ",").map(String.init), every: seconds,
                queue: context.adminQueue, logger: logger
            ) { metrics.refreshFinished(model: $0, seconds: $1) }
            scheduler?.start()
        }
        // Wait for SIGTERM or SIGINT, then shut down gracefully.
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        scheduler?.stop()
        clusterSchedule?.stop()
        http?.stop()
        server.shutdown()
        withExtendedLifetime(sources) {}
    }
}
