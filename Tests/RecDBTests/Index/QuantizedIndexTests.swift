import Foundation
import Testing

@testable import RecDB

/// Spaces whose graph walks score int8 codes: the codes sit beside the level-0 lists, the full-precision vectors
/// stay only in the vector table, and the best candidates are re-ranked exactly from them.
@Suite("Quantized index")
struct QuantizedIndexTests {
    /// `count` items with random vectors of `dimension` (24: not a multiple of 8, so the kernels' tails run) in an
    /// int8 space `q`, built.
    static func makeQuantized(
        _ folder: TemporaryDirectory, count: Int = 2000, dimension: Int = 24, metric: Metric = .l2,
        codes: VectorCodes = .int8
    ) throws -> (RecDatabase, [[Float]]) {
        let db = try folder.createDatabase()
        try db.createSpace(
            "q", dimension: dimension, metric: metric, parameters: HNSWParameters(m: 8, efConstruction: 64, codes: codes))
        var generator = VectorIndexTests.Generator(state: 11)
        let vectors = (0..<count).map { _ in generator.vector(dimension) }
        try db.write { w in
            for (i, vector) in vectors.enumerated() {
                try w.upsertItem("i\(i)", attributes: [:])
                try w.setVector(vector, space: "q", item: "i\(i)")
            }
        }
        try db.buildIndex(space: "q", threads: 2)
        return (db, vectors)
    }

    static func exactDistance(_ a: [Float], _ b: [Float], _ metric: Metric) -> Float {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in metric.distance(x.baseAddress!, y.baseAddress!, a.count) } }
    }

    static func exactTop(_ vectors: [[Float]], _ query: [Float], k: Int, _ metric: Metric) -> [UInt32] {
        vectors.indices.map { (exactDistance(vectors[$0], query, metric), UInt32($0)) }
            .sorted { $0.0 < $1.0 }.prefix(k).map(\.1)
    }

    @Test(arguments: [Metric.l2, .innerProduct])
    func searchFindsTheExactNeighboursWithExactDistances(metric: Metric) throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeQuantized(folder, metric: metric)
            var generator = VectorIndexTests.Generator(state: 99)
            var hits = 0
            for _ in 0..<50 {
                let query = generator.vector(24)
                let found = try db.read { try $0.nearest(in: "q", to: query, k: 10, ef: 80) }
                hits += Set(found.map(\.node)).intersection(Self.exactTop(vectors, query, k: 10, metric)).count
                // Re-ranked: every reported distance is the exact one, and the order follows it.
                for match in found {
                    #expect(abs(match.distance - Self.exactDistance(vectors[Int(match.node)], query, metric)) < 1e-4)
                }
                #expect(found.map(\.distance) == found.map(\.distance).sorted())
            }
            #expect(Double(hits) / 500 >= 0.9, "recall@10 \(Double(hits) / 500)")
        }
    }

    @Test func theGraphKeepsCodesNotVectorsAndChecksClean() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeQuantized(folder, count: 500)
            let space = try #require(try db.read { try $0.space("q") })
            #expect(space.parameters.codes == .int8)
            let generation = space.generation(.items)
            let parts = try db.read { r in
                var parts = Set<UInt8>()
                try db.vectorSchema.ann.scanRaw(in: r.txn, prefix: VectorKeys.annPrefix(space.id, .items, generation)) {
                    key, _ in
                    parts.insert(key[7])
                    return .next
                }
                return parts
            }
            #expect(parts.contains(VectorKeys.Part.codes.rawValue))
            #expect(parts.contains(VectorKeys.Part.quantizer.rawValue))
            #expect(!parts.contains(VectorKeys.Part.vectors.rawValue), "one full-precision copy: the vector table's")
            #expect(try db.checkIndex(space: "q").problems.isEmpty)
        }
    }

    @Test func theCodeKindIsStoredWithTheSpace() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeQuantized(folder, count: 100)
            let space = try #require(try db.read { try $0.space("q") })
            let read = try space.bytes.withUnsafeBytes { try EmbeddingSpace(name: "q", $0) }
            #expect(read.parameters.codes == .int8)
            // A record written before the code kind existed ends without it: float32.
            let older = try space.bytes.dropLast().withUnsafeBytes { try EmbeddingSpace(name: "q", $0) }
            #expect(older.parameters.codes == .float32)
            var unknown = space.bytes
            unknown[unknown.count - 1] = 9
            #expect(throws: RecDBError.self) { try unknown.withUnsafeBytes { try EmbeddingSpace(name: "q", $0) } }
        }
    }

    /// The nearest nodes to `query` in space `q`.
    static func nearest(_ db: RecDatabase, _ query: [Float], k: Int) throws -> [UInt32] {
        try db.read { try $0.nearest(in: "q", to: query, k: k) }.map(\.node)
    }

    @Test func pendingChangesAreFoundAndARebuildTakesThemIn() throws {
        try TemporaryDirectory.with { folder in try Self.checkPendingChanges(folder) }
    }

    static func checkPendingChanges(_ folder: TemporaryDirectory) throws {
        let (db, vectors) = try makeQuantized(folder, count: 600)
        let target = [Float](repeating: 0.9, count: 24)
        try db.write { w in
            try w.upsertItem("new", attributes: [:])
            try w.setVector(target, space: "q", item: "new")
        }
        try db.write { w in _ = try w.deleteItem("i3") }
        let added = UInt32(vectors.count)
        let before = try nearest(db, target, k: 3), gone = try nearest(db, vectors[3], k: 5)
        #expect(before.first == added)
        #expect(!gone.contains(3))
        try db.buildIndex(space: "q", threads: 1)
        let after = try nearest(db, target, k: 3), stillGone = try nearest(db, vectors[3], k: 5)
        #expect(after.first == added)
        #expect(!stillGone.contains(3))
        let problems = try db.checkIndex(space: "q").problems
        #expect(problems.isEmpty)
    }

    @Test func rerankDepthIsAQueryKnob() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeQuantized(folder)
            let query = vectors[5].map { $0 + 0.01 }
            let shallow = try db.read { r in
                try r.withVectorIndex(space: "q") { try $0.search(query, k: 10, ef: 100, rerank: 10) }
            }
            let deep = try db.read { r in
                try r.withVectorIndex(space: "q") { try $0.search(query, k: 10, ef: 100, rerank: 100) }
            }
            #expect(shallow.count == 10 && deep.count == 10)
            #expect(deep.first?.node == 5)
            #expect(VectorIndexSnapshot.defaultRerank(k: 10) == 20)
        }
    }

    @Test func filteredSearchOverCodesKeepsToTheFilter() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try Self.makeQuantized(folder, count: 3000)
            var allowed = AllowedSet(limit: vectors.count)
            for i in stride(from: 0, to: vectors.count, by: 3) { allowed.insert(UInt32(i)) }
            let query = vectors[7]
            let found = try db.read { r in
                try r.withVectorIndex(space: "q") { index in
                    index.exactSearchLimit = 10  // force the walk
                    return try index.search(query, k: 10, ef: 100, allowed: allowed)
                }
            }
            #expect(found.allSatisfy { $0.node % 3 == 0 })
            let expected = Self.exactTop(vectors, query, k: 10, .l2).filter { $0 % 3 == 0 }
            let wanted = vectors.indices.filter { $0 % 3 == 0 }.map { (Self.exactDistance(vectors[$0], query, .l2), UInt32($0)) }
                .sorted { $0.0 < $1.0 }.prefix(10).map(\.1)
            #expect(Set(found.map(\.node)).intersection(wanted).count >= 8, "\(found.map(\.node)) vs \(wanted)")
            #expect(Set(expected).isSubset(of: Set(wanted)))
        }
    }

    /// A quantiser or a chunk of codes of the wrong size, or a quantiser with a zero scale: `corrupted`, no crash.
    @Test(arguments: ["quantizer-short", "quantizer-zero-scale", "codes-short", "codes-long"])
    func damagedCodesFailTheSearch(damage: String) throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try Self.makeQuantized(folder, count: 300)
            let space = try #require(try db.read { try $0.space("q") })
            let part: VectorKeys.Part = damage.hasPrefix("quantizer") ? .quantizer : .codes
            let key = VectorKeys.ann(space.id, .items, space.generation(.items), part, 0)
            try IndexCorruptionTests.rewrite(db, db.vectorSchema.ann, key) { bytes in
                switch damage {
                case "quantizer-zero-scale": bytes.replaceSubrange((bytes.count - 4)..., with: [0, 0, 0, 0])
                case "codes-long": bytes.append(0)
                default: bytes.removeLast()
                }
            }
            let query = [Float](repeating: 0.1, count: 24)
            IndexCorruptionTests.expectCorrupted(
                { _ = try db.read { try $0.nearest(in: "q", to: query, k: 10) } },
                mentioning: ["'q'", "generation 1", part == .quantizer ? "quantizer" : "codes chunk 0"])
            if part == .quantizer {
                #expect(throws: RecDBError.self) { _ = try db.checkIndex(space: "q") }
            } else {
                #expect(try !db.checkIndex(space: "q").problems.isEmpty)
            }
        }
    }

    @Test func quantiserRoundTripsWithinHalfAStep() {
        var generator = VectorIndexTests.Generator(state: 3)
        let rows = (0..<50).map { _ in generator.vector(13) }
        let flat = rows.flatMap { $0 }
        let quantizer = flat.withUnsafeBufferPointer {
            ScalarQuantizer(fitting: $0.baseAddress!, nodes: (0..<50).map(UInt32.init), dimension: 13)
        }
        var codes = [Int8](repeating: 0, count: 13)
        for row in rows {
            row.withUnsafeBufferPointer { v in codes.withUnsafeMutableBufferPointer { quantizer.encode(v.baseAddress!, into: $0.baseAddress!) } }
            for i in 0..<13 {
                let decoded = quantizer.centre[i] + quantizer.scale[i] * Float(codes[i])
                #expect(abs(decoded - row[i]) <= quantizer.scale[i] / 2 + 1e-6)
            }
        }
        let stored = quantizer.bytes
        let read = try? stored.withUnsafeBytes { try ScalarQuantizer(stored: $0, dimension: 13, "q") }
        #expect(read?.centre == quantizer.centre && read?.scale == quantizer.scale)
    }

    @Test(arguments: [5, 8, 24, 64, 100])
    func simdAndPortableKernelsAgree(dimension: Int) {
        var generator = VectorIndexTests.Generator(state: UInt64(dimension))
        let weights = generator.vector(dimension), targets = generator.vector(dimension).map { $0 * 100 }
        let codes = (0..<dimension).map { _ in Int8(Int(generator.next() * 127)) }
        var dot: Float = 0, l2: Float = 0
        for i in 0..<dimension {
            dot += weights[i] * Float(codes[i])
            let d = targets[i] - Float(codes[i])
            l2 += weights[i] * d * d
        }
        for avx2 in VectorKernels.useAVX2 ? [false, true] : [false] {
            weights.withUnsafeBufferPointer { w in
                targets.withUnsafeBufferPointer { t in
                    codes.withUnsafeBufferPointer { c in
                        let ip = CodeScorer(
                            metric: .innerProduct, dimension: dimension, weights: w.baseAddress!, targets: t.baseAddress!,
                            offset: 0.5, avx2: avx2)
                        let euclid = CodeScorer(
                            metric: .l2, dimension: dimension, weights: w.baseAddress!, targets: t.baseAddress!,
                            offset: 0, avx2: avx2)
                        #expect(abs(ip(c.baseAddress!) + (0.5 + dot)) <= 1e-3 * max(1, abs(dot)), "avx2 \(avx2)")
                        #expect(abs(euclid(c.baseAddress!) - l2) <= 1e-3 * max(1, abs(l2)), "avx2 \(avx2)")
                    }
                }
            }
        }
    }
}
