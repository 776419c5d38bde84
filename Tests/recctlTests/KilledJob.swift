import Foundation
import Testing

@testable import RecDB

#if canImport(Glibc)
    import Glibc
#endif

/// What the `kill -9` tests of recctl's jobs (refresh, factor import) share: the same small shop, a child killed at
/// a chosen moment, and the check that the model's first generation still serves afterwards.
enum KilledJob {
    /// A database at `folder/db` holding ``KilledRefreshTests/writeEvents(to:)``'s 3,000 views, imported by recctl.
    static func makeDatabase(in folder: TemporaryDirectory) throws -> String {
        let csv = folder.appending("events.csv")
        try KilledRefreshTests.writeEvents(to: csv)
        let path = folder.appending("db")
        try RecCtl.succeed("init", "--db", path)
        try RecCtl.succeed("import", "csv", csv, "--kind", "events", "--db", path)
        return path
    }

    /// Runs `recctl arguments…` and kills it with SIGKILL as soon as `ready` (asked every `poll` microseconds, with
    /// the child and a database of this process open on `path`) says so, or after 90 s; requires that the kill, not
    /// the job's own end, stopped it (`what` says in the failure what the kill was meant to interrupt).
    static func kill(
        _ arguments: [String], at path: String, poll: useconds_t, what: String,
        sourceLocation: SourceLocation = #_sourceLocation, ready: (RecDatabase, RecCtl.Child) throws -> Bool
    ) throws {
        let result: RecCtl.Result
        do {
            let watcher = try RecDatabase.open(at: path)
            let child = try RecCtl.Child(arguments)
            let deadline = Date().addingTimeInterval(90)
            while child.process.isRunning && Date() < deadline {
                if try ready(watcher, child) { break }
                usleep(poll)
            }
            Glibc.kill(child.pid, SIGKILL)
            result = child.finish()
        }
        try #require(
            result.reason == .uncaughtSignal && result.status == SIGKILL,
            "the job was not killed \(what) (it ended on its own, or never got going): \(result)",
            sourceLocation: sourceLocation)
    }

    /// ``kill(_:at:poll:what:sourceLocation:ready:)`` once item vectors of the space `space` are committed (inside
    /// the job's write phase, before the switch); returns how many there were and the model's generation then.
    static func killWhileWriting(
        _ arguments: [String], space: String, model: String, at path: String, poll: useconds_t,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (items: Int, generation: UInt32) {
        var seen = (items: 0, generation: UInt32(0))
        try kill(arguments, at: path, poll: poll, what: "mid-way", sourceLocation: sourceLocation) { watcher, _ in
            seen = try watcher.read { r in
                let items = try r.space(space) == nil ? 0 : try r.vectorCount(space: space, .items)
                return (items, try r.model(model)?.generation ?? 0)
            }
            return seen.items > 0
        }
        return seen
    }

    /// After a killed job on `model`: generation 1 is still the model's only space and generation, it serves user
    /// u0 five items u0 has not seen, and the file is sound. Returns the open database for the next job's checks.
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
