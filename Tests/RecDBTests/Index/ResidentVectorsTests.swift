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

    @Test func aScanThatThrowsLeavesNoImage() {
        #expect(ResidentVectors(nodeLimit: 4, dimension: 3) { _ in throw Damaged() } == nil)
    }
}
