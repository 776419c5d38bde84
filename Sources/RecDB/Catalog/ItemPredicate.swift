import Foundation
import Synchronization

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

    /// How `compare` relates an attribute to a value; the raw value is the query-language token (`price <= 20`).
    /// An item without the attribute, or whose value cannot be compared with the given one, meets only `notEqual`.
    public enum ComparisonOperator: String, Sendable, Hashable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
    }

    /// Whether one item meets the predicate: the same answer as membership in `items(matching:)`, decided from the
    /// item's record alone (cached filters catch up with changed items this way).
    public func matches(_ item: Item) -> Bool {
        switch self {
        case .category(let path):
            guard let normalized = WellKnownAttribute.categoryPrefixes(path).last ?? Optional(path),
                let own = item.category
            else { return false }
            return WellKnownAttribute.categoryPrefixes(own).contains { $0 == normalized && $0.utf8.count <= 255 }
        case .tag(let tag):
            return !tag.isEmpty && tag.utf8.count <= 255 && item.tags.contains(tag)
        case .compare(let name, let op, let value):
            return Self.holds(item.attributes, name, op, value)
        case .oneOf(let name, let values):
            return values.contains { Self.holds(item.attributes, name, .equal, $0) }
        case .available:
            return item.available
        case .and(let parts):
            return parts.allSatisfy { $0.matches(item) }
        case .or(let parts):
            return parts.contains { $0.matches(item) }
        case .not(let inner):
            return !inner.matches(item)
        }
    }

    /// Whether an item's attributes meet a comparison.
    static func holds(_ attributes: Attributes, _ name: String, _ op: ComparisonOperator, _ value: AttributeValue) -> Bool {
        holds(attributes[name], op, value)
    }

    /// Whether an attribute's value (nil when the item lacks it) meets a comparison.
    static func holds(_ actual: AttributeValue?, _ op: ComparisonOperator, _ value: AttributeValue) -> Bool {
        guard let actual else { return op == .notEqual }
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

    /// The items that meet `predicate`, decided from the item records (one decode of every item): the reference
    /// the indexed ``items(matching:)`` must agree with, and its answer in a read-only process on a database
    /// written before the attribute index existed.
    func scannedItems(matching predicate: ItemPredicate) throws -> AllowedSet {
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
            guard var result = try parts.first.map({ try scannedItems(matching: $0) }) else { return try allItems() }
            for part in parts.dropFirst() { result = result.intersection(try scannedItems(matching: part)) }
            return result
        case .or(let parts):
            var result = AllowedSet()
            for part in parts { result = result.union(try scannedItems(matching: part)) }
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
        case .not(let inner): return try allItems().subtracting(try scannedItems(matching: inner))
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
        if let caughtUp = try catchUp(predicate, to: version) {
            database.filterCache.put(predicate, version: version, caughtUp)
            return caughtUp
        }
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

extension CatalogReading where Self: ~Copyable {
    /// The cached set of `predicate` from an earlier item version, brought up to `version` by re-checking only the
    /// items the versions between changed (from the change log); nil when there is no such set, the log does not
    /// reach back to it, or too many items changed (evaluating afresh is then cheaper).
    func catchUp(_ predicate: ItemPredicate, to version: UInt64) throws -> AllowedSet? {
        guard let (cachedVersion, cached) = database.filterCache.latest(predicate), cachedVersion < version,
            version - cachedVersion <= CatalogWriter.itemChangeHistory
        else { return nil }
        var changed: [UInt32] = []
        var expected = cachedVersion + 1
        var complete = true
        try schema.itemChanges.scanRaw(in: txn, from: UInt64Codec.withBytes(of: expected) { Array($0) }) { key, value in
            let logged = key.loadBigEndianUInt64(at: 0)
            guard logged <= version else { return .stop }
            guard logged == expected, value.count >= 1, value[0] == 1, (value.count - 1) % 4 == 0 else {
                complete = false
                return .stop
            }
            for offset in stride(from: 1, to: value.count, by: 4) { changed.append(value.loadBigEndianUInt32(at: offset)) }
            expected += 1
            return changed.count > 4096 ? .stop : .next
        }
        guard complete, expected == version + 1, changed.count <= 4096 else { return nil }
        var set = cached
        for id in Set(changed) {
            try RequestControl.checkCurrent()
            if let item = try item(internalID: id), predicate.matches(item) { set.insert(id) } else { set.remove(id) }
        }
        return set
    }
}

/// Allowed sets of recent filters, each for the item version it was computed at (see
/// ``CatalogReading/itemsVersion``). A set from an older version is brought up to date through the change log
/// rather than evaluated afresh, so item writes do not make filtered requests scan the catalog.
final class FilterCache: Sendable {
    private let cached = Mutex<[ItemPredicate: (version: UInt64, set: AllowedSet)]>([:])
    private let capacity = 256

    func get(_ predicate: ItemPredicate, version: UInt64) -> AllowedSet? {
        cached.withLock { sets in
            guard let entry = sets[predicate], entry.version == version else { return nil }
            return entry.set
        }
    }

    /// The newest cached set of `predicate`, with its version.
    func latest(_ predicate: ItemPredicate) -> (UInt64, AllowedSet)? {
        cached.withLock { sets in sets[predicate].map { ($0.version, $0.set) } }
    }

    func put(_ predicate: ItemPredicate, version: UInt64, _ set: AllowedSet) {
        cached.withLock { sets in
            // An old snapshot's result never replaces a newer one.
            if let existing = sets[predicate], existing.version >= version { return }
            if sets.count >= capacity && sets[predicate] == nil { sets.removeAll() }
            sets[predicate] = (version, set)
        }
    }
}
