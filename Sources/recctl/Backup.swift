import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a compacted, consistent copy of the database to an empty folder while writers go on.")

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "The folder to write the copy to (created; must not hold a database).")
        var destination: String

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let started = Date()
                try db.backup(to: destination)
                let bytes = (try? FileManager.default.attributesOfItem(
                    atPath: (destination as NSString).appendingPathComponent("data.mdb"))[.size] as? Int) ?? 0
                let seconds = Date().timeIntervalSince(started)
                // A replica's copy carries the replication-log sequence it holds: a node started on it consumes
                // the stream from the next one.
                var readOnly = RecDatabase.Options()
                readOnly.storage.readOnly = true
                let sequence = (try? RecDatabase.open(at: destination, options: readOnly).appliedStreamSequence) ?? 0
                if options.json {
                    printJSON([
                        "ok": true, "destination": destination, "bytes": bytes, "seconds": seconds,
                        "stream_sequence": sequence,
                    ])
                } else {
                    print("Backed up \(db.path) to \(destination): \(formatBytes(bytes)) in \(String(format: "%.2f", seconds)) s.")
                    if sequence > 0 { print("The copy holds the replication log up to sequence \(sequence).") }
                }
            }
        }
    }
}
