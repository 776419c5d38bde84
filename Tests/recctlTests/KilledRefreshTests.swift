import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` in the middle of `recctl refresh als`, while it writes the new generation: the model stays on the
/// generation it had, keeps serving, and the next open removes what the killed refresh had written.
@Suite("recctl refresh killed with SIGKILL")
struct KilledRefreshTests {
    /// 300 users × 10 views over 600 items in four groups of 150: `user,item,type,time,value`.
    static func writeEvents(to path: String) throws {
        var text = "user,item,type,time,value\n"
        for user in 0..<300 {
            let group = user % 4
            for event in 0..<10 {
                // 13 and 150 are coprime: a user's 10 items are distinct.
                let item = group * 150 + (user * 7 + event * 13) % 150
                text += "u\(user),i\(item),view,\(1_700_000_000 + user * 20 + event),1\n"
            }
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func killedRefreshLeavesThePreviousGenerationServing() throws {
        try TemporaryDirectory.with { folder in
            let path = try KilledJob.makeDatabase(in: folder)
            let first = try RecCtl.succeed(
                "refresh", "als", "--iterations", "1", "--factors", "8", "--threads", "1", "--db", path, "--json"
            ).json
            try #require(first["generation"] as? Int == 1, "\(first)")

            // A refresh that trains for a second or two (64 factors on 900 rows, in a debug build) and then writes
            // 600 item and 300 user vectors into the space `als@2` and indexes them. Watch from this process and
            // kill it once item vectors of `als@2` are committed: inside the write phase, before the switch.
            let (itemsAtKill, generationAtKill) = try KilledJob.killWhileWriting(
                ["refresh", "als", "--iterations", "4", "--factors", "64", "--threads", "1", "--db", path],
                space: "als@2", model: "als", at: path, poll: 1_000)
            #expect(itemsAtKill > 0, "killed before the write phase was seen")
            #expect(generationAtKill == 1)

            // Reopen (read-write): still generation 1, serving; the half-written als@2 is gone.
            let db = try KilledJob.firstGenerationServes("als", at: path)
            let seen = try db.read { r in try r.seenItems(ofUserID: try #require(try r.userID(for: "u0"))) }
            #expect(Set(seen).count == 10)

            let check = try RecCtl.run("check", "--db", path)
            #expect(check.status == 0 && check.reason == .exit, "\(check)")
            let rows = try RecCtl.succeed("recommend", "--model", "als", "--user", "u1", "-k", "3", "--db", path)
            #expect(rows.stdout.split(separator: "\n").filter { !$0.hasPrefix("       ") }.count == 3, "\(rows)")
            // The killed writer's lock is released: the next refresh goes through and becomes generation 2.
            let next = try RecCtl.succeed(
                "refresh", "als", "--iterations", "1", "--factors", "8", "--threads", "1", "--db", path, "--json"
            ).json
            #expect(next["generation"] as? Int == 2 && next["space"] as? String == "als@2", "\(next)")
            #expect(try db.spaces().map(\.name) == ["als@2"])
        }
    }
}
