import Foundation
import RecClient
import RecDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `recd` child process on a temporary database, and raw socket helpers.
final class Daemon: @unchecked Sendable {
    static let executable: URL? = {
        var folders = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()]
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return folders.map { $0.appendingPathComponent("recd") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    let folder: String
    let database: String
    let socket: String
    let process = Process()
    let log: URL

    /// A shop of 60 items in three categories and 30 users with one taste each, models trained, then `recd` on it.
    /// `launcher` runs before recd (e.g. `prlimit --nofile=128:128`), which must exec it in the same process.
    init(arguments: [String] = [], trained: Bool = true, launcher: [String] = []) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "recd-" + String(UInt64.random(in: .min ... .max), radix: 36)).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        database = folder + "/db"
        socket = folder + "/s.sock"
        try Self.makeShop(at: database, trained: trained)
        log = URL(fileURLWithPath: folder + "/recd.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let recd = try #require(Self.executable, "recd was not found beside the test bundle")
        if let first = launcher.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(launcher.dropFirst()) + [recd.path, "--db", database, "--socket", socket] + arguments
        } else {
            process.executableURL = recd
            process.arguments = ["--db", database, "--socket", socket] + arguments
        }
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while (try? RecClient(socketPath: socket)) == nil {
            guard process.isRunning, Date() < deadline else {
                throw RecDBError(.unavailable, "recd did not start: \(logText)")
            }
            usleep(20_000)
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func client() throws -> RecClient { try RecClient(socketPath: socket) }

    /// CPU seconds (user + system) recd has used so far, from `/proc/PID/stat`.
    var cpuSeconds: Double {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, then waits for the exit status.
    func terminate() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    func killHard() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// `workers` clients, each calling `step(client, worker, n)` for n = 0, 1, … as fast as it can; after
    /// `microseconds` recd dies with SIGKILL, and this returns once every worker has stopped (at its first error).
    func loadThenKill(
        workers: Int, microseconds: useconds_t, _ step: @escaping @Sendable (RecClient, Int, Int) throws -> Void
    ) {
        let stop = Locked(false)
        let group = DispatchGroup()
        for worker in 0..<workers {
            DispatchQueue.global().async(group: group) { [socket] in
                guard let client = try? RecClient(socketPath: socket) else { return }
                var n = 0
                while !stop.value {
                    do { try step(client, worker, n) } catch { return }
                    n += 1
                }
            }
        }
        usleep(microseconds)
        killHard()
        stop.mutate { $0 = true }
        group.wait()
    }

    static func makeShop(at path: String, trained: Bool) throws {
        // A bus error in this process (a file truncated while mapped) then names the file instead of dying silently.
        Environment.exitOnBusError()
        let db = try RecDatabase.open(at: path, create: true)
        try db.write { w in
            for (c, prefix) in ["t", "c", "g"].enumerated() {
                for i in 0..<20 {
                    try w.upsertItem(
                        "\(prefix)\(i)",
                        attributes: [
                            "title": .string(["Thriller", "Cookbook", "Garden tool"][c] + " \(i)"),
                            "category": .string(["Books/Thriller", "Books/Cooking", "Garden"][c]),
                            "price": .number(Double(5 + i)),
                        ])
                }
            }
            for user in 0..<30 {
                let prefix = ["t", "c", "g"][user / 10]
                for step in 0..<8 {
                    try w.addEvent(
                        EventInput(
                            user: "u\(user)", item: "\(prefix)\((user * 3 + step * 2) % 20)", type: "view",
                            timestamp: Timestamp(milliseconds: 1_700_000_000_000 + Int64(user * 100 + step) * 60_000),
                            session: "s\(user)"))
                }
            }
        }
        guard trained else { return }
        var als = ALSModel.Parameters()
        als.factors = 8
        for spec in [ModelSpec.popularity(halfLifeDays: 30), .itemKNN(neighbours: 20), .als(als)] { try db.refresh(spec) }
    }
}

/// A raw connection for tests that send bytes no client library would.
final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw RecDBError(.unavailable, "connect failed") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// The next response line parsed as JSON (nil on timeout or close).
    func response() -> [String: Any]? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return (try? JSONSerialization.jsonObject(with: line)) as? [String: Any]
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}
