import Foundation

// Searching a generation whose graph holds int8 codes (see `VectorCodes`): codes choose the candidates, the vector
// table's full-precision vectors decide their order.
extension VectorIndexSnapshot {
    /// The `k` closest of `candidates` by their exact distances, read from the resident copy of the vectors when
    /// there is one (nodes unchanged since the build), else from the vector table (candidates whose vector is gone
    /// are dropped).
    ///
    /// Each re-rank from the copy also compares one of its candidates, a different position each time
    /// (`context.rerankTurn`), with the vector table: a table value damaged or rewritten outside RecDB after the
    /// copy was made fails the searches that meet it with `corrupted` within `candidates.count` searches, for one
    /// B-tree lookup per search (the copy's point is to spare the other `candidates.count - 1`).
    func rerankExactly(
        _ query: UnsafePointer<Float>, _ candidates: [Neighbor], k: Int, context: SearchContext
    ) throws -> [Neighbor] {
        let kernel = space.metric.kernel, dimension = space.dimension
        var exact: [Neighbor] = []
        exact.reserveCapacity(candidates.count)
        var checked = -1
        if let residentVectors {
            for candidate in candidates { residentVectors.prefetch(candidate.node) }
            if !candidates.isEmpty {
                checked = context.rerankTurn % candidates.count
                context.rerankTurn &+= 1
            }
        }
        for (position, candidate) in candidates.enumerated() {
            let node = candidate.node
            if let residentVectors, !dirty.contains(node), let vector = residentVectors.vector(node) {
                if position == checked { try checkResidentCopy(node, vector) }
                exact.append(Neighbor(distance: kernel(query, vector, dimension), node: candidate.node))
            } else if let d = try storedVector(candidate.node, { kernel(query, $0, dimension) }) {
                exact.append(Neighbor(distance: d, node: candidate.node))
            }
        }
        exact.sort()
        if exact.count > k { exact.removeLast(exact.count - k) }
        return exact
    }

    /// Throws `corrupted` unless the vector table holds exactly `copy` for `node` (a node unchanged since the build:
    /// only a write outside RecDB or a damaged file can make them differ).
    func checkResidentCopy(_ node: UInt32, _ copy: UnsafePointer<Float>) throws {
        let dimension = space.dimension
        let same = try storedVector(node) { memcmp($0, copy, dimension * MemoryLayout<Float>.size) == 0 }
        guard same != true else { return }
        throw RecDBError(
            .corrupted,
            "vector of \(kind == .items ? "item" : "user") #\(node) in '\(space.name)': "
                + (same == nil ? "missing from" : "changed in")
                + " the vector table although the index generation \(space.generation(kind)) holds it unchanged "
                + "(a write outside RecDB or a damaged file); `recctl index check` lists such damage, `index build` "
                + "remakes the index from the table")
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
        var found = try rerankExactly(query, Array(heap.elements), k: k, context: context)
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
