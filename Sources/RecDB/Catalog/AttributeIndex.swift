import Foundation

/// The ordered attribute index (`item_attributes`): for every live item and every attribute it has, entries whose
/// keys sort as the values do, so `price < 20`, `brand IN ('a', 'b')` or `available` is a cursor range scan instead
/// of a decode of every item record. `Schemas/storage-layout.md` documents the layout for people.
///
/// Key: `u8` length of the attribute name, the name's UTF-8, a group byte, then the value's order-preserving bytes:
/// - `1` string: the UTF-8 of its NFC form (Swift orders and equates strings by their NFC scalars, which is the
///   byte order of their NFC UTF-8), at most ``maxValueBytes`` bytes;
/// - `2` number: IEEE-754 double, big-endian, with the sign bit flipped for positives and every bit flipped for
///   negatives (`-0` is stored as `0`, which it equals);
/// - `3` bool: `u8` 0 or 1;
/// - `4` one element of a string list (NFC UTF-8, at most ``maxValueBytes``; each distinct element once);
/// - `5` timestamp: `i64` milliseconds with the sign bit flipped;
/// - `0x81`, `0x84`: strings and list elements longer than ``maxValueBytes`` bytes, with no value bytes: a query
///   reads the records of the items listed there (long texts such as descriptions are rarely filtered on).
///
/// Values: `u32` item ids, big-endian (dupsort, dupfixed). The writer keeps the index in the same transaction as the
/// record (``CatalogWriter/upsertItem(_:attributes:replace:)``, ``CatalogWriter/deleteItem(_:)``).
enum AttributeIndex {
    /// The longest value, in UTF-8 bytes, kept in a key (1 + 255 + 1 + 250 ≤ LMDB's 511-byte key limit).
    static let maxValueBytes = 250
    /// The `meta` key that says the index is complete: `u32` ``layoutVersion``, written by the transaction that
    /// built it for an older database (or by the creation of a new one).
    static let metaKey = "attribute_index"
    static let layoutVersion: UInt32 = 1

    /// The kind of value a run of keys holds; every attribute name has one run per group its values fall in.
    enum Group: UInt8, CaseIterable {
        case string = 1
        case number = 2
        case bool = 3
        case element = 4
        case timestamp = 5
        case longString = 0x81
        case longElement = 0x84
    }

    /// The key bytes every entry of `name` in `group` begins with; nil for a name no stored attribute can have.
    static func prefix(_ name: String, _ group: Group) -> [UInt8]? {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count <= CatalogLimits.maxAttributeNameBytes else { return nil }
        return [UInt8(nameBytes.count)] + nameBytes + [group.rawValue]
    }

    /// The keys of one attribute of an item (several for a string list).
    static func keys(_ name: String, _ value: AttributeValue) -> [[UInt8]] {
        func text(_ text: String, _ group: Group, _ long: Group) -> [UInt8]? {
            let bytes = textBytes(text)
            return bytes.count <= maxValueBytes ? prefix(name, group).map { $0 + bytes } : prefix(name, long)
        }
        let key: [UInt8]?
        switch value {
        case .string(let string): key = text(string, .string, .longString)
        case .number(let number): key = prefix(name, .number).map { $0 + orderedBytes(number) }
        case .bool(let flag): key = prefix(name, .bool).map { $0 + [flag ? 1 : 0] }
        case .timestamp(let time): key = prefix(name, .timestamp).map { $0 + orderedBytes(milliseconds: time.milliseconds) }
        case .strings(let list):
            return Array(Set(list.compactMap { text($0, .element, .longElement) }))
        }
        return key.map { [$0] } ?? []
    }

    /// The keys of every attribute in `attributes` whose value differs in `other`: what a write must add (or, with
    /// the roles swapped, remove).
    static func keys(of attributes: Attributes, differingFrom other: Attributes) -> Set<[UInt8]> {
        var result = Set<[UInt8]>()
        for (name, value) in attributes where other[name] != value {
            result.formUnion(keys(name, value))
        }
        return result
    }

    /// The UTF-8 bytes of `text` in NFC, so byte order is Swift's string order and equal strings have equal bytes.
    static func textBytes(_ text: String) -> [UInt8] {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return Array(text.utf8) }
        return Array(text.precomposedStringWithCanonicalMapping.utf8)
    }

    /// A finite or infinite double as 8 bytes whose byte order is numeric order.
    static func orderedBytes(_ number: Double) -> [UInt8] {
        let bits = (number + 0.0).bitPattern  // -0 + 0 is +0
        let ordered = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
        return withUnsafeBytes(of: ordered.bigEndian) { Array($0) }
    }

    /// A signed millisecond time as 8 bytes whose byte order is time order.
    static func orderedBytes(milliseconds: Int64) -> [UInt8] {
        withUnsafeBytes(of: (UInt64(bitPattern: milliseconds) ^ (1 << 63)).bigEndian) { Array($0) }
    }

    /// The milliseconds of a timestamp key's value bytes.
    static func milliseconds(_ bytes: UnsafeRawBufferPointer) -> Int64 {
        Int64(bitPattern: bytes.loadBigEndianUInt64(at: 0) ^ (1 << 63))
    }
}

// MARK: - Building

extension CatalogWriter {
    /// Adds and removes the index entries of one item whose attributes change from `old` to `new` (`[:]` for a
    /// new or a deleted item). Only attributes whose values differ are touched.
    mutating func updateAttributeIndex(item: UInt32, old: Attributes, new: Attributes) throws {
        guard let index = schema.itemAttributes else { return }
        var txn = WriteTransaction(continuing: handle)
        let removed = AttributeIndex.keys(of: old, differingFrom: new)
        let added = AttributeIndex.keys(of: new, differingFrom: old)
        for key in removed.subtracting(added) { try index.delete(key, value: item, in: &txn) }
        for key in added.subtracting(removed) {
            try index.put(key, item, in: &txn, flags: .noDuplicateData)
        }
    }
}

extension RecDatabase {
    /// Builds the attribute index of a database written before it existed, in one write transaction that also
    /// marks it complete (``AttributeIndex/metaKey``) and raises the format version: a crash before the commit
    /// leaves the old database as it was, and the next open builds it again. Does nothing when it is complete.
    func buildAttributeIndexIfMissing() throws {
        guard let index = schema.itemAttributes else { return }
        let complete = try read { r in try r.schema.meta.get(AttributeIndex.metaKey, in: r.txn) != nil }
        guard !complete else { return }
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            // Another process may have built it since the check above.
            guard try w.schema.meta.get(AttributeIndex.metaKey, in: txn) == nil else { return }
            try index.removeAll(in: &txn)
            try w.schema.items.scanRaw(in: ReadTransaction(viewing: w.handle)) { key, value in
                let id = key.loadBigEndianUInt32(at: 0)
                for key in AttributeIndex.keys(of: try EntityRecord(value).attributes, differingFrom: [:]) {
                    try index.put(key, id, in: &txn, flags: .noDuplicateData)
                }
                return .next
            }
            try w.schema.meta.put(
                AttributeIndex.metaKey, UInt32Codec.withBytes(of: AttributeIndex.layoutVersion) { Array($0) }, in: &txn)
            var format = BinaryWriter()
            format.write(Self.formatVersion)
            try w.schema.meta.put("format", Self.magic + format.bytes, in: &txn)
        }
    }
}
