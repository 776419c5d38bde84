import CRecSupport
import Foundation
import Testing

@testable import RecDB

/// Spaces whose graph walks score float16 codes (half the bytes of float32): the codes sit beside the level-0
/// lists, the vectors stay once at full precision in the vector table, and the best candidates are re-ranked exactly.
@Suite("Float16 codes")
struct HalfCodeTests {
    @Test func portableConversionMatchesSwiftFloat16ForEveryPattern() {
        for pattern in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: pattern))
            let converted = recdb_f16_to_f32(pattern)
            if expected.isNaN {
                #expect(converted.isNaN, "pattern \(pattern)")
            } else if converted != expected {
                Issue.record("pattern \(pattern): \(converted) != \(expected)")
                return
            }
        }
    }

    /// Both kernels (F16C where the CPU has it, and the portable loop) against float32 distances to the same
    /// vectors: within the half float's rounding (relative 2^-11 per dimension).
    @Test(arguments: [5, 8, 24, 32, 64, 100, 384])
    func kernelsAgreeWithFloat32Distances(dimension: Int) {
        var generator = VectorIndexTests.Generator(state: UInt64(dimension) &+ 77)
        for _ in 0..<20 {
            let query = generator.vector(dimension), vector = generator.vector(dimension)
            var halves = [UInt16](repeating: 0, count: dimension)
            vector.withUnsafeBufferPointer { v in
                halves.withUnsafeMutableBufferPointer { HalfCodes.encode(v.baseAddress!, dimension: dimension, into: $0.baseAddress!) }
            }
            let dot = QuantizedIndexTests.exactDistance(query, vector, .innerProduct)
            let l2 = QuantizedIndexTests.exactDistance(query, vector, .l2)
            let scale = query.map(abs).reduce(0, +)  // bounds the inner product's error: sum |q| * 2^-11 * |x|
            for simd in VectorKernels.useF16C ? [false, true] : [false] {
                query.withUnsafeBufferPointer { q in
                    halves.withUnsafeBufferPointer { h in
                        for metric in [Metric.innerProduct, .l2] {
                            let scorer = CodeScorer(
                                metric: metric, dimension: dimension, weights: q.baseAddress!, targets: q.baseAddress!,
                                offset: 0, avx2: simd, kind: .float16)
                            let got = scorer(UnsafeRawPointer(h.baseAddress!))
                            if metric == .l2 {
                                #expect(abs(got - l2) <= 2e-3 * max(1, l2), "l2 d=\(dimension) simd \(simd)")
                            } else {
                                #expect(abs(got - dot) <= 1e-3 * max(1, scale), "ip d=\(dimension) simd \(simd)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: [Metric.l2, .innerProduct])
    func searchFindsTheExactNeighboursWithExactDistances(metric: Metric) throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try QuantizedIndexTests.makeQuantized(folder, metric: metric, codes: .float16)
            var generator = VectorIndexTests.Generator(state: 99)
            var hits = 0
            for _ in 0..<50 {
                let query = generator.vector(24)
                let found = try db.read { try $0.nearest(in: "q", to: query, k: 10, ef: 80) }
                hits += Set(found.map(\.node)).intersection(QuantizedIndexTests.exactTop(vectors, query, k: 10, metric)).count
                for match in found {
                    let exact = QuantizedIndexTests.exactDistance(vectors[Int(match.node)], query, metric)
                    #expect(abs(match.distance - exact) < 1e-4)
                }
                #expect(found.map(\.distance) == found.map(\.distance).sorted())
            }
            #expect(Double(hits) / 500 >= 0.95, "recall@10 \(Double(hits) / 500)")
        }
    }

    @Test func theGraphKeepsHalfFloatsAndNoQuantizer() throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try QuantizedIndexTests.makeQuantized(folder, count: 500, codes: .float16)
            let space = try #require(try db.read { try $0.space("q") })
            #expect(space.parameters.codes == .float16)
            let read = try space.bytes.withUnsafeBytes { try EmbeddingSpace(name: "q", $0) }
            #expect(read.parameters.codes == .float16)
            let generation = space.generation(.items)
            var sizes: [UInt8: Int] = [:]
            try db.read { r in
                try db.vectorSchema.ann.scanRaw(in: r.txn, prefix: VectorKeys.annPrefix(space.id, .items, generation)) {
                    key, value in
                    sizes[key[7], default: 0] += value.count
                    return .next
                }
            }
            #expect(sizes[VectorKeys.Part.quantizer.rawValue] == nil)
            #expect(sizes[VectorKeys.Part.vectors.rawValue] == nil, "one full-precision copy: the vector table's")
            let shift = try #require(try db.read { r in try r.withVectorIndex(space: "q") { $0.header?.chunkShift } })
            let chunk = 1 << shift
            let codeBytes = sizes[VectorKeys.Part.codes.rawValue] ?? 0
            #expect(codeBytes > 0 && codeBytes % (chunk * 24 * 2) == 0, "two bytes per dimension per node of a chunk")
            #expect(try db.checkIndex(space: "q").problems.isEmpty)
            #expect(VectorCodes(name: "fp16") == .float16 && VectorCodes(name: "half") == .float16)
        }
    }

    @Test func pendingChangesAreFoundAndARebuildTakesThemIn() throws {
        try TemporaryDirectory.with { folder in
            let (db, vectors) = try QuantizedIndexTests.makeQuantized(folder, count: 600, codes: .float16)
            try db.write { w in
                try w.upsertItem("new", attributes: [:])
                try w.setVector([Float](repeating: 0.9, count: 24), space: "q", item: "new")
            }
            try db.write { w in _ = try w.deleteItem("i3") }
            let target = [Float](repeating: 0.9, count: 24)
            #expect(try QuantizedIndexTests.nearest(db, target, k: 3).first == UInt32(vectors.count))
            #expect(try !QuantizedIndexTests.nearest(db, vectors[3], k: 5).contains(3))
            try db.buildIndex(space: "q", threads: 1)
            #expect(try QuantizedIndexTests.nearest(db, target, k: 3).first == UInt32(vectors.count))
            #expect(try db.checkIndex(space: "q").problems.isEmpty)
        }
    }

    /// A chunk of codes one byte short or long: `corrupted`, naming the space, generation and chunk; no crash.
    @Test(arguments: ["codes-short", "codes-long"])
    func damagedCodesFailTheSearch(damage: String) throws {
        try TemporaryDirectory.with { folder in
            let (db, _) = try QuantizedIndexTests.makeQuantized(folder, count: 300, codes: .float16)
            let space = try #require(try db.read { try $0.space("q") })
            let key = VectorKeys.ann(space.id, .items, space.generation(.items), .codes, 0)
            try IndexCorruptionTests.rewrite(db, db.vectorSchema.ann, key) { bytes in
                if damage == "codes-long" { bytes.append(0) } else { bytes.removeLast() }
            }
            IndexCorruptionTests.expectCorrupted(
                { _ = try db.read { try $0.nearest(in: "q", to: [Float](repeating: 0.1, count: 24), k: 10) } },
                mentioning: ["'q'", "generation 1", "codes chunk 0"])
        }
    }
}
