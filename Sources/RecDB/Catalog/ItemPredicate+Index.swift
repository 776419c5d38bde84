/// The items a predicate selects: a set, or every live item but a set. `NOT`, `!=` and `available` are complements,
/// so `category = X AND available` subtracts the few unavailable items instead of listing the whole catalog.
enum ItemSelection {
    case only(AllowedSet)
    case allBut(AllowedSet)

    var inverted: ItemSelection {
        switch self {
        case .only(let set): .allBut(set)
        case .allBut(let set): .only(set)
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// The items that meet `predicate`. Categories and tags come from their postings, comparisons, `IN` and
    /// `available` from the attribute index (``AttributeIndex``): cursor range scans, no item record is decoded
    /// except those holding strings longer than ``AttributeIndex/maxValueBytes`` for the attribute compared.
    /// Items lacking the attribute meet only `!=`, as ``ItemPredicate/matches(_:)`` says.
    public func items(matching predicate: ItemPredicate) throws -> AllowedSet {
        guard let index = try attributeIndex else { return try scannedItems(matching: predicate) }
        switch try selection(predicate, index) {
        case .only(let set): return set
        case .allBut(let set): return try allItems().subtracting(set)
        }
    }

    /// The attribute index, when this snapshot holds a complete one.
    private var attributeIndex: Database<BytesCodec, UInt32Codec>? {
        get throws {
            guard let index = schema.itemAttributes, try schema.meta.get(AttributeIndex.metaKey, in: txn) != nil else {
                return nil
            }
            return index
        }
    }

    private func selection(_ predicate: ItemPredicate, _ index: Database<BytesCodec, UInt32Codec>) throws -> ItemSelection {
        switch predicate {
        case .category(let path): return .only(AllowedSet(try items(inCategory: path)))
        case .tag(let tag): return .only(AllowedSet(try items(withTag: tag)))
        case .compare(let name, .notEqual, let value): return .allBut(try indexedItems(name, .equal, value, index))
        case .compare(let name, let op, let value): return .only(try indexedItems(name, op, value, index))
        case .oneOf(let name, let values):
            var set = AllowedSet()
            for value in values { set = set.union(try indexedItems(name, .equal, value, index)) }
            return .only(set)
        case .available:
            // Only a stored `false` makes an item unavailable.
            var unavailable = AllowedSet()
            if let prefix = AttributeIndex.prefix("available", .bool) {
                try addRange(index, prefix: prefix, .equal, bound: [0], to: &unavailable)
            }
            return .allBut(unavailable)
        case .and(let parts):
            var kept: AllowedSet?
            var excluded = AllowedSet()
            for part in parts {
                switch try selection(part, index) {
                case .only(let set): kept = kept.map { $0.intersection(set) } ?? set
                case .allBut(let set): excluded = excluded.union(set)
                }
            }
            return kept.map { .only($0.subtracting(excluded)) } ?? .allBut(excluded)
        case .or(let parts):
            var included = AllowedSet()
            var missing: AllowedSet?
            for part in parts {
                switch try selection(part, index) {
                case .only(let set): included = included.union(set)
                case .allBut(let set): missing = missing.map { $0.intersection(set) } ?? set
                }
            }
            return missing.map { .allBut($0.subtracting(included)) } ?? .only(included)
        case .not(let inner): return try selection(inner, index).inverted
        }
    }

    /// The items whose attribute `name` compares with `value` as `op` says (not `!=`: that is the complement of
    /// `=`), following ``ItemPredicate/holds(_:_:_:)`` for every pair of stored and given types.
    private func indexedItems(
        _ name: String, _ op: ItemPredicate.ComparisonOperator, _ value: AttributeValue,
        _ index: Database<BytesCodec, UInt32Codec>
    ) throws -> AllowedSet {
        var set = AllowedSet()
        func ordered(_ group: AttributeIndex.Group, _ bound: [UInt8]) throws {
            guard let prefix = AttributeIndex.prefix(name, group) else { return }
            try addRange(index, prefix: prefix, op, bound: bound, to: &set)
        }
        func text(_ bound: String) throws {
            try ordered(.string, AttributeIndex.textBytes(bound))
            try checkRecords(index, name, .longString, op, value, &set)
        }
        switch value {
        case .number(let number):
            if !number.isNaN { try ordered(.number, AttributeIndex.orderedBytes(number)) }
            // A timestamp compares with a number as seconds, a string with the number's text.
            try timesAgainstNumber(index, name, op, value, &set)
            try text(value.description)
        case .timestamp(let time): try ordered(.timestamp, AttributeIndex.orderedBytes(milliseconds: time.milliseconds))
        case .string(let string): try text(string)
        case .bool(let flag): if op == .equal { try ordered(.bool, [flag ? 1 : 0]) }
        case .strings: break
        }
        // A string list holds `value` when one of its elements is `value`'s text; it meets no ordering.
        if op == .equal {
            let needle = AttributeIndex.textBytes(value.description)
            if needle.count <= AttributeIndex.maxValueBytes { try ordered(.element, needle) }
            try checkRecords(index, name, .longElement, op, value, &set)
        }
        return set
    }

    /// Adds the items of the run `prefix` whose value bytes compare with `bound` as `op` says (byte order is value
    /// order within a run). Seeks to `bound` for `=`, `>`, `>=`; walks from the run's start for `<`, `<=`.
    private func addRange(
        _ index: Database<BytesCodec, UInt32Codec>, prefix: [UInt8], _ op: ItemPredicate.ComparisonOperator,
        bound: [UInt8], to set: inout AllowedSet
    ) throws {
        let fromStart = op == .less || op == .lessOrEqual
        var walked = 0
        try index.scanRaw(in: txn, from: fromStart ? prefix : prefix + bound, prefix: prefix) { key, value in
            walked &+= 1
            if walked & 4095 == 0 { try RequestControl.checkCurrent() }
            let order = Self.compare(UnsafeRawBufferPointer(rebasing: key[prefix.count...]), bound)
            switch op {
            case .equal: if order != 0 { return .stop }
            case .less: if order >= 0 { return .stop }
            case .lessOrEqual: if order > 0 { return .stop }
            case .greater: if order == 0 { return .next }
            case .greaterOrEqual, .notEqual: break
            }
            set.insert(value.loadBigEndianUInt32(at: 0))
            return .next
        }
    }

    /// Lexicographic byte order: negative, zero or positive.
    private static func compare(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
        for i in 0..<min(a.count, b.count) where a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        return a.count - b.count
    }

    /// Timestamps compared with a number (seconds since the epoch): each stored time is converted, as
    /// ``ItemPredicate/holds(_:_:_:)`` converts it, since the conversion rounds.
    private func timesAgainstNumber(
        _ index: Database<BytesCodec, UInt32Codec>, _ name: String, _ op: ItemPredicate.ComparisonOperator,
        _ value: AttributeValue, _ set: inout AllowedSet
    ) throws {
        guard let prefix = AttributeIndex.prefix(name, .timestamp) else { return }
        try index.scanRaw(in: txn, prefix: prefix) { key, item in
            let time = Timestamp(milliseconds: AttributeIndex.milliseconds(UnsafeRawBufferPointer(rebasing: key[prefix.count...])))
            if ItemPredicate.holds(.timestamp(time), op, value) { set.insert(item.loadBigEndianUInt32(at: 0)) }
            return .next
        }
    }

    /// Items listed under a run without value bytes (long strings): their records decide.
    private func checkRecords(
        _ index: Database<BytesCodec, UInt32Codec>, _ name: String, _ group: AttributeIndex.Group,
        _ op: ItemPredicate.ComparisonOperator, _ value: AttributeValue, _ set: inout AllowedSet
    ) throws {
        guard let key = AttributeIndex.prefix(name, group) else { return }
        for id in try index.duplicates(of: key, in: txn) {
            try RequestControl.checkCurrent()
            if let item = try item(internalID: id), ItemPredicate.holds(item.attributes, name, op, value) { set.insert(id) }
        }
    }
}
