import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the database: the LMDB file page by page, then the catalog and the indexes.",
            discussion: """
                First every page of data.mdb is read and checked without LMDB (meta pages, size, every B-tree); \
                each problem is printed as `database, page, key: what`. Only when the file is sound do the catalog \
                checks run: id maps agree both ways and every index entry points to a live record. Exits 0 when \
                sound, 1 with the list of problems otherwise.
                """)

        @OptionGroup var options: DatabaseOptions

        @Option(help: "Stop after this many problems.")
        var limit: Int = 100

        @Flag(help: "Check only the LMDB file (every page), not the catalog and indexes.")
        var fileOnly = false

        func run() throws {
            var sound = true
            try running(json: options.json) {
                var dbOptions = RecDatabase.Options()
                dbOptions.storage.verification = .full
                dbOptions.storage.verificationLimit = max(1, limit)
                let db: RecDatabase
                do {
                    db = try options.open(options: dbOptions)
                } catch let error as RecDBError where error.cause is FileVerification {
                    // The file failed its check at opening: list what is wrong with it.
                    printFileProblems(error.cause as! FileVerification)
                    sound = false
                    return
                }
                // Opened here first, the file was walked at opening; else walk the snapshot now.
                let file = try db.environment.verification ?? db.environment.verifyFile(limit: max(1, limit))
                guard file.isSound else {
                    printFileProblems(file)
                    sound = false
                    return
                }
                if fileOnly {
                    if options.json {
                        printJSON(["ok": true, "file": fileSummary(file), "problems": [] as [Any]])
                    } else {
                        print(
                            "OK: \(file.path): \(file.pagesChecked) pages of \(file.databases.count) databases sound "
                                + String(format: "(checked in %.1f ms).", file.seconds * 1000))
                    }
                    return
                }
                let problems = try db.checkIntegrity(limit: limit)
                sound = problems.isEmpty
                if options.json {
                    printJSON([
                        "ok": problems.isEmpty, "file": fileSummary(file),
                        "problems": problems.map { ["index": $0.index, "message": $0.message] },
                    ])
                    return
                }
                if problems.isEmpty {
                    print("OK: \(db.path) is consistent.")
                } else {
                    print("\(problems.count) problem(s) in \(db.path):")
                    for problem in problems { print("  \(problem)") }
                }
                print(
                    "The file: \(file.pagesChecked) pages of \(file.databases.count) databases sound "
                        + String(format: "(checked in %.1f ms).", file.seconds * 1000))
                if let first = problems.first {
                    FileHandle.standardError.write(
                        Data("recctl: error: \(db.path): the catalog is inconsistent: \(first)\n".utf8))
                }
            }
            if !sound { throw ExitCode.failure }
        }

        private func fileSummary(_ file: FileVerification) -> [String: Any] {
            var summary: [String: Any] = [
                "path": file.path, "size": file.fileSize, "page_size": file.pageSize, "pages_checked": file.pagesChecked,
                "databases": file.databases.count, "milliseconds": (file.seconds * 1e4).rounded() / 10,
            ]
            if let snapshot = file.snapshot { summary["transaction"] = Int(snapshot.transaction) }
            return summary
        }

        private func printFileProblems(_ file: FileVerification) {
            if options.json {
                printJSON([
                    "ok": false, "file": fileSummary(file), "stopped_at_limit": file.stoppedAtLimit,
                    "problems": file.problems.map { problem -> [String: Any] in
                        var object: [String: Any] = ["database": problem.database, "message": problem.message]
                        if let page = problem.page { object["page"] = Int(page) }
                        if let key = problem.key { object["key"] = key }
                        return object
                    },
                ])
            } else {
                let more = file.stoppedAtLimit ? " (stopped at the limit of \(limit))" : ""
                print("\(file.problems.count) problem(s) in \(file.path)\(more):")
                for problem in file.problems { print("  \(problem)") }
                if let previous = file.previousSnapshot, file.problems.contains(where: { $0.database == "meta pages" }) {
                    print(
                        "Meta page \(previous.metaPage) (the previous commit, transaction \(previous.transaction)) "
                            + "is intact.")
                }
            }
            let first = file.problems.first.map { ": \($0)" } ?? ""
            FileHandle.standardError.write(Data("recctl: error: \(file.path) is damaged\(first)\n".utf8))
        }
    }
}
