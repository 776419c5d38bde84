import ArgumentParser
import CEditline
import Foundation
import RecClient
import RecDB

/// Where queries go: a running `recd` on the database's socket, or the database opened directly.
enum QueryTarget {
    case daemon(RecClient)
    case direct(RecDatabase)

    /// The daemon when one answers on `socket` (default: `recd.sock` in the database folder), else the database.
    static func connect(_ options: DatabaseOptions, socket: String?) throws -> QueryTarget {
        let path = try socket ?? ((try options.path) as NSString).appendingPathComponent("recd.sock")
        if FileManager.default.fileExists(atPath: path), let client = try? RecClient(socketPath: path) {
            return .daemon(client)
        }
        return .direct(try options.open())
    }

    /// Runs one query; the result as JSON text.
    func run(_ query: String, parameters: [String: String]) throws -> String {
        switch self {
        case .daemon(let client):
            let result = try client.querySync(query, parameters: parameters)
            let data = try JSONSerialization.data(withJSONObject: result, options: [.fragmentsAllowed, .sortedKeys])
            return String(decoding: data, as: UTF8.self)
        case .direct(let db):
            return try db.query(query, parameters: parameters.mapValues { QueryValue.string($0) }).jsonText
        }
    }

    var description: String {
        switch self {
        case .daemon(let client): "recd on \(client.socketPath)"
        case .direct(let db): "\(db.path) (no daemon: opened directly)"
        }
    }
}

/// Pretty-prints JSON text for people.
func prettyJSON(_ text: String) -> String {
    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]),
        let data = try? JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
    else { return text }
    return String(decoding: data, as: UTF8.self)
}

func describe(_ error: Error) -> String {
    if let error = error as? RecDBError { return error.position.map { "\(error.description) (at \($0))" } ?? error.description }
    return "\(error)"
}

extension RecCtl {
    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one statement of the query language, through a running recd or on the database directly.",
            discussion: "Parameters bind $name: recctl query 'RECOMMEND 10 ITEMS FOR USER $u EXPLAIN' --param u=17850")
        @OptionGroup var options: DatabaseOptions
        @Option(help: "The daemon's socket (default: recd.sock in the database folder).") var socket: String?
        @Option(name: .customLong("param"), help: "NAME=VALUE, bound to $NAME (repeatable).") var parameters: [String] = []
        @Argument(help: "The statement.") var statement: String

        func run() throws {
            var bound: [String: String] = [:]
            for parameter in parameters {
                let parts = parameter.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--param takes NAME=VALUE, not '\(parameter)'") }
                bound[String(parts[0])] = String(parts[1])
            }
            try running(json: options.json) {
                let target = try QueryTarget.connect(options, socket: socket)
                let result = try target.run(statement, parameters: bound)
                print(options.json ? result : prettyJSON(result))
            }
        }
    }

    struct Shell: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An interactive query shell with line editing and history (~/.recdb_history).")
        @OptionGroup var options: DatabaseOptions
        @Option(help: "The daemon's socket (default: recd.sock in the database folder).") var socket: String?

        func run() throws {
            try running(json: false) {
                let target = try QueryTarget.connect(options, socket: socket)
                let interactive = isatty(STDIN_FILENO) != 0
                if interactive { print("Connected to \(target.description). End a statement with Enter; Ctrl-D quits.") }
                let history = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.recdb_history"
                if interactive { read_history(history) }
                while true {
                    let line: String
                    if interactive {
                        guard let raw = readline("recdb> ") else { break }
                        line = String(cString: raw)
                        free(raw)
                    } else {
                        guard let next = Swift.readLine() else { break }
                        line = next
                    }
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    if trimmed.isEmpty || trimmed.hasPrefix("--") { continue }
                    if ["quit", "exit", "\\q"].contains(trimmed.lowercased()) { break }
                    if interactive {
                        add_history(trimmed)
                        write_history(history)
                    }
                    do {
                        print(prettyJSON(try target.run(trimmed, parameters: [:])))
                    } catch {
                        print("error: \(describe(error))")
                    }
                }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Whether recd serves this database, and its counters.")
        @OptionGroup var options: DatabaseOptions
        @Option(help: "The daemon's socket (default: recd.sock in the database folder).") var socket: String?

        func run() throws {
            try running(json: options.json) {
                let path = try socket ?? ((try options.path) as NSString).appendingPathComponent("recd.sock")
                guard let client = try? RecClient(socketPath: path) else {
                    if options.json { printJSON(["running": false, "socket": path]) } else { print("recd is not running on \(path)") }
                    throw ExitCode(3)
                }
                let response = try client.exchange("STATUS")
                guard let object = try JSONSerialization.jsonObject(with: Data(response.utf8)) as? [String: Any],
                    var status = object["result"] as? [String: Any]
                else { throw RecDBError(.malformedInput, "recd answered STATUS with \(response.prefix(80))") }
                status["running"] = true
                status["socket"] = path
                if options.json { return printJSON(status) }
                for key in status.keys.sorted() { print("\(key): \(status[key]!)") }
            }
        }
    }
}
