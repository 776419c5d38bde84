import Foundation
import Testing

@testable import RecDB

/// The resident float32 copy that the exact re-rank over codes reads (see `ResidentVectors`).
@Suite("Resident vectors")
struct ResidentVectorsTests {
    struct Damaged: Error {}

    @Test func holdsWhatTheScanHandedOverAndNothingElse() throws {
        var generator = VectorIndexTests.Generator(state: 5)
        let rows = (0..<10).map { _ in generator.vector(12) }
        let image = try #require(
            ResidentVectors(nodeLimit: 8, dimension: 12) { take in
                for node in [0, 3, 7, 9] {  // 9 is past the node limit: left out
                    rows[node].withUnsafeBufferPointer { take(UInt32(node), $0.baseAddress!) }
                }
            })
        for node in [0, 3, 7] {
            let vector = try #require(image.vector(UInt32(node)))
            #expect(Array(UnsafeBufferPointer(start: vector, count: 12)) == rows[node])
            image.prefetch(UInt32(node))
        }
        #expect(image.vector(1) == nil && image.vector(8) == nil && image.vector(9) == nil)
        image.prefetch(1000)  // past the image: ignored
    }

    /// A search over codes makes the copy; a vector changed after that is re-ranked from the table, never from the
    /// stale copy, until the next build.
    @Test func aVectorChangedAfterTheCopyIsReadFromTheTable() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try QuantizedIndexTests.makeQuantized(folder, count: 800)
            let before = try db.read { r in
                try r.withVectorIndex(space: "q") { index -> ([VectorMatch], Bool) in
                    let found = try index.search(vectors[5], k: 3)
                    return (found, index.residentVectors != nil)
                }
            }
            #expect(before.1, "a small graph over codes gets the copy by default")
            #expect(before.0.first?.node == 5)
            let moved = [Float](repeating: 3, count: 24)
            try db.write { w in try w.setVector(moved, space: "q", item: "i5") }
            let nearOld = try db.read { try $0.nearest(in: "q", to: vectors[5], k: 3) }
            #expect(nearOld.first?.node != 5)
            let nearNew = try db.read { try $0.nearest(in: "q", to: moved, k: 1) }
            #expect(nearNew.first?.node == 5)
            #expect(abs((nearNew.first?.distance ?? 1) - 0) < 1e-5, "the new vector's exact distance")
            try db.buildIndex(space: "q", threads: 1)
            let rebuilt = try db.read { try $0.nearest(in: "q", to: moved, k: 1) }
            #expect(rebuilt.first?.node == 5 && abs((rebuilt.first?.distance ?? 1) - 0) < 1e-5)
        }
    }

    /// A table value rewritten outside RecDB after the copy was made (here one float short; or changed bytes of the
    /// right length) fails a search that re-ranks the node from the copy within one re-rank depth of searches:
    /// each re-rank checks one candidate, in turn, against the table.
    @Test(arguments: ["short", "changed"])
    func aTableValueDamagedAfterTheCopyFailsTheSearch(damage: String) throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try QuantizedIndexTests.makeQuantized(folder, count: 300)
            let context = SearchContextBox()
            let first = try db.read { r in try r.withVectorIndex(space: "q") { try $0.search(vectors[5], k: 3, context: context) } }
            #expect(first.first?.node == 5)
            let space = try #require(try db.read { try $0.space("q") })
            try IndexCorruptionTests.rewrite(db, db.vectorSchema.vectors, VectorKeys.node(space.id, .items, 5)) { bytes in
                if damage == "short" { bytes.removeLast(4) } else { bytes[0] ^= 0x40 }
            }
            IndexCorruptionTests.expectCorrupted(
                {
                    try db.read { r in
                        try r.withVectorIndex(space: "q") { index in
                            #expect(index.residentVectors != nil, "the copy made before the damage")
                            for _ in 0..<VectorIndexSnapshot.defaultRerank(k: 3) {
                                _ = try index.search(vectors[5], k: 3, context: context)
                            }
                        }
                    }
                }, mentioning: ["#5", "'q'"])
            let problems = try db.checkIndex(space: "q").problems.map(\.message)
            #expect(problems.count == 1 && problems.first?.contains(damage == "short" ? "#5" : "node 5") == true, "\(problems)")
        }
    }

    @Test func aScanThatThrowsLeavesNoImage() {
        #expect(ResidentVectors(nodeLimit: 4, dimension: 3) { _ in throw Damaged() } == nil)
    }
}
