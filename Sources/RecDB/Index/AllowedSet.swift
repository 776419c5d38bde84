/// A set of node ids (item or user internal ids) as a bitmap: the allowed set a filtered search may return.
public struct AllowedSet: Sendable, Hashable {
    private(set) var words: [UInt64]
    /// The number of ids in the set.
    public private(set) var count: Int

    /// An empty set able to hold ids below `limit` without growing.
    public init(limit: Int = 0) {
        words = Array(repeating: 0, count: (limit + 63) / 64)
        count = 0
    }

    /// A set of the given ids.
    public init<S: Sequence>(_ ids: S) where S.Element == UInt32 {
        self.init()
        for id in ids { insert(id) }
    }

    /// One past the largest id the bitmap can hold.
    public var limit: Int { words.count * 64 }

    /// Whether `id` is in the set; ids past ``limit`` are not. Constant time.
    public func contains(_ id: UInt32) -> Bool {
        let index = Int(id)
        return index < limit && words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    /// Adds `id`, growing the bitmap when `id` is past ``limit``; inserting a member again changes nothing.
    public mutating func insert(_ id: UInt32) {
        let index = Int(id)
        if index >= limit { words += Array(repeating: 0, count: (index >> 6) + 1 - words.count) }
        let mask: UInt64 = 1 << UInt64(index & 63)
        if words[index >> 6] & mask == 0 {
            words[index >> 6] |= mask
            count += 1
        }
    }

    /// Removes `id` if present; the bitmap never shrinks.
    public mutating func remove(_ id: UInt32) {
        let index = Int(id)
        guard index < limit else { return }
        let mask: UInt64 = 1 << UInt64(index & 63)
        if words[index >> 6] & mask != 0 {
            words[index >> 6] &= ~mask
            count -= 1
        }
    }

    /// The ids in both sets.
    public func intersection(_ other: AllowedSet) -> AllowedSet {
        var result = AllowedSet()
        let n = min(words.count, other.words.count)
        result.words = (0..<n).map { words[$0] & other.words[$0] }
        result.count = result.words.reduce(0) { $0 + $1.nonzeroBitCount }
        return result
    }

    /// The ids in either set.
    public func union(_ other: AllowedSet) -> AllowedSet {
        var result = AllowedSet()
        let n = max(words.count, other.words.count)
        result.words = (0..<n).map {
            ($0 < words.count ? words[$0] : 0) | ($0 < other.words.count ? other.words[$0] : 0)
        }
        result.count = result.words.reduce(0) { $0 + $1.nonzeroBitCount }
        return result
    }

    /// The ids of this set that are not in `other`.
    public func subtracting(_ other: AllowedSet) -> AllowedSet {
        var result = self
        for i in 0..<min(words.count, other.words.count) { result.words[i] &= ~other.words[i] }
        result.count = result.words.reduce(0) { $0 + $1.nonzeroBitCount }
        return result
    }

    /// Sets are equal when they hold the same ids, however many trailing empty words their bitmaps carry.
    public static func == (a: AllowedSet, b: AllowedSet) -> Bool {
        guard a.count == b.count else { return false }
        let shared = min(a.words.count, b.words.count)
        return a.words[..<shared] == b.words[..<shared] && a.words[shared...].allSatisfy { $0 == 0 }
            && b.words[shared...].allSatisfy { $0 == 0 }
    }

    /// Hashes the ids, ignoring trailing empty words so that equal sets hash alike.
    public func hash(into hasher: inout Hasher) {
        let used = (words.lastIndex { $0 != 0 } ?? -1) + 1
        hasher.combine(used)
        for word in words[..<used] { hasher.combine(word) }
    }

    /// Calls `body` for each id in increasing order.
    public func forEach(_ body: (UInt32) throws -> Void) rethrows {
        for (w, word) in words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let bit = bits.trailingZeroBitCount
                try body(UInt32(w * 64 + bit))
                bits &= bits - 1
            }
        }
    }

    func withFilter<R>(excluding excluded: NodeFilter, _ body: (NodeFilter) throws -> R) rethrows -> R {
        try words.withUnsafeBufferPointer { buffer in
            var filter = excluded
            filter.allowed = buffer.baseAddress
            filter.allowedLimit = limit
            return try body(filter)
        }
    }
}
