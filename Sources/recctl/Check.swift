import ArgumentParser
import Foundation
import RecDB

extension RecCtl {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the database: id maps agree both ways and every index entry points to a live record.",
            discussion: "Exits 0 when sound, 1 with the list of problems otherwise.")

        @OptionGroup var options: DatabaseOptions

        @Option(help: "Stop after this many problems.")
        var limit: Int = 100

        func run() throws {
            var problems: [IntegrityProblem] = []
            try running(json: options.json) {
                let db = try options.open()
                problems = try db.checkIntegrity(limit: limit)
                if options.json {
                    printJSON(["ok": problems.isEmpty, "problems": problems.map { ["index": $0.index, "message": $0.message] }])
                } else if problems.isEmpty {
                    print("OK: \(db.path) is consistent.")
                } else {
                    print("\(problems.count) problem(s) in \(db.path):")
                    for problem in problems { print("  \(problem)") }
                }
            }
            if !problems.isEmpty { throw ExitCode.failure }
        }
    }
}
