import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` in the middle of `recctl refresh irgan`: the model stays on the generation it had and keeps serving; the
/// next refresh goes through.
@Suite("recctl refresh irgan killed with SIGKILL")
struct KilledIRGANRefreshTests {
    @Test func killedTrainingLeavesThePreviousGenerationServing() throws {
        try TemporaryDirectory.with { folder in
            let path = try KilledJob.makeDatabase(in: folder)
            let first = try RecCtl.succeed(
                "refresh", "irgan", "--factors", "8", "--iterations", "20", "--rounds", "1", "--threads", "1", "--db", path,
                "--json")
            try #require(KilledSASRecRefreshTests.lastLine(first.stdout)["generation"] as? Int == 1, "\(first)")

            // A refresh that would play 10,000 rounds: kill it while it trains.
            let started = Date()
            try KilledJob.kill(
                [
                    "refresh", "irgan", "--factors", "8", "--iterations", "20", "--rounds", "10000", "--threads", "1",
                    "--db", path, "--json",
                ], at: path, poll: 10_000, what: "while it trained"
            ) { _, _ in Date().timeIntervalSince(started) >= 1.5 }

            let db = try KilledJob.firstGenerationServes("irgan", at: path)
            let next = try RecCtl.succeed(
                "refresh", "irgan", "--factors", "8", "--iterations", "20", "--rounds", "1", "--threads", "1", "--db", path,
                "--json")
            #expect(KilledSASRecRefreshTests.lastLine(next.stdout)["generation"] as? Int == 2, "\(next)")
            #expect(try db.spaces().map(\.name) == ["irgan@2"])
        }
    }
}
