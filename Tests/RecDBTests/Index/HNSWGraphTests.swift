import Testing

@testable import RecDB

@Suite("HNSW graph in memory")
struct HNSWGraphTests {
    /// Deterministic pseudo-random floats.
    struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
        }
    }

    static func exactTopK(_ builder: HNSWBuilder, query: UnsafePointer<Float>, k: Int, count: Int) -> [UInt32] {
        var all: [Neighbor] = []
        for node in 0..<count {
            all.append(
                Neighbor(
                    distance: builder.metric.distance(query, builder.vector(UInt32(node)), builder.dimension),
                    node: UInt32(node)))
        }
        all.sort()
        return all.prefix(k).map(\.node)
    }

    @Test(arguments: [Metric.l2, .innerProduct, .cosine])
    func recallAgainstExactScan(metric: Metric) {
        let count = 2000, dimension = 16
        let builder = HNSWBuilder(
            dimension: dimension, metric: metric, parameters: HNSWParameters(m: 12, efConstruction: 100),
            nodeLimit: count, chunkShift: 10)
        var generator = Generator(state: 7)
        for node in 0..<count {
            let v = builder.vector(UInt32(node))
            for i in 0..<dimension { v[i] = generator.next() }
            if metric == .cosine { _ = VectorKernels.normalize(v, dimension) }
        }
        builder.insert((0..<count).map(UInt32.init), threads: 2)
        let blob = builder.upperBlob()
        let context = SearchContext()
        var hits = 0
        var query = [Float](repeating: 0, count: dimension)
        for _ in 0..<100 {
            for i in 0..<dimension { query[i] = generator.next() }
            if metric == .cosine { _ = query.withUnsafeMutableBufferPointer { VectorKernels.normalize($0.baseAddress!, dimension) } }
            let found = blob.withUnsafeBytes { raw in
                query.withUnsafeBufferPointer { q in
                    builder.view(upperBlob: raw).search(q.baseAddress!, k: 10, ef: 80, context: context).map(\.node)
                }
            }
            let truth = query.withUnsafeBufferPointer { Self.exactTopK(builder, query: $0.baseAddress!, k: 10, count: count) }
            hits += Set(found).intersection(truth).count
        }
        #expect(Double(hits) / 1000 >= 0.95)
    }

    @Test func kernelsMatchScalarArithmetic() {
        var generator = Generator(state: 3)
        for n in [1, 7, 16, 31, 32, 33, 64, 100, 384] {
            let a = (0..<n).map { _ in generator.next() }, b = (0..<n).map { _ in generator.next() }
            let dot = zip(a, b).map { $0 * $1 }.reduce(0, +)
            let l2 = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    #expect(abs(VectorKernels.dot(pa.baseAddress!, pb.baseAddress!, n) - dot) < 1e-4)
                    #expect(abs(VectorKernels.squaredL2(pa.baseAddress!, pb.baseAddress!, n) - l2) < 1e-4)
                    // Metric.distance may take the AVX2 kernels: same results.
                    #expect(abs(Metric.innerProduct.distance(pa.baseAddress!, pb.baseAddress!, n) + dot) < 1e-4)
                    #expect(abs(Metric.l2.distance(pa.baseAddress!, pb.baseAddress!, n) - l2) < 1e-4)
                }
            }
        }
    }

    @Test func heapsOrderTheirElements() {
        var minHeap = NeighborHeap(capacity: 2, isMax: false)
        var maxHeap = NeighborHeap(capacity: 2, isMax: true)
        defer {
            minHeap.deallocate()
            maxHeap.deallocate()
        }
        let values: [Float] = [5, 1, 9, 3, 7, 2, 8, 0, 6, 4]
        for (i, v) in values.enumerated() {
            minHeap.push(Neighbor(distance: v, node: UInt32(i)))
            maxHeap.push(Neighbor(distance: v, node: UInt32(i)))
        }
        var ascending: [Float] = [], descending: [Float] = []
        while !minHeap.isEmpty { ascending.append(minHeap.pop().distance) }
        while !maxHeap.isEmpty { descending.append(maxHeap.pop().distance) }
        #expect(ascending == values.sorted())
        #expect(descending == values.sorted(by: >))
    }
}
