import Foundation
import Testing

import RecTestSupport

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// `recctl export events` and `recctl import model als --from DIR`, and `kill -9` in the middle of an import while
/// it writes the new generation: the model stays on the generation it had, keeps serving, and the next import goes
/// through.
@Suite("recctl import model als (Spark factors), killed with SIGKILL")
struct KilledFactorImportTests {
    /// Factors of `rank` for every user and item of the database, as the Spark job would write them.
    static func writeFactors(for path: String, rank: Int, to out: String) throws {
        let db = try RecDatabase.open(at: path)
        let (users, items) = try db.read { r -> ([(id: String, vector: [Float])], [(id: String, vector: [Float])]) in
            var users: [(id: String, vector: [Float])] = [], items: [(id: String, vector: [Float])] = []
            try r.forEachUser { user in
                users.append((user.id, (0..<rank).map { Float(($0 * 7 + user.id.count) % 11) / 10 }))
                return .next
            }
            try r.forEachItem { item in
                items.append((item.id, (0..<rank).map { Float(($0 * 3 + Int(item.internalID)) % 13) / 10 }))
                return .next
            }
            return (users, items)
        }
        try SparkFactorsFixture.write(to: out, rank: rank, users: users, items: items)
    }

    @Test func exportThenKilledImportLeavesThePreviousGenerationServing() throws {
        try TemporaryDirectory.with { folder in
            let path = try KilledJob.makeDatabase(in: folder)

            let export = try RecCtl.succeed("export", "events", "--out", folder.appending("export"), "--db", path, "--json").json
            #expect(export["interactions"] as? Int == 3000 && export["users"] as? Int == 300, "\(export)")
            #expect(export["items"] as? Int == 600 && export["files"] as? [String] == ["interactions/part-00000.csv.gz"])
            let again = try RecCtl.run("export", "events", "--out", folder.appending("export"), "--db", path)
            #expect(again.status == 1 && again.stderr.contains("exists"), "\(again)")

            let small = folder.appending("small")
            try Self.writeFactors(for: path, rank: 8, to: small)
            let first = try RecCtl.succeed("import", "model", "als", "--from", small, "--threads", "1", "--db", path, "--json").json
            try #require(first["generation"] as? Int == 1 && first["space"] as? String == "als@1", "\(first)")

            // An import of 128-dimensional factors: kill it once item vectors of `als@2` are committed, inside the
            // write phase, before the switch.
            let large = folder.appending("large")
            try Self.writeFactors(for: path, rank: 128, to: large)
            let (itemsAtKill, generationAtKill) = try KilledJob.killWhileWriting(
                ["import", "model", "als", "--from", large, "--threads", "1", "--db", path],
                space: "als@2", model: "als", at: path, poll: 500)
            #expect(itemsAtKill > 0 && generationAtKill == 1)

            let db = try KilledJob.firstGenerationServes("als", at: path)
            let next = try RecCtl.succeed("import", "model", "als", "--from", large, "--threads", "1", "--db", path, "--json").json
            #expect(next["generation"] as? Int == 2 && next["rank"] as? Int == 128, "\(next)")
            #expect(try db.spaces().map(\.name) == ["als@2"])
            #expect(try db.read { r in try r.recommend(model: "als", user: "u0", k: 5) }.count == 5)

            // An unknown id: the error names the file and line; nothing changes.
            let stray = folder.appending("stray")
            try SparkFactorsFixture.write(
                to: stray, rank: 2, users: [], items: [],
                itemLines: "{\"id\":\"i0\",\"features\":[1,2]}\n{\"id\":\"no-such-item\",\"features\":[1,2]}\n")
            let failed = try RecCtl.run("import", "model", "als", "--from", stray, "--db", path)
            #expect(failed.status == 1 && failed.stderr.contains("item_factors/part-00000-0c1d.json:2"), "\(failed)")
            #expect(failed.stderr.contains("no-such-item"), "\(failed)")
            #expect(try db.model("als")?.generation == 2)
        }
    }
}
