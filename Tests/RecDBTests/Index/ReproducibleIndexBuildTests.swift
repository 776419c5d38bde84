import Foundation
import Testing

@testable import RecDB

/// `RecDatabase.$reproducibleIndexBuilds`: the same vectors and seed give the same graph, so the nodes of a replicated
/// cluster, each building its own index of a generation, answer alike.
@Suite("Reproducible index builds")
struct ReproducibleIndexBuildTests {
    /// Two databases with the same 3,000 random vectors, each indexed with two threads asked for but the reproducible
    /// build on: every search, at an `ef` small enough that the tail depends on the graph's links, answers the same
    /// nodes at the same distances in both.
    @Test func sameVectorsGiveTheSameAnswersOnTwoDatabases() throws {
        try TemporaryDirectory.with { first in
            try TemporaryDirectory.with { second in
                let (a, _) = try VectorIndexTests.makeDatabase(first, count: 3000, seed: 7)
                let (b, _) = try VectorIndexTests.makeDatabase(second, count: 3000, seed: 7)
                for db in [a, b] {
                    try RecDatabase.$reproducibleIndexBuilds.withValue(true) {
                        _ = try db.buildIndex(space: "s", threads: 2)
                    }
                }
                var generator = VectorIndexTests.Generator(state: 11)
                for _ in 0..<200 {
                    let query = generator.vector(16)
                    let fromA = try a.read { try $0.nearest(in: "s", to: query, k: 30, ef: 30) }
                    let fromB = try b.read { try $0.nearest(in: "s", to: query, k: 30, ef: 30) }
                    #expect(fromA.map(\.node) == fromB.map(\.node))
                    #expect(fromA.map(\.distance) == fromB.map(\.distance))
                }
            }
        }
    }

    /// The graph itself is the same, link for link: two in-memory builds of the same vectors on one thread (what a
    /// reproducible build runs) store the same level-0 lists and upper layers.
    @Test func oneThreadBuildsOfTheSameVectorsGiveTheSameLinks() throws {
        func build() -> ([UInt32], [UInt8]) {
            let count = 2000, dimension = 8
            let builder = HNSWBuilder(
                dimension: dimension, metric: .l2, parameters: HNSWParameters(m: 6, efConstruction: 40),
                nodeLimit: count, chunkShift: 12)
            var generator = VectorIndexTests.Generator(state: 3)
            for node in 0..<count {
                builder.vector(UInt32(node)).update(from: generator.vector(dimension), count: dimension)
            }
            builder.insert((0..<UInt32(count)).map { $0 }, threads: 1)
            let links = Array(UnsafeBufferPointer(start: builder.level0, count: count * builder.level0Slots))
            return (links, builder.upperBlob())
        }
        let (linksA, upperA) = build()
        let (linksB, upperB) = build()
        #expect(linksA == linksB)
        #expect(upperA == upperB)
    }
}
