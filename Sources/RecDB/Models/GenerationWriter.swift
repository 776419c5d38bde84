import Foundation

/// Writes one new model generation beside the active one, in chunked write transactions: what a ``StoredModel``
/// stores (an embedding space, parts of `model_data`) before refresh switches the model to it.
package struct GenerationWriter {
    let database: RecDatabase
    /// The model's name.
    let model: String
    let generation: UInt32
    let threads: Int
    /// The embedding space the generation serves from, once written (the record's `space`).
    var space: String?

    /// Writes a factor model's vectors into a new inner-product space (items and users), indexes the items and
    /// stores `YᵀY` of the first `solved` item columns for fold-in.
    mutating func writeFactors(users: [Float], items: [Float], dimension: Int, solved: Int) throws {
        let spaceName = ModelSchema.spaceName(model, generation)
        // Left by a refresh that failed or crashed (the job guard keeps live ones apart).
        try database.dropSpace(spaceName, if: { _ in true })
        let space = try database.createSpace(spaceName, dimension: dimension, metric: .innerProduct, forModel: true)
        for (kind, factors) in [(VectorKind.items, items), (VectorKind.users, users)] {
            let rows = factors.count / dimension
            var start = 0
            while start < rows {
                let end = min(rows, start + 10_000)
                try database.write { w in
                    for row in start..<end {
                        let node = UInt32(row)
                        let exists = kind == .items
                            ? try database.schema.items.contains(node, in: w.txn)
                            : try database.schema.users.contains(node, in: w.txn)
                        guard exists else { continue }
                        try w.setVector(
                            Array(factors[row * dimension..<(row + 1) * dimension]), space: space, kind: kind, node: node,
                            owner: "\(kind) #\(row)")
                    }
                }
                start = end
            }
        }
        try database.buildIndex(space: spaceName, kind: .items, threads: threads)
        self.space = spaceName
        try writeFloats(.foldInGram, FoldIn.gram(items, dimension: dimension, solved: solved))
    }

    /// Writes row-major item vectors (zero rows skipped) into a new space `MODEL@GENERATION` (cosine unless
    /// `metric` says otherwise), in chunks; the index is built by ``buildItemIndex()``.
    package mutating func writeItemVectors(_ vectors: [Float], dimension d: Int, metric: Metric = .cosine) throws {
        let spaceName = ModelSchema.spaceName(model, generation)
        // Left by a refresh that failed or crashed (the job guard keeps live ones apart).
        try database.dropSpace(spaceName, if: { _ in true })
        let space = try database.createSpace(spaceName, dimension: d, metric: metric, forModel: true)
        let rows = vectors.count / max(d, 1)
        var start = 0
        while start < rows {
            let end = min(rows, start + 10_000)
            try database.write { w in
                for row in start..<end {
                    let vector = Array(vectors[row * d..<(row + 1) * d])
                    guard vector.contains(where: { $0 != 0 }), try database.schema.items.contains(UInt32(row), in: w.txn)
                    else { continue }
                    try w.setVector(vector, space: space, kind: .items, node: UInt32(row), owner: "item #\(row)")
                }
            }
            start = end
        }
        self.space = spaceName
    }

    /// Builds the HNSW index of the generation's item vectors.
    package func buildItemIndex() throws {
        guard let space else { return }
        try database.buildIndex(space: space, kind: .items, threads: threads)
    }

    /// Writes one value of a part.
    package func writeValue(_ part: ModelPart, index: UInt32 = 0, _ bytes: [UInt8]) throws {
        let key = ModelSchema.dataKey(model, generation, part, index: index)
        _ = try database.environment.write { txn in try database.modelSchema.data.put(key, bytes, in: &txn) }
    }

    /// Writes a float part, ``ModelSchema/floatsPerValue`` floats per value (the last holds the rest).
    package func writeFloats(_ part: ModelPart, _ floats: [Float]) throws {
        let perValue = ModelSchema.floatsPerValue
        var index: UInt32 = 0
        var start = 0
        repeat {
            let end = min(floats.count, start + perValue)
            try writeValue(part, index: index, floats[start..<end].withUnsafeBytes { Array($0) })
            index += 1
            start = end
        } while start < floats.count
    }

    /// Writes the training sessions of a session model, 4,096 per value: count, then per session its end time,
    /// item count and items.
    func writeSessions(_ log: SessionLog) throws {
        let perChunk = ModelSchema.sessionsPerValue
        var chunk = 0
        repeat {
            let range = (chunk * perChunk)..<min(log.count, (chunk + 1) * perChunk)
            var writer = BinaryWriter()
            writer.write(UInt32(range.count))
            for s in range {
                writer.write(log.ends[s])
                writer.write(UInt32(log.sessions[s].count))
                for item in log.sessions[s] { writer.write(item) }
            }
            try writeValue(.sessions, index: UInt32(chunk), writer.bytes)
            chunk += 1
        } while chunk * perChunk < log.count
    }

    /// Writes an item-kNN generation's neighbour lists in the indexed layout (``NeighbourLists``), one write
    /// transaction per value.
    func writeNeighbourLists(_ lists: [[(item: UInt32, similarity: Float)]]) throws {
        let perValue = NeighbourLists.itemsPerValue
        var chunk = 0
        // Chunk 0 is written even for no items: its presence marks the generation as indexed.
        while chunk * perValue < max(lists.count, 1) {
            let range = min(lists.count, chunk * perValue)..<min(lists.count, (chunk + 1) * perValue)
            try writeValue(.neighbourTable, index: UInt32(chunk), NeighbourLists.indexedValue(lists[range]))
            chunk += 1
        }
    }
}

extension RecDatabase {
    /// Writes item-kNN neighbour lists as generation `generation` of `model`
    /// (``GenerationWriter/writeNeighbourLists(_:)``).
    func writeNeighbourLists(_ model: String, _ generation: UInt32, _ lists: [[(item: UInt32, similarity: Float)]])
        throws
    {
        let writer = GenerationWriter(database: self, model: model, generation: generation, threads: 1)
        try writer.writeNeighbourLists(lists)
    }
}

extension GenerationWriter {
    /// Writes user vectors into the generation's space (after ``writeItemVectors(_:dimension:metric:)``).
    package func writeUserVectors(_ vectors: [UInt32: [Float]]) throws {
        guard let spaceName = space else { return }
        let users = vectors.keys.sorted()
        for start in stride(from: 0, to: users.count, by: 10_000) {
            try database.write { w in
                guard let target = try w.space(spaceName) else { return }
                for user in users[start..<min(users.count, start + 10_000)] {
                    guard try database.schema.users.contains(user, in: w.txn), let vector = vectors[user] else { continue }
                    try w.setVector(vector, space: target, kind: .users, node: user, owner: "user #\(user)")
                }
            }
        }
    }
}
