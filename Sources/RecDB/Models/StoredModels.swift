import Foundation

extension CatalogReading where Self: ~Copyable {
    /// The floats of one part of a model generation, its values concatenated in key order.
    func modelFloats(_ record: ModelRecord, part: UInt8) throws -> [Float] {
        var floats: [Float] = []
        try modelSchema.data.scanRaw(in: txn, prefix: ModelSchema.dataPrefix(record.name, record.generation) + [part]) {
            _, value in
            floats.append(contentsOf: value.loadFloats())
            return .next
        }
        return floats
    }

    /// The active generation's projection of a content model (vocabulary, idf, SVD basis), decoded once per generation.
    func contentProjection(_ record: ModelRecord) throws -> ContentProjection {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "projection") {
            let basis = try modelFloats(record, part: ModelSchema.basisPart)
            let key = ModelSchema.dataKey(record.name, record.generation, part: ModelSchema.vocabularyPart, index: 0)
            guard let projection = try modelSchema.data.withValue(key, in: txn, { try ContentProjection(vocabulary: $0, basis: basis) })
            else { throw RecDBError(.corrupted, "content model '\(record.name)' generation \(record.generation) has no vocabulary") }
            return projection
        }
    }

    /// The training sessions of a session or transition model generation.
    func storedSessions(_ record: ModelRecord) throws -> SessionLog {
        var log = SessionLog()
        log.itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
        try modelSchema.data.scanRaw(
            in: txn, prefix: ModelSchema.dataPrefix(record.name, record.generation) + [ModelSchema.sessionsPart]
        ) { _, value in
            var reader = BinaryReader(value)
            let count = Int(try reader.readUInt32())
            for _ in 0..<count {
                log.ends.append(try reader.readInt64())
                let length = Int(try reader.readUInt32())
                var items: [UInt32] = []
                items.reserveCapacity(length)
                for _ in 0..<length { items.append(try reader.readUInt32()) }
                log.sessions.append(items)
            }
            return .next
        }
        return log
    }

    /// The session or transition model of a stored generation, rebuilt in memory once per generation.
    func sessionModel(_ record: ModelRecord) throws -> any NextItemModel {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "session") {
            () throws -> any NextItemModel in
            if record.kind == "transition" { return TransitionModel(name: record.name, sessions: try storedSessions(record)) }
            var parameters = SessionKNNModel.Parameters()
            if let v = record.parameters["neighbours"] { parameters.neighbours = Int(v) }
            if let v = record.parameters["sample_size"] { parameters.sampleSize = Int(v) }
            if let v = record.parameters["rule_weight"] { parameters.ruleWeight = Float(v) }
            if let v = record.parameters["rule_steps"] { parameters.ruleSteps = Int(v) }
            return SessionKNNModel(name: record.name, sessions: try storedSessions(record), parameters: parameters)
        }
    }

    /// `YᵀY` of a factor model generation's item factors, for fold-in.
    func foldInGram(_ record: ModelRecord) throws -> [Float] {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "gram") {
            try modelFloats(record, part: ModelSchema.gramPart)
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as native floats, copied (LMDB values need not be 4-byte aligned).
    func loadFloats() -> [Float] {
        let count = self.count / MemoryLayout<Float>.size
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: self[0..<count * 4])) }
            initialized = count
        }
    }
}

extension CatalogWriter {
    /// Keeps an item's vectors in the active content and text models current: called in the transaction that
    /// writes the item, so a new item is recommendable (and found by MATCHING) as soon as it commits.
    mutating func updateContentVector(item internalID: UInt32, id: String, attributes: Attributes) throws {
        let item = Item(id: id, internalID: internalID, attributes: attributes)
        if let record = try model(ContentModel.storedName), record.kind == "content", let spaceName = record.space,
            let space = try space(spaceName)
        {
            let vector = try contentProjection(record).vector(for: item)
            try replaceItemVector(vector, space: space, item: item)
        }
        if let record = try model(TextModel.storedName), record.kind == "text", let spaceName = record.space,
            let space = try space(spaceName)
        {
            let text = TextModel.text(of: item)
            let vector = text.isEmpty ? nil : try SharedTextEncoder.get().encode(text)
            try replaceItemVector(vector, space: space, item: item)
        }
    }

    private mutating func replaceItemVector(_ vector: [Float]?, space: EmbeddingSpace, item: Item) throws {
        if let vector {
            try setVector(vector, space: space, kind: .items, node: item.internalID, owner: "item '\(item.id)'")
        } else {
            _ = try removeVector(space: space, kind: .items, node: item.internalID)
        }
    }

    /// Gives every item without a vector in `space` one from `vectorOf` (items written while a refresh trained).
    mutating func addMissingItemVectors(space spaceName: String, _ vectorOf: (Item) throws -> [Float]?) throws {
        guard let space = try space(spaceName) else { return }
        var missing: [Item] = []
        try forEachItem { item in
            if try !vectorSchema.vectors.contains(VectorKeys.node(space.id, .items, item.internalID), in: txn) {
                missing.append(item)
            }
            return .next
        }
        for item in missing {
            if let vector = try vectorOf(item) {
                try setVector(vector, space: space, kind: .items, node: item.internalID, owner: "item '\(item.id)'")
            }
        }
    }
}

extension ContentModel {
    /// The name under which the catalog keeps its content model current on item writes.
    public static let storedName = "content"
}

extension TextModel {
    /// The name under which the catalog keeps its text model current on item writes.
    public static let storedName = "text"
}
