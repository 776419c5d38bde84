import ArgumentParser
import Foundation
import Logging
import RecDB

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
    @Option(name: .customLong("admin-uid"), help: "A uid that may run admin statements (repeatable); root and the server's own uid always may.")
    var adminUIDs: [UInt32] = []
    @Flag(name: .customLong("read-only"), help: "Refuse writes and admin statements.") var readOnly = false
    @Option(name: .customLong("refresh-every"), help: "Refresh models on a schedule, e.g. 30m, 1h, 90s.") var refreshEvery: String?
    @Option(name: .customLong("refresh-models"), help: "Comma-separated models the schedule refreshes.")
    var refreshModels: String = "popularity,itemknn,als,content,session"
    @Option(help: "Event-loop threads.") var threads: Int = 2
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.") var logLevel: String = "info"

    func validate() throws {
        guard db ?? ProcessInfo.processInfo.environment["RECDB_PATH"] != nil else {
            throw ValidationError("give --db PATH (or set RECDB_PATH)")
        }
        guard mode_t(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode takes octal, like 0660") }
        guard maxLine >= 64, maxConnections >= 1, threads >= 1 else { throw ValidationError("limits must be positive") }
        if let refreshEvery, RefreshScheduler.seconds(refreshEvery) == nil {
            throw ValidationError("--refresh-every takes a duration like 90s, 30m or 1h")
        }
    }

    func run() throws {
        let path = db ?? ProcessInfo.processInfo.environment["RECDB_PATH"]!
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "recd")
        let database: RecDatabase
        do {
            database = try RecDatabase.open(at: path)
        } catch {
            FileHandle.standardError.write("recd: error: \(error)\n".data(using: .utf8)!)
            throw ExitCode.failure
        }
        var policy = ServerContext.Policy()
        policy.maxLineLength = maxLine
        policy.maxConnections = maxConnections
        policy.readOnly = readOnly
        policy.adminUIDs = Set(adminUIDs)
        let context = ServerContext(database: database, policy: policy, logger: logger, readerThreads: max(2, threads))
        let socketPath = socket ?? (path as NSString).appendingPathComponent("recd.sock")
        let server = Server(context: context, socketPath: socketPath, socketMode: mode_t(socketMode, radix: 8)!, eventLoops: threads)
        do {
            try server.start()
        } catch {
            FileHandle.standardError.write("recd: error: \(error)\n".data(using: .utf8)!)
            throw ExitCode.failure
        }
        logger.info("serving \(path) on \(socketPath)")
        var scheduler: RefreshScheduler?
        if let refreshEvery, let seconds = RefreshScheduler.seconds(refreshEvery) {
            scheduler = RefreshScheduler(
                database: database, models: refreshModels.split(separator: ",").map(String.init), every: seconds, logger: logger)
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
        server.shutdown()
        withExtendedLifetime(sources) {}
    }
}
