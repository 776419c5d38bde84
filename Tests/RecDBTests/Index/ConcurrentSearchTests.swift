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

    /// A database with items `i0…` carrying random vectors in the L2 space `s`.
    static func makeDatabase(_ folder: TemporaryDirectory, count: Int) throws -> (RecDatabase, [[Float]]) {
        let db = try folder.createDatabase()
        try db.createSpace("s", dimension: dimension, metric: .l2, parameters: HNSWParameters(m: 8, efConstruction: 48))
        var generator = VectorIndexTests.Generator(state: 3)
        let vectors = (0..<count).map { _ in generator.vector(dimension) }
        try db.write { w in
            for (i, vector) in vectors.enumerated() {
                try w.upsertItem("i\(i)", attributes: [:])
                try w.setVector(vector, space: "s", item: "i\(i)")
            }
        }
        return (db, vectors)
    }

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
}
