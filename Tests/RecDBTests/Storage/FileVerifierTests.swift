import Foundation
import Testing

@testable import RecDB
@testable import RecStorage

/// `FileVerifier` on real files: a small catalog with a trained model, compacted (every page in use), then damaged.
@Suite("File verification")
struct FileVerifierTests {
    /// Makes `folder/db`: 200 items with titles, 120 users, 2,400 events and an ALS model (vectors and an HNSW
    /// index), copied compactly so that every page is in use and any damaged page is one that matters.
    static func makeDatabase(in folder: TemporaryDirectory) throws -> String {
        do {
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try RecDatabase.open(at: folder.appending("source"), create: true, options: options)
            try db.write { w in
                for item in 0..<200 {
                    try w.upsertItem("i\(item)", attributes: ["title": .string("Title of item number \(item)")])
                }
                var random = SplitMix(seed: 7)
                for user in 0..<120 {
                    for n in 0..<20 {
                        let item = Int(random.next() % 200)
                        let time = Timestamp(milliseconds: 1_700_000_000_000 + Int64(user * 100 + n) * 60_000)
                        try w.addEvent(EventInput(user: "u\(user)", item: "i\(item)", type: "view", timestamp: time))
                    }
                }
            }
            var als = ALSModel.Parameters()
            als.factors = 8
            als.iterations = 3
            try db.refresh(.als(als), threads: 1)
            try db.environment.copy(to: folder.appending("db"))
        }
        return folder.appending("db")
    }

    /// A copy of `database` in `folder/name` whose `data.mdb` bytes `change` edited; returns the copy's folder.
    static func damagedCopy(
        of database: String, in folder: TemporaryDirectory, _ name: String, _ change: (inout [UInt8]) -> Void
    ) throws -> String {
        let copy = folder.appending(name)
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: database + "/data.mdb")))
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
        return copy
    }

    /// Opening `path` fails with `corrupted` (never a crash) and names the file; returns the error.
    @discardableResult
    static func expectRefused(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> RecDBError? {
        let error = #expect(throws: RecDBError.self, sourceLocation: sourceLocation) {
            _ = try RecDatabase.open(at: path)
        }
        #expect(error?.code == .corrupted, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.location == path + "/data.mdb", sourceLocation: sourceLocation)
        #expect(error?.message.contains("recctl check") == true, sourceLocation: sourceLocation)
        #expect(error?.cause is FileVerification, sourceLocation: sourceLocation)
        return error
    }

    static let pageSize = 4096

    @Test func intactDatabaseIsSoundAndEveryPageIsAccountedFor() throws {
        try TemporaryDirectory.with { folder in
            let path = try Self.makeDatabase(in: folder)
            let report = try FileVerifier.verify(path)
            #expect(report.isSound, "\(report.problems)")
            #expect(report.walkedTrees)
            #expect(report.pageSize == Self.pageSize)
            #expect(Set(report.databases).isSuperset(of: ["events", "items", "user_events", "model_data"]))
            // A compact copy has no free pages: the walk reaches every page of the file.
            #expect(report.pagesInUse == report.fileSize / report.pageSize)
            let snapshot = try #require(report.snapshot)
            #expect(snapshot.lastPage + 1 == UInt64(report.fileSize / report.pageSize))

            let db = try RecDatabase.open(at: path)
            #expect(db.environment.verification?.isSound == true)
            #expect(try db.environment.verifyFile().isSound)
        }
    }

    @Test func truncatedFileIsRefusedNamingBothSizes() throws {
        try TemporaryDirectory.with { folder in
            let path = try Self.makeDatabase(in: folder)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int)
            let half = try Self.damagedCopy(of: path, in: folder, "half") { $0.removeLast($0.count / 2) }
            for level in [FileVerifier.Level.header, .full] {
                let report = try FileVerifier.verify(half, level: level)
                #expect(report.problems.count == 1, "\(report.problems)")
                let problem = try #require(report.problems.first)
                #expect(problem.database == "file")
                #expect(problem.message.contains("\(size - size / 2) bytes"), "\(problem)")
                #expect(problem.message.contains("needs \(size) bytes"), "\(problem)")
                #expect(problem.message.contains("truncated"), "\(problem)")
            }
            let error = Self.expectRefused(half)
            #expect(error?.message.contains("truncated") == true, "\(String(describing: error))")
        }
    }

    @Test func zeroedPagesAreLocatedByDatabaseAndPage() throws {
        try TemporaryDirectory.with { folder in
            let path = try Self.makeDatabase(in: folder)
            // 64 pages around the middle page of the trees (the middle of the file may be a model's overflow pages,
            // whose damage is for the code that decodes values).
            var zeroed: Range<Int> = 0..<0
            let copy = try Self.damagedCopy(of: path, in: folder, "zeroed") { bytes in
                let treePages = (2..<bytes.count / Self.pageSize).filter { page in
                    bytes.withUnsafeBytes { raw in
                        let flags = raw.loadUnaligned(fromByteOffset: page * Self.pageSize + 10, as: UInt16.self)
                        return flags == 1 || flags == 2 || flags == 0x22
                    }
                }
                #expect(treePages.count > 64, "the fixture has \(treePages.count) tree pages")
                let middle = treePages[treePages.count / 2]
                zeroed = max(2, middle - 32)..<max(2, middle - 32) + 64
                bytes.replaceSubrange(
                    zeroed.lowerBound * Self.pageSize..<zeroed.upperBound * Self.pageSize,
                    with: [UInt8](repeating: 0, count: 64 * Self.pageSize))
            }
            let report = try FileVerifier.verify(copy, limit: 1000)
            #expect(!report.isSound)
            for problem in report.problems.prefix(20) {
                #expect(!["file", "meta pages"].contains(problem.database), "\(problem)")
                #expect(problem.page != nil, "\(problem)")
            }
            // Zeroed pages are found where they are (a parent pointing at one reports the child's number).
            #expect(report.problems.contains { zeroed.contains(Int($0.page ?? 0)) }, "\(report.problems)")
            #expect(report.problems.contains { $0.message.contains("says it is page 0") }, "\(report.problems)")
            Self.expectRefused(copy)
        }
    }

    @Test func randomFlippedBytesAreFound() throws {
        try TemporaryDirectory.with { folder in
            let path = try Self.makeDatabase(in: folder)
            var random = SplitMix(seed: 200)
            let copy = try Self.damagedCopy(of: path, in: folder, "flipped") { bytes in
                for _ in 0..<200 {
                    let offset = Int(random.next() % UInt64(bytes.count))
                    bytes[offset] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1)
                }
            }
            let report = try FileVerifier.verify(copy)
            #expect(!report.isSound)
            #expect(report.problems.allSatisfy { !$0.message.isEmpty && !$0.database.isEmpty })
            Self.expectRefused(copy)
        }
    }

    /// Damage to the meta pages: LMDB's magic number, the newer meta page's root of the main database (its top byte,
    /// so the page lies far outside the file), and its transaction id (no longer the successor of meta page 0's, or
    /// equal to it).
    @Test(arguments: [
        ("magic of meta page 0", 16),
        ("main root of meta page 1", pageSize + 88 + 40 + 7),
        ("transaction of meta page 1", pageSize + 145),
        ("parity of meta page 1's transaction", pageSize + 144),
    ])
    func damagedMetaPageIsReported(what: String, offset: Int) throws {
        try TemporaryDirectory.with { folder in
            let path = try Self.makeDatabase(in: folder)
            let copy = try Self.damagedCopy(of: path, in: folder, "meta") { $0[offset] ^= 0x01 }
            let report = try FileVerifier.verify(copy)
            #expect(report.problems.first?.database == "meta pages", "\(what): \(report.problems)")
            #expect(!report.notLMDB, "\(what): one meta page is still LMDB's")
            Self.expectRefused(copy)
        }
    }

    @Test func headerOnlyOpeningSkipsTheWalk() throws {
        try TemporaryDirectory.with { folder in
            let path = try Self.makeDatabase(in: folder)
            var options = RecDatabase.Options()
            options.storage.verification = .header
            let db = try RecDatabase.open(at: path, options: options)
            #expect(db.environment.verification == nil)
            #expect(try db.environment.verifyFile().isSound)
        }
    }

    /// LMDB may allocate pages at the end of the file and free them before they are written: the file then ends
    /// before the meta page's last page, and that is sound as long as every missing page is listed free.
    @Test func fileMayEndBeforePagesListedFree() throws {
        try TemporaryDirectory.with { folder in
            do {
                var options = Environment.Options()
                options.noSync = true
                let env = try Environment.open(at: folder.path, options: options)
                let x = try env.database("x", key: StringCodec.self, value: BytesCodec.self)
                try env.write { txn in
                    try x.put("a", [1], in: &txn)
                    try x.put("big", [UInt8](repeating: 7, count: 200_000), in: &txn)
                }
                // Deleting the big value frees its pages; the later writes copy the pages the deletion wrote at the
                // end of the file into the big value's old pages, so the last pages end up free.
                try env.write { txn in _ = try x.delete("big", in: &txn) }
                for round in UInt8(2)..<6 { try env.write { txn in try x.put("a", [round], in: &txn) } }
            }
            let file = folder.appending("data.mdb")
            let original = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(try FileVerifier.verify(file).isSound)
            // Cut pages from the end while they are free: the verifier accepts exactly those cuts.
            func keep(_ pages: Int) throws {
                try original.prefix(original.count - pages * Self.pageSize).write(to: URL(fileURLWithPath: file))
            }
            var cut = 0
            while cut < 64 {
                try keep(cut + 1)
                guard try FileVerifier.verify(file).isSound else { break }
                cut += 1
            }
            #expect(cut >= 1, "the last page is free")
            let refused = try FileVerifier.verify(file)
            #expect(refused.problems.first?.message.contains("truncated") == true, "\(refused.problems)")
            // The accepted file opens and reads.
            try keep(cut)
            let env = try Environment.open(at: folder.path)
            let x = try env.database("x", key: StringCodec.self, value: BytesCodec.self)
            #expect(try env.read { txn in try x.get("a", in: txn) } == [5])
        }
    }

    /// The walk of an open environment holds a read transaction: writers committing meanwhile (reusing free pages)
    /// never make it see a page change under it.
    @Test func verificationOfAnOpenFileWhileWritersCommit() throws {
        try TemporaryDirectory.with { folder in
            var options = Environment.Options()
            options.noSync = true
            let env = try Environment.open(at: folder.path, options: options)
            let blobs = try env.database("blobs", key: UInt32Codec.self, value: BytesCodec.self)
            let tags = try env.database("tags", key: UInt32Codec.self, value: UInt32Codec.self, flags: .fixedSizeDuplicates)
            try env.write { txn in
                for key in UInt32(0)..<200 { try blobs.put(key, [UInt8](repeating: UInt8(key & 0xFF), count: 3000), in: &txn) }
            }
            let stop = Atomic(false)
            let writer = Thread {
                var round: UInt32 = 0
                while !stop.value {
                    round &+= 1
                    try? env.write { txn in
                        for key in UInt32(0)..<20 {
                            let k = (round &* 37 &+ key) % 400
                            try blobs.put(k, [UInt8](repeating: UInt8(truncatingIfNeeded: round), count: 500 + Int(k) * 20), in: &txn)
                            try tags.put(k % 50, round &* 1000 &+ key, in: &txn)
                        }
                    }
                }
                stop.done()
            }
            writer.start()
            defer { stop.finish() }
            for _ in 0..<30 {
                let report = try env.verifyFile()
                #expect(report.isSound, "\(report.problems)")
            }
        }
    }
}

/// A flag the writer thread polls, and a wait for it to stop.
private final class Atomic: @unchecked Sendable {
    private let lock = NSCondition()
    private var stopped: Bool
    private var finished = false

    init(_ value: Bool) { stopped = value }

    var value: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    func done() {
        lock.lock()
        finished = true
        lock.broadcast()
        lock.unlock()
    }

    /// Asks the writer to stop and waits until it has.
    func finish() {
        lock.lock()
        stopped = true
        while !finished { lock.wait() }
        lock.unlock()
    }
}

/// A seeded generator, so damage is the same in every run.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
