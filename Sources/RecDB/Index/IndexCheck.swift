import Foundation

extension RecDatabase {
    /// Statistics of a space's index for one kind.
    public func indexStats(space name: String, kind: VectorKind = .items) throws -> IndexStats {
        try read { r in
            let space = try r.requireSpace(name)
            let vectors = try r.vectorCount(space: name, kind)
            return try r.withVectorIndex(space: name, kind: kind) { index in
                var bytes = 0
                var tombstones = 0
                let generation = space.generation(kind)
                if generation != 0 {
                    try vectorSchema.ann.scanRaw(in: r.txn, prefix: VectorKeys.annPrefix(space.id, kind, generation)) {
                        key, value in
                        bytes += value.count
                        if key[7] == VectorKeys.Part.tombstones.rawValue {
                            tombstones += value.reduce(0) { $0 + $1.nonzeroBitCount }
                        }
                        return .next
                    }
                }
                return IndexStats(
                    space: space, kind: kind, vectors: vectors, generation: generation,
                    indexedNodes: index.header?.nodeCount ?? 0, pending: index.pending.count, tombstones: tombstones,
                    maxLevel: index.header?.maxLevel ?? 0, bytes: bytes, builtAt: index.header?.builtAt,
                    buildSeconds: index.header?.buildSeconds)
            }
        }
    }

    /// Verifies the graph invariants of a space's active index: every link points at a node the generation holds,
    /// no node links to itself or twice to the same node, degrees stay within M0 (level 0) and M (above), every
    /// node of an upper level is on the levels below, the entry point is on the top level, and every node has its
    /// vector (or, with int8 or float16 codes, its codes, and its full-precision vector in the vector table, equal to
    /// the re-rank copy when this process has one; the snapshot checks the quantiser as it opens). Also reports nodes that
    /// a walk from the entry point cannot reach on level 0 (HNSW's pruning can strand a few; they are still found by
    /// searches that start near them, and a rebuild reconnects them).
    public func checkIndex(space name: String, kind: VectorKind = .items, limit: Int = 100) throws -> IndexCheckReport {
        try read { r in
            try r.withVectorIndex(space: name, kind: kind) { index in
                var problems: [IntegrityProblem] = []
                func report(_ message: String) { if problems.count < limit { problems.append(.init(index: "ann", message: message)) } }
                guard let graph = index.graph, let header = index.header else {
                    return IndexCheckReport(problems: [], nodes: 0, unreachable: 0)
                }
                let space = index.space
                var held: [UInt32] = []
                for node in 0..<UInt32(header.nodeLimit) where index.present.contains(node) { held.append(node) }
                if held.count != header.nodeCount { report("header says \(header.nodeCount) nodes; \(held.count) are present") }
                guard index.present.contains(graph.entryPoint) else {
                    report("entry point \(graph.entryPoint) is not a node of the graph")
                    return IndexCheckReport(problems: problems, nodes: held.count, unreachable: 0)
                }
                func checkList(_ node: UInt32, level: Int, capacity: Int) {
                    guard let list = graph.links(node, level: level) else {
                        report("node \(node) has no list on level \(level)")
                        return
                    }
                    let count = Int(list[0])
                    if count > capacity { report("node \(node) has \(count) links on level \(level); the most is \(capacity)") }
                    var seen = Set<UInt32>()
                    for i in 1...max(1, min(count, capacity)) where i <= count {
                        let target = list[i]
                        if target == node { report("node \(node) links to itself on level \(level)") }
                        if !seen.insert(target).inserted { report("node \(node) links twice to \(target) on level \(level)") }
                        if Int(target) >= header.nodeLimit || !index.present.contains(target) {
                            report("node \(node) links to \(target) on level \(level), which is not in the graph")
                        }
                    }
                }
                for node in held { checkList(node, level: 0, capacity: space.parameters.m0) }
                // Each node's vector (float32) or codes (int8, float16) must be in a chunk of the generation.
                let what = header.codes == .float32 ? "vector" : "\(header.codes.rawValue) codes"
                for node in held where !graph.isScorable(node) { report("node \(node) has no \(what) in the graph") }
                // Over codes the exact re-rank reads each unchanged node's full-precision vector from the table (or
                // from the resident copy made from it): it must be there, of the space's dimension, equal to the copy.
                if header.codes != .float32 {
                    for node in held where !index.tombstones.contains(node) && !index.dirty.contains(node) {
                        do {
                            let matches = try index.storedVector(node) { vector in
                                guard let copy = index.residentVectors?.vector(node) else { return true }
                                return memcmp(vector, copy, space.dimension * MemoryLayout<Float>.size) == 0
                            }
                            if matches == nil { report("node \(node) has no vector in the vector table (its re-rank needs it)") }
                            if matches == false {
                                report("node \(node)'s vector in the table differs from this process's re-rank copy")
                            }
                        } catch let error as RecDBError {
                            report(error.message)
                        }
                    }
                }
                if let upper = graph.upper {
                    var topHolders = 0
                    for i in 0..<upper.count {
                        let node = upper.nodes[i]
                        if i > 0 && upper.nodes[i - 1] >= node { report("upper-layer nodes are not sorted at \(node)") }
                        if !index.present.contains(node) { report("upper-layer node \(node) is not on level 0") }
                        let levels = upper.level(ofIndex: i)
                        if levels > header.maxLevel { report("node \(node) has level \(levels) above the maximum \(header.maxLevel)") }
                        if levels == header.maxLevel { topHolders += 1 }
                        for level in 1...max(levels, 1) where level <= levels {
                            checkList(node, level: level, capacity: space.parameters.m)
                        }
                    }
                    if header.maxLevel > 0 && graph.links(graph.entryPoint, level: header.maxLevel) == nil {
                        report("entry point \(graph.entryPoint) is not on the top level \(header.maxLevel)")
                    }
                    if header.maxLevel > 0 && topHolders == 0 { report("no node reaches the top level \(header.maxLevel)") }
                }
                // Reachability on level 0 from the entry point.
                var reached = Set<UInt32>([graph.entryPoint])
                var frontier = [graph.entryPoint]
                while let node = frontier.popLast() {
                    guard let list = graph.links(node, level: 0) else { continue }
                    let count = min(Int(list[0]), graph.level0Capacity)
                    for i in 1...max(1, count) where i <= count && Int(list[i]) < header.nodeLimit
                        && index.present.contains(list[i]) && reached.insert(list[i]).inserted
                    {
                        frontier.append(list[i])
                    }
                }
                // Chunks of the wrong size read as absent; the snapshot kept the first one.
                if let fault = index.faults.first { report(fault.message) }
                return IndexCheckReport(
                    problems: problems, nodes: held.count, unreachable: max(0, held.count - reached.count))
            }
        }
    }
}

/// What ``RecDatabase/checkIndex(space:kind:limit:)`` found.
public struct IndexCheckReport: Sendable {
    /// Violated invariants; empty when the graph is sound.
    public var problems: [IntegrityProblem]
    /// Nodes in the graph.
    public var nodes: Int
    /// Nodes a level-0 walk from the entry point does not reach (not an invariant violation).
    public var unreachable: Int
}
