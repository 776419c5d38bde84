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
            let path = try KilledJob.makeDatabase(in: folder)
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
            try KilledJob.kill(
                [
                    "refresh", "sasrec", "--epochs", "100000", "--patience", "100000", "--dimension", "16",
                    "--threads", "1", "--db", path, "--json",
                ], at: path, poll: 2_000, what: "while it trained"
            ) { watcher, child in
                guard child.stdoutSoFar.contains("\"epoch\"") else { return false }
                generationAtKill = try watcher.read { r in try r.model("sasrec")?.generation ?? 0 }
                return true
            }
            #expect(generationAtKill == 1)

            let db = try KilledJob.firstGenerationServes("sasrec", at: path)
            let next = try RecCtl.succeed(
                "refresh", "sasrec", "--epochs", "1", "--dimension", "8", "--threads", "1", "--db", path, "--json")
            #expect(Self.lastLine(next.stdout)["generation"] as? Int == 2, "\(next)")
            #expect(try db.spaces().map(\.name) == ["sasrec@2"])
        }
    }
}
