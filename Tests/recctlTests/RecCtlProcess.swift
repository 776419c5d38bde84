import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built `recctl` binary, run as a child process.
///
/// The test target depends on the `recctl` target, so SwiftPM builds the binary into the same folder as the test
/// bundle (`.build/debug`); it is found from the running test executable.
enum RecCtl {
    /// The `recctl` executable beside the test bundle, or nil when it cannot be found.
    static let executable: URL? = {
        var folders: [URL] = []
        #if os(Linux)
            folders.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        #endif
        folders.append(
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        return folders.map { $0.appendingPathComponent("recctl") }.first {
            FileManager.default.isExecutableFile(atPath: $0.path)
        }
    }()

    /// The executable, or a recorded failure that says where it was looked for.
    static func requireExecutable(sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
        try #require(
            executable, "recctl was not found beside the test bundle (\(CommandLine.arguments[0]))",
            sourceLocation: sourceLocation)
    }

    /// What a finished `recctl` run did.
    struct Result: CustomStringConvertible {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String

        var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }

        /// Standard output parsed as a JSON object (empty when it is not one).
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
    }

    /// A started `recctl` whose output goes to files, for runs that the test watches or kills.
    final class Child {
        let process = Process()
        private let output: URL

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            output = FileManager.default.temporaryDirectory.appendingPathComponent(
                "recctl-" + String(UInt64.random(in: .min ... .max), radix: 36), isDirectory: true)
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: false)
            process.executableURL = try RecCtl.requireExecutable()
            process.arguments = arguments
            // Children never see the caller's RECDB_PATH unless a test sets it.
            var env = ProcessInfo.processInfo.environment
            env["RECDB_PATH"] = nil
            env.merge(environment) { $1 }
            process.environment = env
            _ = FileManager.default.createFile(atPath: output.appendingPathComponent("stdout").path, contents: nil)
            _ = FileManager.default.createFile(atPath: output.appendingPathComponent("stderr").path, contents: nil)
            let stdout = try FileHandle(forWritingTo: output.appendingPathComponent("stdout"))
            let stderr = try FileHandle(forWritingTo: output.appendingPathComponent("stderr"))
            defer {
                try? stdout.close()
                try? stderr.close()
            }
            // A /dev/null of its own: the shared `FileHandle.nullDevice` can be closed under a concurrent launch
            // (EBADF seen when tests spawn children in parallel).
            let stdin = FileHandle(forReadingAtPath: "/dev/null")
            defer { try? stdin?.close() }
            process.standardOutput = stdout
            process.standardError = stderr
            process.standardInput = stdin
            try process.run()
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: output)
        }

        var pid: pid_t { process.processIdentifier }

        /// What the child has written to standard output so far.
        var stdoutSoFar: String {
            (try? String(contentsOf: output.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        }

        /// Waits for the child to end (killing it after `timeout` seconds) and returns what it did.
        func finish(timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) -> Result {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(2_000) }
            if process.isRunning {
                Issue.record(
                    "recctl \(process.arguments ?? []) ran longer than \(timeout) s", sourceLocation: sourceLocation)
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
            func read(_ name: String) -> String {
                (try? String(contentsOf: output.appendingPathComponent(name), encoding: .utf8)) ?? ""
            }
            return Result(
                status: process.terminationStatus, reason: process.terminationReason, stdout: read("stdout"),
                stderr: read("stderr"))
        }
    }

    /// Runs `recctl arguments…` to the end.
    @discardableResult
    static func run(
        _ arguments: String..., environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Result {
        try Child(arguments, environment: environment).finish(sourceLocation: sourceLocation)
    }

    /// Runs `recctl arguments…` and expects it to succeed; returns its result.
    @discardableResult
    static func succeed(
        _ arguments: String..., environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Result {
        let result = try Child(arguments, environment: environment).finish(sourceLocation: sourceLocation)
        #expect(
            result.status == 0 && result.reason == .exit, "recctl \(arguments): \(result)",
            sourceLocation: sourceLocation)
        return result
    }

    /// Runs `recctl arguments…` and expects it to fail the way every command does: exit status 1 and one
    /// `recctl: error: …` line on standard error. Returns that message (after the prefix).
    @discardableResult
    static func fail(
        _ arguments: String..., environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let result = try Child(arguments, environment: environment).finish(sourceLocation: sourceLocation)
        #expect(
            result.status == 1 && result.reason == .exit, "recctl \(arguments): \(result)",
            sourceLocation: sourceLocation)
        let prefix = "recctl: error: "
        #expect(result.stderr.hasPrefix(prefix), "recctl \(arguments): \(result)", sourceLocation: sourceLocation)
        return String(result.stderr.dropFirst(prefix.count)).trimmingCharacters(in: .newlines)
    }
}

/// A unique folder under the system temporary directory that exists only while `body` runs
/// (the same helper as in RecDBTests, which this module cannot import).
struct TemporaryDirectory {
    let path: String

    func appending(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes `text` to `name` inside the folder (creating subfolders) and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = appending(name)
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    static func with<R>(_ body: (TemporaryDirectory) throws -> R) throws -> R {
        let name = "rdb-" + String(UInt64.random(in: .min ... .max), radix: 36)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(TemporaryDirectory(path: url.path))
    }
}
