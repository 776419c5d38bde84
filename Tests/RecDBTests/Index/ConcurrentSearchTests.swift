import Foundation
import Testing

@testable import RecDB

/// Searches on real threads while another thread changes vectors and builds index generations: readers never fail,
/// never see a result without a vector in their snapshot, and keep their snapshot across a build.
@Suite("Concurrent search")
struct ConcurrentSearchTests {
    static let dimension = 8

    /// Thread-safe notes shared by the threads of a test; checked on the test's own thread at the end
    /// (`#expect` belongs to the test's task, not to the threads it starts).
    final class Shared: @unchecked Sendable {
        private let lock = NSLock()
        private var _failures: [String] = []
        private var _builds = 0
        private var _writerDone = false
        private var _searches = 0
        private var _heldAcrossBuild = 0

        func fail(_ message: String) { locked { _failures.append(message) } }
        var failures: [String] { locked { _failures } }
        func buildFinished() { locked { _builds += 1 } }
        var builds: Int { locked { _builds } }
        func finishWriter() { locked { _writerDone = true } }
        var writerDone: Bool { locked { _writerDone } }
        func searched(_ n: Int) { locked { _searches += n } }
        var searches: Int { locked { _searches } }
        func heldAcrossBuild() { locked { _heldAcrossBuild += 1 } }
        var heldAcrossBuildCount: Int { locked { _heldAcrossBuild } }

        private func locked<R>(_ body: () -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return body()
        }
    }

    /// Starts `body` on a new thread; the returned semaphore is signalled when it ends.
    static func start(_ name: String, _ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            finished.signal()
        }
        thread.name = name
        thread.start()
        return finished
    }

    /// A database with items `i0…` (in category `Even` or `Odd`) carrying random vectors in the L2 space `s`.
    static func makeDatabase(_ folder: TemporaryDirectory, count: Int) throws -> (RecDatabase, [[Float]]) {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        try db.createSpace("s", dimension: dimension, metric: .l2, parameters: HNSWParameters(m: 8, efConstruction: 48))
        var generator = VectorIndexTests.Generator(state: 3)
        let vectors = (0..<count).map { _ in generator.vector(dimension) }
        try db.write { w in
            for (i, vector) in vectors.enumerated() {
                try w.upsertItem("i\(i)", attributes: ["category": .string(i % 2 == 0 ? "Even" : "Odd")])
                try w.setVector(vector, space: "s", item: "i\(i)")
            }
        }
        return (db, vectors)
    }

    /// What is wrong with `matches` as seen by the read transaction `r` (nil when nothing): every match must be a
    /// live item with a vector in this snapshot, allowed when a set is given, once only, closest first.
    static func problem(
        _ matches: [VectorMatch], in r: borrowing CatalogReader, allowed: AllowedSet? = nil
    ) throws -> String? {
        var seen = Set<UInt32>()
        for (rank, match) in matches.enumerated() {
            guard let id = try r.externalItemID(match.node) else { return "result #\(match.node) is not a live item" }
            guard try r.vector(space: "s", id: id) != nil else { return "result \(id) has no vector in the snapshot" }
            if let allowed, !allowed.contains(match.node) { return "result \(id) is not allowed" }
            if !seen.insert(match.node).inserted { return "result \(id) comes twice" }
            if rank > 0 && matches[rank - 1].distance > match.distance { return "results are not closest first" }
        }
        return nil
    }

    static func randomVector() -> [Float] { (0..<dimension).map { _ in Float.random(in: -1...1) } }

    // MARK: - Changes during a build

    /// A change committed while a build runs (after its snapshot) must stay pending after the switch: the new
    /// generation does not hold it, so searches take it from the vector table. This holds for the first build too.
    @Test(arguments: [false, true])
    func changesDuringABuildStayVisible(indexedBefore: Bool) throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeDatabase(folder, count: 300)
            if indexedBefore {
                try db.buildIndex(space: "s", threads: 1)
                // Something for the next build to link, so that it reports progress.
                try db.write { w in
                    for i in 100..<120 { try w.setVector(vectors[i].map { $0 * 0.5 }, space: "s", item: "i\(i)") }
                }
            }
            let far: [Float] = Array(repeating: 50, count: Self.dimension)
            let late: [Float] = Array(repeating: -50, count: Self.dimension)
            let changed = Shared()
            try db.buildIndex(space: "s", threads: 1) { _ in
                guard changed.builds == 0 else { return }
                changed.buildFinished()
                do {
                    try db.write { w in
                        _ = try w.removeVector(space: "s", id: "i5")
                        try w.setVector(far, space: "s", item: "i6")
                        try w.upsertItem("late", attributes: [:])
                        try w.setVector(late, space: "s", item: "late")
                    }
                } catch {
                    changed.fail("\(error)")
                }
            }
            #expect(changed.builds == 1 && changed.failures.isEmpty, "\(changed.failures)")
            try db.read { r in
                let i5 = try #require(try r.itemID(for: "i5"))
                let i6 = try #require(try r.itemID(for: "i6"))
                let lateID = try #require(try r.itemID(for: "late"))
                // The removed vector is gone from every kind of search.
                #expect(try !r.nearest(in: "s", to: vectors[5], k: 5).map(\.node).contains(i5))
                #expect(try r.nearest(in: "s", to: vectors[5], k: 5, allowed: AllowedSet([i5])).isEmpty)
                // The moved vector is found where it is now, with its new vector.
                #expect(try r.nearest(in: "s", to: far, k: 1).map(\.node) == [i6])
                #expect(try r.nearest(in: "s", to: far, k: 1, allowed: AllowedSet([i6])).map(\.distance) == [0])
                // The new item is found.
                #expect(try r.nearest(in: "s", to: late, k: 1).map(\.node) == [lateID])
            }
            #expect(try db.indexStats(space: "s").pending == 3)
            #expect(try db.checkIndex(space: "s").problems.isEmpty)
            // The next build takes them in.
            try db.buildIndex(space: "s", threads: 1)
            #expect(try db.indexStats(space: "s").pending == 0)
            #expect(try db.read { try $0.nearest(in: "s", to: late, k: 1).map(\.distance) } == [0])
        }
    }

    // MARK: - Readers beside a writer

    /// One writer thread changes, removes, adds and deletes vectors and builds the index every few rounds; two
    /// reader threads search meanwhile, filtered and not. Reader 0 now and then holds one read transaction across a
    /// build and must get the same answer before and after it.
    @Test func readersSearchWhileAWriterChangesVectorsAndBuilds() throws {
        try TemporaryDirectory.with { folder in
            let count = 600
            let (db, _) = try Self.makeDatabase(folder, count: count)
            let shared = Shared()
            let deadline = Date().addingTimeInterval(1.5)
            let giveUp = deadline.addingTimeInterval(20)
            let writer = Self.start("writer") {
                var round = 0
                do {
                    while (Date() < deadline || shared.builds < 3) && Date() < giveUp {
                        round += 1
                        try db.write { w in
                            for _ in 0..<8 {
                                try w.setVector(Self.randomVector(), space: "s", item: "i\(Int.random(in: 0..<count))")
                            }
                            for _ in 0..<2 { _ = try w.removeVector(space: "s", id: "i\(Int.random(in: 0..<count))") }
                            try w.upsertItem("new\(round)", attributes: ["category": .string("Even")])
                            try w.setVector(Self.randomVector(), space: "s", item: "new\(round)")
                            if round > 4 { _ = try w.deleteItem("new\(round - 4)") }
                        }
                        if round % 6 == 0 {
                            try db.buildIndex(space: "s", threads: 1)
                            let check = try db.checkIndex(space: "s")
                            if !check.problems.isEmpty { shared.fail("build \(shared.builds + 1): \(check.problems)") }
                            shared.buildFinished()
                        }
                    }
                } catch {
                    shared.fail("writer: \(error)")
                }
                shared.finishWriter()
            }
            let readers = (0..<2).map { reader in
                Self.start("reader \(reader)") {
                    var queries = 0
                    do {
                        while !shared.writerDone {
                            queries += 1
                            let query = Self.randomVector()
                            try db.read { r in
                                let found = try r.nearest(in: "s", to: query, k: 10)
                                if let problem = try Self.problem(found, in: r) {
                                    shared.fail("reader \(reader): \(problem)")
                                }
                                // A filtered walk of the graph (not the exact scan a small set would get).
                                let even = try r.items(matching: .category("Even"))
                                let walked = try r.withVectorIndex(space: "s") { index in
                                    index.exactSearchLimit = 0
                                    return try index.search(query, k: 10, allowed: even)
                                }
                                if let problem = try Self.problem(walked, in: r, allowed: even) {
                                    shared.fail("reader \(reader), filtered: \(problem)")
                                }
                            }
                            guard reader == 0 && queries % 10 == 0 else { continue }
                            try db.read { r in
                                let before = try r.nearest(in: "s", to: query, k: 10)
                                let builds = shared.builds
                                let waitUntil = Date().addingTimeInterval(10)
                                while shared.builds == builds && !shared.writerDone && Date() < waitUntil {
                                    usleep(1_000)
                                }
                                let after = try r.nearest(in: "s", to: query, k: 10)
                                if after != before { shared.fail("a held snapshot changed across a build") }
                                if shared.builds > builds { shared.heldAcrossBuild() }
                            }
                        }
                    } catch {
                        shared.fail("reader \(reader): \(error)")
                    }
                    shared.searched(queries)
                }
            }
            writer.wait()
            for reader in readers { reader.wait() }
            #expect(shared.failures.count == 0, "\(shared.failures.prefix(5))")
            #expect(shared.builds >= 3)
            #expect(shared.heldAcrossBuildCount >= 1)
            #expect(shared.searches > 0)

            // At rest: one more build takes every change in, and the index serves each vector as stored.
            try db.buildIndex(space: "s", threads: 1)
            #expect(try db.indexStats(space: "s").pending == 0)
            #expect(try db.checkIndex(space: "s").problems.isEmpty)
            try db.read { r in
                var stale: [String] = []
                var checked = 0
                try r.forEachItem { item in
                    guard let vector = try r.vector(space: "s", id: item.id) else { return .next }
                    checked += 1
                    let own = try r.nearest(in: "s", to: vector, k: 1, allowed: AllowedSet([item.internalID]))
                    if own.map(\.distance) != [0] { stale.append(item.id) }
                    return .next
                }
                #expect(checked > count / 2)
                #expect(stale.isEmpty, "\(stale.prefix(10))")
            }
        }
    }
}
