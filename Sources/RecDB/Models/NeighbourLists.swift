import Foundation

/// How an item-kNN generation stores its neighbour lists in `model_data`, 4,096 items per value.
///
/// - **Indexed** (part 7, written since issue 13): a `u32` count `n` of lists in the value, then `n + 1` `u32` byte
///   offsets into the entries that follow (list `i` is `offsets[i]..<offsets[i + 1]`), then the entries: `u32` item
///   and `f32` similarity, most similar first. One item's list is found in O(1), without decoding the others.
/// - **Sequential** (part 2, written before): per item a `u32` count, then its entries. Finding item `i`'s list
///   walks the counts of every list before it in the value. Generations written so still load; a refresh rewrites
///   them indexed.
///
/// All integers big-endian, like every other stored number.
enum NeighbourLists {
    /// Lists per value, in both layouts.
    static let itemsPerValue = 4096
    /// Bytes per entry: item and similarity.
    static let entrySize = 8

    /// One value of the indexed layout holding `lists` (consecutive items).
    static func indexedValue(_ lists: ArraySlice<[(item: UInt32, similarity: Float)]>) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt32(lists.count))
        var offset = 0
        writer.write(UInt32(0))
        for list in lists {
            offset += list.count * entrySize
            writer.write(UInt32(offset))
        }
        for list in lists {
            for neighbour in list {
                writer.write(neighbour.item)
                writer.write(neighbour.similarity)
            }
        }
        return writer.bytes
    }

    /// One value of the sequential layout (kept for tests of generations written before the indexed layout).
    static func sequentialValue(_ lists: ArraySlice<[(item: UInt32, similarity: Float)]>) -> [UInt8] {
        var writer = BinaryWriter()
        for list in lists {
            writer.write(UInt32(list.count))
            for neighbour in list {
                writer.write(neighbour.item)
                writer.write(neighbour.similarity)
            }
        }
        return writer.bytes
    }
}

/// An item-kNN generation ready to read neighbour lists from: what every lookup checks against, resolved once.
struct NeighbourListSource {
    let record: ModelRecord
    /// The catalog's item id counter: every stored neighbour must be below it.
    let itemLimit: Int
    /// The model's `neighbours` parameter: no list is longer.
    let capacity: Int
    /// Whether the generation is in the indexed layout (else the sequential one of older versions).
    let indexed: Bool
}

extension CatalogReading where Self: ~Copyable {
    /// The neighbour lists of an item-kNN generation, resolved for lookups in this snapshot.
    func neighbourListSource(_ record: ModelRecord) throws -> NeighbourListSource {
        let first = ModelSchema.dataKey(record.name, record.generation, ModelPart.neighbourTable, index: 0)
        return NeighbourListSource(
            record: record,
            itemLimit: try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta),
            capacity: try record.count("neighbours", in: 0...Int(UInt32.max), default: Int(UInt32.max)),
            indexed: try modelSchema.data.contains(first, in: txn))
    }

    /// Calls `body` with each stored neighbour of `item` and its similarity, most similar first, read in place.
    ///
    /// Every count and offset is checked against the value's bytes and the model's `neighbours` parameter, every
    /// neighbour id against the catalog's item id counter: a mismatch is `corrupted`, naming the model, generation
    /// and value. An item with no stored list (added after the generation was trained) has no neighbours.
    func forEachNeighbour(
        of item: UInt32, in source: NeighbourListSource, _ body: (_ item: UInt32, _ similarity: Float) throws -> Void
    ) throws {
        let record = source.record
        let chunk = UInt32(Int(item) / NeighbourLists.itemsPerValue)
        let position = Int(item) % NeighbourLists.itemsPerValue
        let part = source.indexed ? ModelPart.neighbourTable : ModelPart.sequentialNeighbours
        let key = ModelSchema.dataKey(record.name, record.generation, part, index: chunk)
        // Phrased only for an error: a request reads up to 50 lists.
        func what() -> String {
            "item-kNN model '\(record.name)' generation \(record.generation), neighbour lists \(chunk)"
        }
        func entry(_ raw: UnsafeRawBufferPointer, at offset: Int) throws {
            let neighbour = raw.loadBigEndianUInt32(at: offset)
            guard Int(neighbour) < source.itemLimit else {
                throw RecDBError(
                    .corrupted, "\(what()): item #\(item) lists item #\(neighbour), past the item limit \(source.itemLimit)")
            }
            try body(neighbour, Float(bitPattern: raw.loadBigEndianUInt32(at: offset + 4)))
        }
        try modelSchema.data.withValue(key, in: txn) { raw in
            if source.indexed {
                guard raw.count >= 8 else { throw RecDBError(.corrupted, "\(what()): \(raw.count) bytes hold no table") }
                let lists = Int(raw.loadBigEndianUInt32(at: 0))
                let entries = 4 + (lists + 1) * 4
                guard lists <= NeighbourLists.itemsPerValue, entries <= raw.count else {
                    throw RecDBError(.corrupted, "\(what()): a table of \(lists) lists does not fit in \(raw.count) bytes")
                }
                guard position < lists else { return }
                let start = Int(raw.loadBigEndianUInt32(at: 4 + position * 4))
                let end = Int(raw.loadBigEndianUInt32(at: 8 + position * 4))
                guard start <= end, entries + end <= raw.count, (end - start) % NeighbourLists.entrySize == 0,
                    (end - start) / NeighbourLists.entrySize <= source.capacity
                else {
                    throw RecDBError(
                        .corrupted,
                        "\(what()): the list of item #\(item) spans bytes \(start)..<\(end) of \(raw.count - entries), "
                            + "for at most \(source.capacity) entries")
                }
                for offset in stride(from: entries + start, to: entries + end, by: NeighbourLists.entrySize) {
                    try entry(raw, at: offset)
                }
                return
            }
            // The sequential layout: skip the lists before this item's.
            var reader = BinaryReader(raw)
            for index in 0...position {
                guard !reader.isAtEnd else { return }
                let count = try reader.readCount(
                    elementSize: NeighbourLists.entrySize, limit: source.capacity,
                    "\(what()): the list of item #\(Int(chunk) * NeighbourLists.itemsPerValue + index)")
                let start = try reader.skip(count * NeighbourLists.entrySize)
                guard index == position else { continue }
                for k in 0..<count { try entry(raw, at: start + k * NeighbourLists.entrySize) }
            }
        }
    }

    /// An item's stored neighbour list in an item-kNN model generation, most similar first.
    func neighbours(of item: UInt32, model record: ModelRecord) throws -> [(item: UInt32, similarity: Float)] {
        var result: [(item: UInt32, similarity: Float)] = []
        try forEachNeighbour(of: item, in: try neighbourListSource(record)) { result.append(($0, $1)) }
        return result
    }

    /// Items like the given ones (one item: "similar items"; several: "items for a basket"), from the active
    /// generation of an item-kNN model: their neighbour lists summed, the given items left out.
    public func similarItems(to ids: [String], model name: String = ModelKind.itemKNN.rawValue, k: Int) throws -> [(item: UInt32, score: Float)] {
        guard let record = try model(name), record.generation > 0, record.kind == .itemKNN else {
            throw RecDBError(.notFound, "item-kNN model '\(name)' has not been trained (run `recctl refresh itemknn`)")
        }
        let source = try neighbourListSource(record)
        var scores: [UInt32: Float] = [:]
        var given = Set<UInt32>()
        for id in ids {
            guard let item = try itemID(for: id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
            given.insert(item)
            try forEachNeighbour(of: item, in: source) { neighbour, similarity in scores[neighbour, default: 0] += similarity }
        }
        var ranked: [(item: UInt32, score: Float)] = []
        for (item, score) in scores where !given.contains(item) {
            if try schema.items.contains(item, in: txn) { ranked.append((item, score)) }
        }
        ranked.sort { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        return Array(ranked.prefix(k))
    }
}
