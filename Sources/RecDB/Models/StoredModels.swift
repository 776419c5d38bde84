import Foundation

extension CatalogReading where Self: ~Copyable {
    /// The values of one part of a model generation in key order, made into `T` by `make` once per generation and
    /// process (the model cache keeps it until the generation is replaced).
    package func cachedModelValues<T: Sendable>(
        _ record: ModelRecord, part: ModelPart, make: ([[UInt8]]) throws -> T
    ) throws -> T {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "part \(part.rawValue)") {
            let prefix = ModelSchema.dataPrefix(record.name, record.generation) + [part.rawValue]
            var values: [[UInt8]] = []
            try modelSchema.data.scanRaw(in: txn, prefix: prefix) { _, value in
                values.append(Array(value))
                return .next
            }
            return try make(values)
        }
    }

    /// The floats of one part of a model generation, its values concatenated in key order.
    ///
    /// Values are written ``ModelSchema/floatsPerValue`` floats each under consecutive indexes from 0, the last one
    /// shorter: each value's size, its index and the total (at most `limit`, and for popularity scores at most the
    /// catalog's item id counter) are checked, else `corrupted` naming the model, generation, part and index.
    package func modelFloats(_ record: ModelRecord, part: ModelPart, limit: Int = .max) throws -> [Float] {
        var limit = limit
        if part == .popularityScores {
            limit = min(limit, try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta))
        }
        let prefix = ModelSchema.dataPrefix(record.name, record.generation) + [part.rawValue]
        var floats: [Float] = []
        var expectedIndex: UInt32 = 0
        var short = false
        try modelSchema.data.scanRaw(in: txn, prefix: prefix) { key, value in
            let what = "model '\(record.name)' generation \(record.generation), part \(part.rawValue) value \(expectedIndex)"
            guard key.count == prefix.count + 4, key.loadBigEndianUInt32(at: prefix.count) == expectedIndex, !short else {
                throw RecDBError(.corrupted, "\(what): keys are not consecutive whole values")
            }
            let count = try StoredArray.count(of: Float.self, in: value, .upTo(ModelSchema.floatsPerValue), what)
            guard floats.count + count <= limit else {
                throw RecDBError(.corrupted, "\(what): more than \(limit) floats in all")
            }
            short = count < ModelSchema.floatsPerValue
            floats.append(contentsOf: try StoredArray.array(value, as: Float.self, .exactly(count), what))
            expectedIndex += 1
            return .next
        }
        return floats
    }

    /// The active generation's projection of a content model (vocabulary, idf, SVD basis), decoded once per generation.
    /// Its dimension must be its space's, its basis `terms × dimension` floats.
    func contentProjection(_ record: ModelRecord) throws -> ContentProjection {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "projection") {
            let key = ModelSchema.dataKey(record.name, record.generation, .vocabulary, index: 0)
            let what = "content model '\(record.name)' generation \(record.generation)"
            let dimension = try record.space.flatMap { try space($0)?.dimension }
            let basis = try modelFloats(record, part: .basis)
            guard let projection = try modelSchema.data.withValue(key, in: txn, {
                try ContentProjection(vocabulary: $0, basis: basis, dimension: dimension, what)
            })
            else { throw RecDBError(.corrupted, "\(what) has no vocabulary") }
            return projection
        }
    }

    /// The training sessions of a session or transition model generation.
    ///
    /// Each value holds at most 4,096 sessions (a count, then per session its end time, item count and items):
    /// counts are checked against the bytes left and item ids against the catalog's item id counter, else
    /// `corrupted` naming the model, generation and value.
    func storedSessions(_ record: ModelRecord) throws -> SessionLog {
        var log = SessionLog()
        log.itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
        let itemLimit = log.itemLimit
        let prefix = ModelSchema.dataPrefix(record.name, record.generation) + [ModelPart.sessions.rawValue]
        try modelSchema.data.scanRaw(in: txn, prefix: prefix) { key, value in
            let index = key.count == prefix.count + 4 ? Int(key.loadBigEndianUInt32(at: prefix.count)) : -1
            let what = "session model '\(record.name)' generation \(record.generation), sessions \(index)"
            var reader = BinaryReader(value)
            let count = try reader.readCount(elementSize: 12, limit: ModelSchema.sessionsPerValue, what)
            for _ in 0..<count {
                log.ends.append(try reader.readInt64())
                let length = try reader.readCount(elementSize: 4, "\(what): a session")
                var items: [UInt32] = []
                items.reserveCapacity(length)
                for _ in 0..<length {
                    let item = try reader.readUInt32()
                    guard Int(item) < itemLimit else {
                        throw RecDBError(.corrupted, "\(what): item #\(item) is past the item limit \(itemLimit)")
                    }
                    items.append(item)
                }
                log.sessions.append(items)
            }
            return .next
        }
        return log
    }

    /// A next-item model of a stored generation, rebuilt in memory by `make` from its sessions once per generation.
    func sessionModel(_ record: ModelRecord, _ make: (SessionLog) throws -> any NextItemModel) throws
        -> any NextItemModel
    {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "session") {
            () throws -> any NextItemModel in try make(try storedSessions(record))
        }
    }

    /// `YᵀY` of a factor model generation's item factors, for fold-in: exactly `factors × factors` floats.
    func foldInGram(_ record: ModelRecord) throws -> [Float] {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "gram") {
            let factors = try record.count("factors", in: 1...EmbeddingSpace.maxDimension, default: 0)
            let gram = try modelFloats(record, part: .foldInGram, limit: factors * factors)
            guard gram.count == factors * factors else {
                throw RecDBError(
                    .corrupted,
                    "model '\(record.name)' generation \(record.generation): fold-in Gram matrix has \(gram.count) "
                        + "floats; \(factors) factors need \(factors * factors)")
            }
            return gram
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as native floats, copied (LMDB values need not be 4-byte aligned). Trailing bytes short of a float
    /// are dropped: callers that know the count want ``StoredArray`` instead.
    func loadFloats() -> [Float] {
        let count = self.count / MemoryLayout<Float>.size
        return (try? StoredArray.array(UnsafeRawBufferPointer(rebasing: self[0..<count * 4]), as: Float.self, .upTo(count), "floats")) ?? []
    }
}

extension CatalogWriter {
    /// Keeps an item's vectors in the active content and text models current: called in the transaction that
    /// writes the item, so a new item is recommendable (and found by MATCHING) as soon as it commits.
    mutating func updateContentVector(item internalID: UInt32, id: String, attributes: Attributes) throws {
        let item = Item(id: id, internalID: internalID, attributes: attributes)
        for kind in ModelRegistry.kinds where kind.keepsItemVectorsCurrent {
            if let record = try model(kind.kind.rawValue), record.kind == kind.kind, let spaceName = record.space,
                let space = try space(spaceName)
            {
                let vector = try kind.currentItemVector(for: item, record: record, inputs: modelInputs, in: self)
                try replaceItemVector(vector, space: space, item: item)
            }
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
            if try !hasVector(item.internalID, .items, in: space) {
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
    public static let storedName = ModelKind.content.rawValue
}
