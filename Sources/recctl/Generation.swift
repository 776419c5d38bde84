import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Generation: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a trained model generation to another database: export it to a file, install it there.",
            discussion: """
                `recctl generation export MODEL --out FILE` writes the model's active generation (its record, model \
                data and vectors, with a CRC-32) from one snapshot; `recctl generation install FILE` on a database \
                with the same catalog (a replica at the same log position, a backup's copy) writes it as the \
                model's next generation, builds its index, and switches to it in one transaction, like a refresh. \
                Kinds: \(GenerationArchive.shippableKinds.map(\.rawValue).sorted().joined(separator: ", ")). \
                A replicated cluster does this through JetStream with `recd --ship-generations`.

                Examples:
                  recctl generation export als --db trainer --out als.gen
                  recctl generation install als.gen --db replica
                """)

        @OptionGroup var options: DatabaseOptions
        @Argument(help: "export or install.") var action: String
        @Argument(help: "export: the model's name; install: the archive file.") var target: String
        @Option(help: "export: the file to write.") var out: String?
        @Option(help: "install: threads for the index build (the graph is the same with any number).")
        var threads: Int = 2

        func validate() throws {
            guard action == "export" || action == "install" else {
                throw ValidationError("generation takes export or install, not '\(action)'")
            }
            if action == "export", out == nil { throw ValidationError("generation export needs --out FILE") }
            guard threads >= 1 else { throw ValidationError("--threads must be positive") }
        }

        func run() throws {
            try running(json: options.json) {
                let db = try options.open()
                let started = Date()
                if action == "export", let out {
                    let archive = try db.exportGeneration(of: target)
                    guard FileManager.default.createFile(atPath: out, contents: Data(archive.bytes)) else {
                        throw RecDBError(.io, "cannot write the archive", location: out)
                    }
                    let seconds = Date().timeIntervalSince(started)
                    if options.json {
                        printJSON([
                            "ok": true, "model": archive.record.name, "generation": Int(archive.record.generation),
                            "bytes": archive.bytes.count, "seconds": seconds,
                        ])
                    } else {
                        print("Wrote \(archive.record.name) generation \(archive.record.generation) "
                            + "(\(formatCount(archive.bytes.count)) bytes) to \(out) in \(String(format: "%.2f", seconds)) s.")
                    }
                    return
                }
                guard let data = FileManager.default.contents(atPath: target) else {
                    throw RecDBError(.notFound, "cannot read the archive", location: target)
                }
                let archive = try GenerationArchive(bytes: Array(data))
                let report = try db.installGeneration(archive, threads: threads)
                if options.json {
                    printJSON([
                        "ok": true, "model": report.record.name, "generation": Int(report.record.generation),
                        "space": report.record.space ?? "", "bytes": data.count, "seconds": report.seconds,
                        "read_seconds": Date().timeIntervalSince(started) - report.seconds,
                    ])
                } else {
                    print("Installed \(report.record.name) generation \(report.record.generation) from \(target) "
                        + "in \(String(format: "%.2f", report.seconds)) s.")
                }
            }
        }
    }
}
