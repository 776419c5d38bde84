extension CatalogReading where Self: ~Copyable {
    /// Verifies the attribute index (``AttributeIndex``) against the item records of this snapshot: every entry
    /// names a live item whose attribute still gives that key (none dangling), and every item has as many entries
    /// as its attributes give (none missing). Each problem goes to `report` with the database and the entry;
    /// `report` answers `.stop` to end the check. Does nothing when the snapshot has no complete index (a
    /// version-1 database opened read-only).
    func checkAttributeIndex(_ report: (String, String) -> ScanControl) throws {
        guard let index = schema.itemAttributes, try schema.meta.get(AttributeIndex.metaKey, in: txn) != nil else {
            return
        }
        let name = "item_attributes"
        var entries: [UInt32: Int] = [:]
        var stopped = false
        try index.scanRaw(in: txn) { key, value in
            let id = value.loadBigEndianUInt32(at: 0)
            entries[id, default: 0] += 1
            guard key.count >= 2, key.count >= Int(key[0]) + 2,
                let attribute = String(validating: key[1..<(1 + Int(key[0]))], as: UTF8.self)
            else {
                stopped = report(name, "a key of \(key.count) bytes listing item #\(id) is not name + type + value") == .stop
                return stopped ? .stop : .next
            }
            guard let item = try item(internalID: id) else {
                stopped = report(name, "'\(attribute)' lists item #\(id), which does not exist") == .stop
                return stopped ? .stop : .next
            }
            let expected = item.attributes[attribute].map { AttributeIndex.keys(attribute, $0) } ?? []
            if !expected.contains(where: { $0.elementsEqual(key) }) {
                let now = item.attributes[attribute].map { "is \($0)" } ?? "is absent"
                stopped = report(name, "'\(attribute)' lists item '\(item.id)' under a value it no longer has (\(now))") == .stop
            }
            return stopped ? .stop : .next
        }
        if stopped { return }
        try schema.items.scanRaw(in: txn) { key, value in
            let id = key.loadBigEndianUInt32(at: 0)
            let record = try EntityRecord(value)
            let expected = AttributeIndex.keys(of: record.attributes, differingFrom: [:]).count
            let found = entries[id] ?? 0
            guard found != expected else { return .next }
            return report(name, "item '\(record.externalID)' has \(found) entries; its attributes give \(expected)")
        }
    }
}
