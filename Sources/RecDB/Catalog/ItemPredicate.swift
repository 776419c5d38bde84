import Foundation

/// A condition on items, evaluated to the set of items that meet it (the allowed set of a filtered search).
public indirect enum ItemPredicate: Sendable, Hashable {
    /// In a category or any of its sub-categories.
    case category(String)
    /// Carrying a tag.
    case tag(String)
    /// An attribute compared with a value. Strings compare as text, numbers and timestamps as numbers;
    /// `equal` on a string list means "contains".
    case compare(attribute: String, ComparisonOperator, AttributeValue)
    /// The attribute equals one of the values (for a string list: contains one of them).
    case oneOf(attribute: String, [AttributeValue])
    /// Items whose `available` attribute is not false.
    case available
    case and([ItemPredicate])
    case or([ItemPredicate])
    case not(ItemPredicate)

    public enum ComparisonOperator: String, Sendable, Hashable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
    }

    /// Parses one `NAME OP VALUE` clause as `recctl --where` takes it: `category=Books/Thriller`, `tag=sale`,
    /// `price<20`, `available=true`, `brand!=Acme`. Values that read as numbers, booleans or dates compare as such;
    /// a value in quotes (`zip="02139"`, `title='a<b'`) is text. `category!=X` and `tag!=X` hold for the items that
    /// `category=X` and `tag=X` leave out.
    public static func parse(_ clause: String) throws -> ItemPredicate {
        let operators: [ComparisonOperator] = [.lessOrEqual, .greaterOrEqual, .notEqual, .equal, .less, .greater]
        // The first operator splits the clause: one inside the value belongs to the value.
        for index in clause.indices {
            guard let op = operators.first(where: { clause[index...].hasPrefix($0.rawValue) }) else { continue }
            let name = String(clause[..<index]).trimmedSpaces
            var text = String(clause[index...].dropFirst(op.rawValue.count)).trimmedSpaces
            var quoted = false
            if text.count >= 2, text.first == "'" && text.last == "'" || text.first == "\"" && text.last == "\"" {
                text = String(text.dropFirst().dropLast())
                quoted = true
            }
            guard !name.isEmpty else { break }
            if name == "category" || name == "tag" || name == "tags", op == .equal || op == .notEqual {
                let posting: ItemPredicate = name == "category" ? .category(text) : .tag(text)
                return op == .equal ? posting : .not(posting)
            }
            let value: AttributeValue
            if quoted {
                value = .string(text)
            } else if let number = Double(text), number.isFinite {
                value = .number(number)
            } else if text == "true" || text == "false" {
                value = .bool(text == "true")
            } else if let time = Timestamp(parsing: text) {
                value = .timestamp(time)
            } else {
                value = .string(text)
            }
            return .compare(attribute: name, op, value)
        }
        throw RecDBError(
            .invalidArgument, "'\(clause)' is not NAME OP VALUE with OP one of = != < <= > >= (e.g. price<20, category=Books)")
    }

    /// Whether an item's attributes meet a comparison.
    static func holds(_ attributes: Attributes, _ name: String, _ op: ComparisonOperator, _ value: AttributeValue) -> Bool {
        guard let actual = attributes[name] else { return op == .notEqual }
        func order<T: Comparable>(_ a: T, _ b: T) -> Bool {
            switch op {
            case .equal: a == b
            case .notEqual: a != b
            case .less: a < b
            case .lessOrEqual: a <= b
            case .greater: a > b
            case .greaterOrEqual: a >= b
            }
        }
        switch (actual, value) {
        case (.number(let a), .number(let b)): return order(a, b)
        case (.timestamp(let a), .timestamp(let b)): return order(a, b)
        case (.timestamp(let a), .number(let b)): return order(Double(a.milliseconds) / 1000, b)
        case (.string(let a), .string(let b)): return order(a, b)
        case (.string(let a), .number(let b)): return order(a, AttributeValue.number(b).description)
        case (.bool(let a), .bool(let b)): return op == .equal ? a == b : op == .notEqual ? a != b : false
        case (.strings(let list), _):
            let needle = value.description
            return op == .equal ? list.contains(needle) : op == .notEqual ? !list.contains(needle) : false
        default: return op == .notEqual
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// Every live item, as a set.
    public func allItems() throws -> AllowedSet {
        var set = AllowedSet()
        try schema.items.scanRaw(in: txn) { key, _ in
            set.insert(key.loadBigEndianUInt32(at: 0))
            return .next
        }
        return set
    }

    /// Calls `body` for every item, checking the current request's deadline as it goes (a scan of a big catalog
    /// may take a while).
    private func scanItems(_ body: (Item) -> Void) throws {
        var seen = 0
        try forEachItem { item in
            seen &+= 1
            if seen & 255 == 0 { try RequestControl.checkCurrent() }
            body(item)
            return .next
        }
    }

    /// The items that meet `predicate`. Categories and tags come from their postings; other comparisons
    /// scan the item records once.
    public func items(matching predicate: ItemPredicate) throws -> AllowedSet {
        switch predicate {
        case .category(let path): return AllowedSet(try items(inCategory: path))
        case .tag(let tag): return AllowedSet(try items(withTag: tag))
        case .compare(let name, let op, let value):
            var set = AllowedSet()
            try scanItems { item in
                if ItemPredicate.holds(item.attributes, name, op, value) { set.insert(item.internalID) }
            }
            return set
        case .and(let parts):
            guard var result = try parts.first.map({ try items(matching: $0) }) else { return try allItems() }
            for part in parts.dropFirst() { result = result.intersection(try items(matching: part)) }
            return result
        case .or(let parts):
            var result = AllowedSet()
            for part in parts { result = result.union(try items(matching: part)) }
            return result
        case .oneOf(let name, let values):
            var set = AllowedSet()
            try scanItems { item in
                if values.contains(where: { ItemPredicate.holds(item.attributes, name, .equal, $0) }) {
                    set.insert(item.internalID)
                }
            }
            return set
        case .available:
            var set = AllowedSet()
            try scanItems { item in
                if item.available { set.insert(item.internalID) }
            }
            return set
        case .not(let inner): return try allItems().subtracting(try items(matching: inner))
        }
    }

    /// A number that changes whenever any item is written or deleted: cached filter results stay valid while it
    /// stays the same.
    public var itemsVersion: UInt64 {
        get throws { try CatalogSchemaAccess.nextID(CatalogWriter.itemsVersionKey, handle: handle, meta: schema.meta) }
    }

    /// `items(matching:)` through the database's filter cache: a filter that was evaluated against the same
    /// catalog version is not evaluated again.
    public func cachedItems(matching predicate: ItemPredicate) throws -> AllowedSet {
        try cachedItems(matching: predicate, version: try itemsVersion)
    }

    /// Composite predicates combine their parts' cached sets, so `category = X AND price < 20` for many X scans
    /// the prices once.
    private func cachedItems(matching predicate: ItemPredicate, version: UInt64) throws -> AllowedSet {
        if let cached = database.filterCache.get(predicate, version: version) { return cached }
        let set: AllowedSet
        switch predicate {
        case .and(let parts) where !parts.isEmpty:
            var result = try cachedItems(matching: parts[0], version: version)
            for part in parts.dropFirst() { result = result.intersection(try cachedItems(matching: part, version: version)) }
            set = result
        case .or(let parts):
            var result = AllowedSet()
            for part in parts { result = result.union(try cachedItems(matching: part, version: version)) }
            set = result
        case .not(let inner):
            set = try cachedItems(matching: .and([]), version: version)
                .subtracting(try cachedItems(matching: inner, version: version))
        default:
            set = try items(matching: predicate)
        }
        database.filterCache.put(predicate, version: version, set)
        return set
    }
}

/// Allowed sets of recent filters, valid for one catalog version (see ``CatalogReading/itemsVersion``).
final class FilterCache: @unchecked Sendable {
    private let lock = NSLock()
    private var version: UInt64 = .max
    private var sets: [ItemPredicate: AllowedSet] = [:]
    private let capacity = 256

    func get(_ predicate: ItemPredicate, version: UInt64) -> AllowedSet? {
        lock.lock()
        defer { lock.unlock() }
        return version == self.version ? sets[predicate] : nil
    }

    func put(_ predicate: ItemPredicate, version: UInt64, _ set: AllowedSet) {
        lock.lock()
        defer { lock.unlock() }
        if version != self.version {
            // Only a newer catalog replaces the cache; an old snapshot's result is not kept.
            guard self.version == .max || version > self.version else { return }
            self.version = version
            sets.removeAll()
        }
        if sets.count >= capacity { sets.removeAll() }
        sets[predicate] = set
    }
}
