import Foundation
import Testing

/// `recctl refresh KIND --tune` and `recctl import sequences` + EASE end to end.
@Suite("recctl refresh --tune")
struct TunedRefreshCommandTests {
    /// Eight users over six items in two groups, one sequence per line.
    static func sequenceDatabase(in folder: TemporaryDirectory) throws -> String {
        var lines = ""
        for user in 0..<8 {
            let group = user % 2 == 0 ? ["a", "b", "c"] : ["d", "e", "f"]
            lines += "u\(user) " + (0..<4).map { group[($0 + user / 2) % 3] }.joined(separator: " ") + "\n"
        }
        let file = try folder.write("Toy.txt", lines)
        let db = folder.appending("db")
        try RecCtl.succeed("init", "--db", db)
        try RecCtl.succeed("import", "s3rec", file, "--db", db)
        return db
    }

    @Test func tunePrintsTheGridAndRefreshesTheBest() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.sequenceDatabase(in: folder)
            let text = try RecCtl.succeed("refresh", "ease", "--tune", "--threads", "1", "--db", db).stdout
            #expect(text.contains("Tuning ease on the validation split"), "\(text)")
            #expect(text.components(separatedBy: "  NDCG ").count == 8, "seven settings: \(text)")
            #expect(text.contains("Chose lambda="), "\(text)")
            #expect(text.contains("Refreshed ease: generation 1"), "\(text)")

            let json = try RecCtl.succeed(
                "refresh", "itemknn", "--tune", "--budget", "0.000001", "--threads", "1", "--db", db, "--json"
            ).json
            let tuning = try #require(json["tuning"] as? [String: Any], "\(json)")
            #expect((tuning["settings"] as? [[String: Any]])?.count == 1)
            #expect(tuning["untried"] as? Int == 7)
            #expect(json["generation"] as? Int == 1)

            let answer = try RecCtl.succeed(
                "recommend", "--user", "u0", "--model", "ease", "--strict", "-k", "2", "--db", db, "--json"
            ).json
            #expect((answer["items"] as? [[String: Any]])?.isEmpty == false, "\(answer)")
            let usage = try RecCtl.run("refresh", "ease", "--budget", "5", "--db", db)
            #expect(usage.status == 64 && usage.stderr.contains("--budget goes with --tune"), "\(usage)")
        }
    }
}
