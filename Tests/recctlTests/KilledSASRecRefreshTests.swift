import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` in the middle of `recctl refresh sasrec`, while it trains: the model stays on the generation it had and
/// keeps serving; the next refresh goes through.
@Suite("recctl refresh sasrec killed with SIGKILL")
struct KilledSASRecRefreshTests {
    /// The JSON object on the last line of `output` (the refresh's result after its epoch lines).
    static func lastLine(_ output: String) -> [String: Any] {
        let line = output.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    @Test func killedTrainingLeavesThePreviousGenerationServing() throws {
        try TemporaryDirectory.with { folder in
            let csv = folder.appending("events.csv")
            try KilledRefreshTests.writeEvents(to: csv)
            let path = folder.appending("db")
            try RecCtl.succeed("init", "--db", path)
            try RecCtl.succeed("import", "csv", csv, "--kind", "events", "--db", path)
            let first = try RecCtl.succeed(
                "refresh", "sasrec", "--epochs", "2", "--dimension", "8", "--threads", "1", "--db", path, "--json")
            let lines = first.stdout.split(separator: "\n").map {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:]
            }
            // One line per epoch (epoch, loss, validation NDCG, ETA), then the result.
            #expect(lines.count == 3, "\(first)")
            #expect(lines.first?["event"] as? String == "epoch" && lines.first?["epoch"] as? Int == 1)
            #expect(lines.first?["validation_ndcg10"] as? Double != nil)
            #expect(lines.first?["eta_seconds"] as? Double != nil)
            try #require(Self.lastLine(first.stdout)["generation"] as? Int == 1, "\(first)")

            // A refresh that would train for 100,000 epochs: kill it once it has reported an epoch.
            var generationAtKill: UInt32 = 0
            let result: RecCtl.Result
            do {
                let watcher = try RecDatabase.open(at: path)
                let child = try RecCtl.Child([
                    "refresh", "sasrec", "--epochs", "100000", "--patience", "100000", "--dimension", "16",
                    "--threads", "1", "--db", path, "--json",
                ])
                let deadline = Date().addingTimeInterval(90)
                while child.process.isRunning && Date() < deadline && !child.stdoutSoFar.contains("\"epoch\"") {
                    usleep(2_000)
                }
                generationAtKill = try watcher.read { r in try r.model("sasrec")?.generation ?? 0 }
                kill(child.pid, SIGKILL)
                result = child.finish()
            }
            try #require(
                result.reason == .uncaughtSignal && result.status == SIGKILL,
                "the refresh was not killed while training: \(result)")
            #expect(generationAtKill == 1)

            let db = try Self.firstGenerationServes("sasrec", at: path)
            let next = try RecCtl.succeed(
                "refresh", "sasrec", "--epochs", "1", "--dimension", "8", "--threads", "1", "--db", path, "--json")
            #expect(Self.lastLine(next.stdout)["generation"] as? Int == 2, "\(next)")
            #expect(try db.spaces().map(\.name) == ["sasrec@2"])
        }
    }

    /// After a killed refresh of `model`: generation 1 is still the model's only space and generation, it serves user
    /// u0 five items u0 has not seen, and the file is sound. Returns the open database for the next refresh's checks.
    static func firstGenerationServes(_ model: String, at path: String) throws -> RecDatabase {
        let db = try RecDatabase.open(at: path)
        #expect(try db.spaces().map(\.name) == ["\(model)@1"])
        let record = try #require(try db.model(model))
        #expect(record.generation == 1 && record.space == "\(model)@1")
        try db.read { r in
            let recommended = try r.recommend(model: model, user: "u0", k: 5)
            #expect(recommended.count == 5)
            let seen = Set(try r.seenItems(ofUserID: try #require(try r.userID(for: "u0"))))
            #expect(recommended.allSatisfy { !seen.contains($0.item) })
        }
        #expect(try db.checkIntegrity() == [])
        return db
    }
}
