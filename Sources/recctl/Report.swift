import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reports of experiments on a database.", subcommands: [Paper.self])
    }
}

extension RecCtl.Report {
    struct Paper: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the HyGenRec paper's protocol and write report.html, report.md and report.json.",
            discussion: """
                5-core filter, per-user chronological 80/10/10 split, full ranking; P, R, NDCG, HR at K, diversity \
                (1 − Jaccard similarity of category/tag sets), novelty, coverage, cold users (≤ 3 training \
                interactions) and cold items; every model over --seeds seeds (mean ± sd), HyGenRec (a blend whose \
                weights are learned on the validation part) and its ablation. --data is a database folder or a data \
                set folder (amazon-office-lcrec, amazon-sports-s3rec, ml-100k), imported into OUT/db on first use.

                Example:
                  recctl report paper --data ../shared/datasets/amazon-office-lcrec --out report/ --seeds 3
                """)

        @Option(help: "A RecDB database folder, or a data set folder to import into OUT/db.") var data: String
        @Option(help: "Folder for report.html, report.md and report.json (created).") var out: String
        @Option(help: "The data set's name in the report's title (default: the --data folder's name).") var name: String?
        @Option(help: "Runs per model (seed 42 + s).") var seeds: Int?
        @Option(
            help: """
                Comma-separated kinds; unknown kinds are skipped with a note. A kind may carry its own parameters: \
                als:augment_weight=0.3 (ALS with CFGAN-synthesised interactions), llmprofile:guided=0.
                """)
        var models: String?
        @Option(
            name: .customLong("hybrid-parts"),
            help: "Comma-separated kinds HyGenRec blends (KIND:NAME=VALUE as for --models; an augmented part adds the row 'hygenrec without gan').")
        var hybridParts: String?
        @Flag(help: "Score every row on the validation part instead of the test part (for choosing settings).")
        var validation = false
        @Option(
            name: .customLong("test-history"),
            help: "What a user's history holds when the test part is scored: with-validation (default) or training-only.")
        var testHistory: Evaluator.TestHistory = .withValidation
        @Option(
            name: .customLong("set"),
            help: "A parameter for a kind before training, as KIND.NAME=VALUE (repeatable): --set sasrec.epochs=20.")
        var settings: [String] = []
        @Option(name: .short, help: "List length K.") var k: Int = 10
        @Flag(help: "A small run: one seed, epoch-trained kinds capped at 2 epochs.") var quick = false
        @Flag(help: "Print the summary as JSON (the bench's last line).") var json = false
        @Option(help: "Threads for training and evaluation.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func validate() throws {
            if let seeds, seeds < 1 { throw ValidationError("--seeds must be at least 1") }
            if k < 1 { throw ValidationError("-k must be at least 1") }
        }

        func run() throws {
            try running(json: json) {
                var settings = quick ? PaperProtocol.quick : PaperProtocol()
                if let seeds { settings.seeds = seeds }
                if let models { settings.models = Self.list(models) }
                if let hybridParts { settings.hybridParts = Self.list(hybridParts) }
                for setting in self.settings {
                    let parts = setting.split(separator: "=", maxSplits: 1)
                    let name = parts.first?.split(separator: ".", maxSplits: 1) ?? []
                    guard parts.count == 2, name.count == 2, let value = Double(parts[1]) else {
                        throw ValidationError("--set \(setting): expected KIND.NAME=NUMBER, e.g. sasrec.epochs=20")
                    }
                    settings.parameters[String(name[0]).lowercased(), default: [:]][String(name[1])] = value
                }
                settings.k = k
                settings.onValidation = validation
                settings.testHistory = testHistory
                settings.threads = max(1, threads)
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let db = try openOrImport()
                let dataset = name ?? URL(fileURLWithPath: data).standardizedFileURL.lastPathComponent
                let report = try db.paperReport(settings, dataset: dataset) { line in
                    FileHandle.standardError.write(Data("report: \(line)\n".utf8))
                }
                let folder = URL(fileURLWithPath: out)
                try report.json().write(to: folder.appendingPathComponent("report.json"))
                try Data(report.markdown().utf8).write(to: folder.appendingPathComponent("report.md"))
                try Data(report.html().utf8).write(to: folder.appendingPathComponent("report.html"))
                if json {
                    printJSON(report.summary)
                } else {
                    print(report.markdown())
                    print("wrote \(folder.appendingPathComponent("report.html").path), report.md, report.json")
                }
            }
        }

        static func list(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        /// The database at --data, or the data set at --data imported into OUT/db (once).
        func openOrImport() throws -> RecDatabase {
            let files = FileManager.default
            if files.fileExists(atPath: data + "/data.mdb") { return try RecDatabase.open(at: data) }
            let entries = (try? files.contentsOfDirectory(atPath: data)) ?? []
            let format: String
            let path: String
            if entries.contains(where: { $0.hasSuffix(".inter.json") }) {
                (format, path) = ("amazon", data)
            } else if let sequences = entries.first(where: { $0.hasSuffix(".txt.gz") || $0.hasSuffix(".txt") }) {
                (format, path) = ("sequences", data + "/" + sequences)
            } else if entries.contains("u.data") {
                (format, path) = ("movielens", data)
            } else {
                throw RecDBError(
                    .invalidArgument,
                    "--data \(data): neither a RecDB database (data.mdb) nor a known data set folder "
                        + "(Amazon *.inter.json, sequences *.txt.gz, MovieLens u.data)")
            }
            let dbPath = out + "/db"
            let fresh = !files.fileExists(atPath: dbPath + "/data.mdb")
            let db = try RecDatabase.open(at: dbPath, create: true)
            if fresh {
                FileHandle.standardError.write(Data("report: importing \(path) as \(format) into \(dbPath)\n".utf8))
                let source = try ImportFormats.make(name: format, path: path, map: nil, delimiter: nil, eventType: nil)
                _ = try Importer.run(source, into: db, options: ImportOptions())
            }
            return db
        }
    }
}
