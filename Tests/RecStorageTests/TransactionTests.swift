import Foundation
import Testing

@testable import RecStorage
import RecWire

@Suite("Transactions")
struct TransactionTests {
    @Test func throwInsideWriteAbortsEverything() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
            let tags = try env.database("tags", key: StringCodec.self, value: UInt32Codec.self, flags: .duplicates)
            try env.write { txn in _ = try names.put(1, "one", in: &txn) }

            #expect(throws: DeliberateFailure.self) {
                try env.write { txn throws in
                    try names.put(1, "uno", in: &txn)
                    try names.put(2, "two", in: &txn)
                    try names.put(3, "three", in: &txn)
                    try tags.put("odd", 3, in: &txn)
                    // The transaction sees its own writes before it aborts.
                    #expect(try names.get(2, in: txn) == "two")
                    throw DeliberateFailure()
                }
            }

            try env.read { txn throws in
                #expect(try names.get(1, in: txn) == "one")
                #expect(try names.get(2, in: txn) == nil)
                #expect(try names.get(3, in: txn) == nil)
                #expect(try names.count(in: txn) == 1)
                #expect(try tags.count(in: txn) == 0)
            }
        }
    }

    @Test func returningFromWriteCommits() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
            let result = try env.write { txn throws in
                try names.put(7, "seven", in: &txn)
                return 42
            }
            #expect(result == 42)
            #expect(try env.read { txn in try names.get(7, in: txn) } == "seven")
        }
    }

    @Test func readOnlyEnvironmentOpensExistingDatabasesOnly() throws {
        try TemporaryDirectory.with { folder in
            do {
                let env = try Environment.open(at: folder.path)
                let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
                try env.write { txn in _ = try names.put(1, "one", in: &txn) }
            }
            var options = Environment.Options()
            options.readOnly = true
            let env = try Environment.open(at: folder.path, options: options)
            let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
            // The handle stays valid after the transaction that opened it, in every later read.
            #expect(try env.read { txn throws in try names.get(1, in: txn) } == "one")
            #expect(try env.read { txn throws in try names.count(in: txn) } == 1)
            expectRecDBError(.notFound) {
                _ = try env.database("other", key: UInt32Codec.self, value: StringCodec.self)
            }
            expectRecDBError(.invalidArgument) { try env.write { txn in _ = try names.put(2, "two", in: &txn) } }
        }
    }

    @Test func readerKeepsSnapshotDuringWrite() throws {
        try TemporaryDirectory.with { folder in
            let env = try Environment.open(at: folder.path)
            let values = try env.database("values", key: StringCodec.self, value: StringCodec.self)
            try env.write { txn in _ = try values.put("k", "old", in: &txn) }

            let opened = DispatchSemaphore(value: 0)
            let committed = DispatchSemaphore(value: 0)
            let finished = DispatchSemaphore(value: 0)
            let seen = ReaderObservations()
            // Thread A holds one read transaction across the main thread's commit (MDB_NOTLS allows it).
            let reader = Thread {
                do {
                    try env.read { txn throws in
                        seen.before = try values.get("k", in: txn)
                        opened.signal()
                        _ = committed.wait(timeout: .now() + 30)
                        seen.after = try values.get("k", in: txn)
                        seen.addedKey = try values.get("added", in: txn)
                    }
                } catch {
                    seen.error = error
                }
                finished.signal()
            }
            reader.start()
            try #require(opened.wait(timeout: .now() + 30) == .success)

            let write = Result {
                try env.write { txn throws in
                    try values.put("k", "new", in: &txn)
                    try values.put("added", "yes", in: &txn)
                }
            }
            // A new read, taken while A's snapshot is still open, sees the commit.
            let fresh = Result { try env.read { txn in try values.get("k", in: txn) } }
            committed.signal()
            try #require(finished.wait(timeout: .now() + 30) == .success)

            try write.get()
            #expect(try fresh.get() == "new")
            #expect(seen.error == nil)
            #expect(seen.before == "old")
            #expect(seen.after == "old")
            #expect(seen.addedKey == nil)
            #expect(try env.read { txn in try values.get("k", in: txn) } == "new")
        }
    }
}

/// What the reader thread saw; the semaphores order every access, so no lock is needed.
private final class ReaderObservations: @unchecked Sendable {
    var before: String?
    var after: String?
    var addedKey: String?
    var error: (any Error)?
}
