import Foundation
import Testing

@testable import RecStorage
import RecWire

/// `WriteTransaction.savepoint` / `attempt`: nested LMDB transactions that roll back alone.
@Suite("Savepoints")
struct SavepointTests {
    @Test func aFailedSavepointRollsBackAloneAndTheTransactionCommitsTheRest() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
            try env.write { txn in _ = try names.put(1, "one", in: &txn) }
            try env.write { txn throws in
                try names.put(2, "two", in: &txn)
                do {
                    try txn.savepoint { inner throws in
                        try names.put(1, "uno", in: &inner)
                        try names.put(3, "three", in: &inner)
                        // The savepoint sees its own writes and the parent's.
                        #expect(try names.get(2, in: inner) == "two")
                        #expect(try names.get(3, in: inner) == "three")
                        throw DeliberateFailure()
                    }
                    Issue.record("the savepoint did not rethrow")
                } catch {
                    #expect(error is DeliberateFailure)
                }
                // Back in the parent: as before the savepoint, and still writable.
                #expect(try names.get(1, in: txn) == "one")
                #expect(try names.get(3, in: txn) == nil)
                let kept = try txn.savepoint { inner in try names.put(4, "four", in: &inner) }
                #expect(kept)
                try names.put(5, "five", in: &txn)
            }
            try env.read { txn throws in
                #expect(try names.get(1, in: txn) == "one")
                #expect(try names.get(3, in: txn) == nil)
                #expect(try names.get(4, in: txn) == "four")
                #expect(try names.count(in: txn) == 4)
            }
        }
    }

    @Test func savepointsNestAndAnOuterThrowUndoesInnerCommits() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
            try env.write { txn throws in
                let outcome = try txn.attempt { outer throws in
                    try outer.savepoint { inner in _ = try names.put(1, "kept by inner", in: &inner) }
                    #expect(try names.get(1, in: outer) == "kept by inner")
                    throw DeliberateFailure()
                }
                guard case .failure(let error) = outcome else { Issue.record("the outer savepoint succeeded"); return }
                #expect(error is DeliberateFailure)
                #expect(try names.get(1, in: txn) == nil)
                let inner = try txn.attempt { outer in
                    try outer.attempt { inner throws in
                        try names.put(2, "dropped", in: &inner)
                        throw DeliberateFailure()
                    }
                }
                #expect(throws: DeliberateFailure.self) { try inner.get().get() }
                #expect(try names.get(2, in: txn) == nil)
            }
        }
    }

    /// A full map inside `attempt` is not handed back as the piece's failure: it reaches `Environment.write`, which
    /// grows the map and runs the body again, so every piece that should commit does.
    @Test func aFullMapInsideAnAttemptGrowsTheMapInsteadOfFailingThePiece() throws {
        try TemporaryDirectory.with { folder in
            var options = Environment.Options()
            options.initialMapSize = 1 << 20
            options.noSync = true
            let env = try Environment.open(at: folder.path, options: options)
            let blobs = try env.database("blobs", key: UInt32Codec.self, value: BytesCodec.self)
            var runs = 0
            let outcomes = try env.write { txn throws -> [Bool] in
                runs += 1
                var outcomes: [Bool] = []
                for key in UInt32(0)..<48 {
                    let outcome = try txn.attempt { inner throws in
                        if key % 4 == 3 { throw DeliberateFailure() }
                        try blobs.put(key, MapGrowthTests.value(for: key), in: &inner)
                    }
                    outcomes.append((try? outcome.get()) != nil)
                }
                return outcomes
            }
            #expect(runs > 1, "3 MiB in a 1 MiB map must have grown the map and run again")
            #expect(outcomes == (0..<48).map { $0 % 4 != 3 })
            try env.read { txn throws in
                #expect(try blobs.count(in: txn) == 36)
                for key in UInt32(0)..<48 {
                    #expect(try blobs.get(key, in: txn) == (key % 4 == 3 ? nil : MapGrowthTests.value(for: key)))
                }
            }
        }
    }
}
