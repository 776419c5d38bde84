import ArgumentParser
import Foundation
import RecDB

#if canImport(Glibc)
import Glibc
#endif

extension RecCtl {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import items, users and events from a data set or a generic file.",
            discussion: """
                Formats: movielens, online-retail, yoochoose, retailrocket, amazon, diginetica, sequences (alias \
                s3rec: `user item item …` per line in time order, events of --type, default purchase, one second \
                apart per user) (PATH is the file or its folder), and csv, tsv, jsonl with --kind and --map.
                Rows are written in batches, one transaction each; a malformed row stops the import with its \
                file:line and the database as of the last committed batch, unless --skip-bad.
                Re-runs are idempotent: each batch records how many rows of its file are committed, and running the \
                same import over the same (unchanged) file again skips them, after a crash, kill -9 or a full disk \
                as after a complete run. --no-resume imports every row again.
                Only regular files are read; --stream also reads pipes and devices (no resume, lines limited by \
                --max-line-bytes).

                Examples:
                  recctl import movielens ../shared/datasets/ml-100k
                  recctl import online-retail online_retail.csv.gz
                  recctl import sequences Sports_and_Outdoors.txt.gz
                  recctl import csv events.csv --kind events --map user=customer --map item=sku --type view
                  recctl import jsonl products.jsonl --kind items --map id=sku --map weight=grams:number

                `recctl import model als --from DIR` installs ALS factors trained on Apache Spark \
                (spark/train_als.py on a `recctl export events` folder) as the model's next generation; \
                `recctl import model itemknn --from DIR` installs the job's item similarities (--similar-items K) \
                as the next item-kNN generation.
                """)

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "The format: \(ImportFormats.names.joined(separator: ", ")).")
        var format: String

        @Argument(help: "The file or folder to read.")
        var path: String

        @Option(help: "For csv/tsv/jsonl: what each row is (items, users, events).")
        var kind: String?

        @Option(name: .customLong("map"), help: "For csv/tsv/jsonl: FIELD=COLUMN[:TYPE] (repeatable).")
        var mappings: [String] = []

        @Option(
            name: .customLong("type"),
            help: "For events without a type column (and sequences): the event type of every row.")
        var eventType: String?

        @Option(help: "How to read numeric times: auto, s, ms or iso.")
        var timeUnit: String = "auto"

        @Option(help: "The field separator of csv files (default ',' for csv, tab for tsv).")
        var delimiter: String?

        @Option(help: "The separator inside list attributes such as tags.")
        var listSeparator: String = "|"

        @Option(help: "Rows per write transaction.")
        var batchSize: Int = 50_000

        @Flag(help: "Skip and count malformed rows instead of stopping at the first.")
        var skipBad = false

        @Flag(name: .customLong("nosync"), help: "Don't fsync each batch (faster; synced once at the end).")
        var noSync = false

        @Flag(help: "Also read a FIFO, pipe or device (refused otherwise: it may never end). No resume.")
        var stream = false

        @Option(help: "The longest line accepted, in bytes; a longer one stops the import.")
        var maxLineBytes: Int = 64 << 20

        @Flag(help: "Import every row, even those an earlier run of this import committed (events are added again).")
        var noResume = false

        @Option(name: .customLong("from"), help: "For `import model als|itemknn`: the Spark job's output folder.")
        var modelFolder: String?

        @Option(help: "For `import model`: threads that build the HNSW index.")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func validate() throws {
            guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
            guard maxLineBytes > 0 else { throw ValidationError("--max-line-bytes must be positive") }
            if let delimiter, delimiter.count != 1 && delimiter != "\\t" {
                throw ValidationError("--delimiter must be one character")
            }
            guard listSeparator.count == 1 else { throw ValidationError("--list-separator must be one character") }
        }

        func run() throws {
            if format == "model" {
                return try ModelImport(kind: path, folder: modelFolder, threads: max(1, threads), options: options).run()
            }
            try running(json: options.json) {
                var dbOptions = RecDatabase.Options()
                dbOptions.storage.noSync = noSync
                let db = try options.open(options: dbOptions)
                var map: FieldMap?
                if ["csv", "tsv", "jsonl"].contains(format.lowercased()) {
                    guard let kindName = kind, let recordKind = RecordKind(rawValue: kindName) else {
                        throw ValidationError("format \(format) needs --kind items, users or events")
                    }
                    map = try FieldMap(
                        kind: recordKind, mappings: mappings, defaultEventType: eventType, timeUnit: timeUnit,
                        listSeparator: listSeparator.first!)
                }
                let separator: Character? = delimiter.map { $0 == "\\t" ? "\t" : $0.first! }
                let source = try ImportFormats.make(
                    name: format, path: path, map: map, delimiter: separator, eventType: eventType)

                var importOptions = ImportOptions()
                importOptions.batchSize = batchSize
                importOptions.skipBad = skipBad
                importOptions.stream = stream
                importOptions.maxLineBytes = maxLineBytes
                importOptions.resume = !noResume
                let showBar = !options.json && isatty(STDERR_FILENO) != 0
                if showBar { importOptions.progress = { ProgressBar.show($0) } }
                let report: ImportReport
                do {
                    report = try Importer.run(source, into: db, options: importOptions)
                } catch let stopped as ImportStopped {
                    if showBar { ProgressBar.finish() }
                    if !options.json { printReport(stopped.report, stopped: true) }
                    throw stopped
                }
                if noSync { try db.environment.sync() }
                if showBar { ProgressBar.finish() }
                if options.json {
                    printJSON([
                        "ok": true, "format": report.format, "rows_read": report.rowsRead, "rows_imported": report.rowsImported,
                        "rows_rejected": report.rowsRejected, "rows_skipped": report.rowsSkipped,
                        "batches": report.batchesCommitted, "notes": report.notes,
                        "records_written": report.recordsWritten, "seconds": report.seconds,
                        "rows_per_second": report.rowsPerSecond, "db_bytes": db.environment.fileSize,
                        "rejections": report.rejections.map { ["at": $0.location, "reason": $0.reason] },
                    ])
                } else {
                    printReport(report, stopped: false)
                }
            }
        }

        private func printReport(_ report: ImportReport, stopped: Bool) {
            print(
                "\(stopped ? "Stopped" : "Imported") \(report.format): \(formatCount(report.rowsRead)) rows read, "
                    + "\(formatCount(report.rowsImported)) imported, \(formatCount(report.rowsRejected)) rejected "
                    + "in \(String(format: "%.2f", report.seconds)) s (\(formatCount(Int(report.rowsPerSecond))) rows/s, "
                    + "\(report.batchesCommitted) batches committed).")
            if report.rowsSkipped > 0 {
                print("  \(formatCount(report.rowsSkipped)) rows skipped: an earlier run of this import committed them.")
            }
            for note in report.notes { print("  note: \(note)") }
            for rejection in report.rejections where !stopped || report.rowsRejected > 1 {
                print("  rejected \(rejection.location): \(rejection.reason)")
            }
            if report.rowsRejected > report.rejections.count {
                print("  … and \(formatCount(report.rowsRejected - report.rejections.count)) more rejected rows")
            }
        }
    }
}

/// A one-line progress bar on standard error, redrawn after each committed batch.
enum ProgressBar {
    static func show(_ progress: ImportProgress) {
        let width = 30
        let fraction = min(max(progress.fraction ?? 0, 0), 1)
        let filled = Int(Double(width) * fraction)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = progress.seconds > 0 ? Int(Double(progress.rowsImported) / progress.seconds) : 0
        let line = "\r[\(bar)] \(Int(fraction * 100))%  \(formatCount(progress.rowsImported)) rows  "
            + "\(formatCount(rate)) rows/s  \(formatCount(progress.rowsRejected)) rejected"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
