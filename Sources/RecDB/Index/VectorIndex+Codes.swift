// Searching a generation whose graph holds int8 codes (see `VectorCodes`): codes choose the candidates, the vector
// table's full-precision vectors decide their order.
extension VectorIndexSnapshot {
    /// The `k` closest of `candidates` by their exact distances, read from the resident copy of the vectors when
    /// there is one (nodes unchanged since the build), else from the vector table (candidates whose vector is gone
    /// are dropped).
    func rerankExactly(_ query: UnsafePointer<Float>, _ candidates: [Neighbor], k: Int) throws -> [Neighbor] {
        let kernel = space.metric.kernel, dimension = space.dimension
        var exact: [Neighbor] = []
        exact.reserveCapacity(candidates.count)
        if let residentVectors {
            for candidate in candidates { residentVectors.prefetch(candidate.node) }
        }
        for candidate in candidates {
            let node = candidate.node
            if let residentVectors, !dirty.contains(node), let vector = residentVectors.vector(node) {
                exact.append(Neighbor(distance: kernel(query, vector, dimension), node: candidate.node))
            } else if let d = try storedVector(candidate.node, { kernel(query, $0, dimension) }) {
                exact.append(Neighbor(distance: d, node: candidate.node))
            }
        }
        exact.sort()
        if exact.count > k { exact.removeLast(exact.count - k) }
        return exact
    }

    /// Top-k among `allowed` without the graph walk: every allowed node's codes are scored (one byte per dimension,
    /// read from the mapped chunks), the best `rerank` (default ``defaultRerank(k:)``) are re-ranked exactly, and
    /// nodes changed since the build are scored exactly from the vector table.
    func scanCodes(
        _ query: UnsafePointer<Float>, k: Int, rerank: Int?, allowed: AllowedSet, graph: GraphView, context: SearchContext
    ) throws -> [VectorMatch] {
        let prepared = graph.prepare(query, context: context)
        let depth = max(k, rerank ?? Self.defaultRerank(k: k))
        var heap = NeighborHeap(capacity: depth + 1, isMax: true)
        defer { heap.deallocate() }
        var changed: [UInt32] = []
        allowed.words.withUnsafeBufferPointer { words in
            for w in 0..<words.count where words[w] != 0 {
                let base = w << 6
                let pending = words[w] & dirty.word(at: base)
                var bits = words[w] & present.word(at: base) & ~tombstones.word(at: base) & ~pending
                while bits != 0 {
                    let node = UInt32(base + bits.trailingZeroBitCount)
                    bits &= bits - 1
                    let d = graph.distance(prepared, node)
                    if heap.count < depth {
                        heap.push(Neighbor(distance: d, node: node))
                    } else if d < heap.top.distance {
                        heap.pop()
                        heap.push(Neighbor(distance: d, node: node))
                    }
                }
                var rest = pending
                while rest != 0 {
                    changed.append(UInt32(base + rest.trailingZeroBitCount))
                    rest &= rest - 1
                }
            }
        }
        try checkFaults()
        var found = try rerankExactly(query, Array(heap.elements), k: k)
        let metric = space.metric, dimension = space.dimension
        for node in changed {
            if let d = try storedVector(node, { metric.distance(query, $0, dimension) }) {
                found.append(Neighbor(distance: d, node: node))
            }
        }
        found.sort()
        return found.prefix(k).map {
            VectorMatch(node: $0.node, distance: $0.distance, score: metric.score(fromDistance: $0.distance))
        }
    }
}
