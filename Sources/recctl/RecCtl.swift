import ArgumentParser
import Foundation
import RecDB
import RecText

@main
struct RecCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recctl",
        abstract: "Administer a RecDB database: create, import, inspect, check and back up.",
        subcommands: [
            Init.self, Import.self, Export.self, Generation.self, Stats.self, Show.self, Check.self, Backup.self, Types.self, Vectors.self, Index.self, Eval.self,
            Refresh.self, Models.self, Recommend.self, Similar.self, Tune.self, Query.self, Shell.self, Status.self, Report.self,
        ]
    )

    /// A data.mdb truncated while a command has it open ends the command with a message and status 1, not SIGBUS.
    /// The text features run on RecText's runtime.
    static func main() {
        Environment.exitOnBusError()
        RecText.install()
        main(nil)
    }
}

/// Options every command that opens a database shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "The database folder (default: $RECDB_PATH).")
    var db: String?

    @Flag(name: .long, help: "Print JSON for scripts instead of text for people.")
    var json = false

    var path: String {
        get throws {
            if let db { return db }
            if let env = ProcessInfo.processInfo.environment["RECDB_PATH"], !env.isEmpty { return env }
            // A RecDBError, not a ValidationError: commands report it like any other error (exit status 1).
            throw RecDBError(.invalidArgument, "give the database folder with --db PATH or set RECDB_PATH")
        }
    }

    func open(create: Bool = false, options: RecDatabase.Options = RecDatabase.Options()) throws -> RecDatabase {
        try RecDatabase.open(at: try path, create: create, options: options)
    }
}

/// Prints an error the way every command does and exits 1.
func fail(_ error: any Error, json: Bool) -> ExitCode {
    let message: String
    var code = "error"
    var location: String?
    if let stopped = error as? ImportStopped {
        message = stopped.error.message
        code = stopped.error.code.description
        location = stopped.error.location
    } else if let recError = error as? RecDBError {
        message = recError.message
        code = recError.code.description
        location = recError.location
    } else {
        message = "\(error)"
    }
    if json {
        var object: [String: Any] = ["ok": false, "error": ["code": code, "message": message]]
        if let location { object["error"] = ["code": code, "message": message, "at": location] }
        printJSON(object)
    }
    let text = location.map { "\($0): \(message)" } ?? message
    FileHandle.standardError.write(Data("recctl: error: \(text)\n".utf8))
    return ExitCode.failure
}

/// Runs `body`, turning RecDB errors into a clear message and exit status 1.
func running(json: Bool, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        throw fail(error, json: json)
    }
}

func printJSON(_ object: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}

func formatCount(_ value: Int) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.groupingSeparator = ","
    return formatter.string(from: NSNumber(value: value)) ?? String(value)
}

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
