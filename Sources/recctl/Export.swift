import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the training snapshot for an external trainer (Apache Spark).",
            discussion: """
                `recctl export events --out DIR` writes, from one read transaction, the user × item matrix of \
                summed event weights that RecDB's ALS trains on (gzip CSV parts `interactions/part-*.csv.gz`: \
                user,item,weight with dense internal ids), the id maps `users.jsonl.gz` and `items.jsonl.gz`, and \
                `schema.json` (Schemas/training-export.md). Train on it with spark/train_als.py and install the \
                factors with `recctl import model als --from OUT`.
                --split exports only the training part of that evaluation split, so that `recctl eval --stored als` \
                scores the imported factors on the same split as RecDB's own ALS.

                Examples:
                  recctl export events --db shop --out export
                  recctl export events --db shop --out export --since 2026-01-01 --types purchase,cart
                """)

        @OptionGroup var options: DatabaseOptions
        @Argument(help: "What to export: events.") var what: String
        @Option(help: "The folder to create (must not exist).") var out: String
        @Option(help: "Only events at or after this time (ISO 8601 or a date).") var since: String?
        @Option(help: "Only events of these comma-separated types.") var types: String?
        @Option(help: "Only the training part of this split: leave-last-out, temporal, cold-items or per-user-80-10-10.")
        var split: String?
        @Option(help: "Interaction rows per part file.") var rowsPerFile: Int = 1_000_000

        func validate() throws {
            guard what == "events" else { throw ValidationError("only 'events' can be exported, not '\(what)'") }
            guard rowsPerFile > 0 else { throw ValidationError("--rows-per-file must be positive") }
            if let since, Timestamp(parsing: since) == nil {
                throw ValidationError("--since '\(since)' is not a time (use ISO 8601: 2026-01-01 or 2026-01-01T10:00:00Z)")
            }
            if let split, EvaluationSplit.Kind(rawValue: split) == nil {
                throw ValidationError("--split must be one of \(EvaluationSplit.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            try running(json: options.json) {
                var exportOptions = TrainingExport.Options(
                    since: since.flatMap { Timestamp(parsing: $0) },
                    types: types.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                    split: split.flatMap(EvaluationSplit.Kind.init(rawValue:)))
                exportOptions.rowsPerFile = rowsPerFile
                let json = options.json
                let summary = try options.open().exportTrainingSnapshot(to: out, options: exportOptions) { line in
                    if !json { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
                }
                if json {
                    printJSON([
                        "ok": true, "folder": summary.folder, "events": summary.events,
                        "interactions": summary.interactions, "users": summary.users, "items": summary.items,
                        "files": summary.files, "last_event_sequence": summary.lastEventSequence,
                        "seconds": summary.seconds,
                    ])
                } else {
                    print("Exported \(formatCount(summary.interactions)) interactions (\(formatCount(summary.events)) events) "
                        + "of \(formatCount(summary.users)) users and \(formatCount(summary.items)) items to \(summary.folder) "
                        + "in \(summary.files.count) part(s), \(String(format: "%.2f", summary.seconds)) s.")
                }
            }
        }
    }
}
