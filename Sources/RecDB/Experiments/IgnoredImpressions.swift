import Foundation

extension CatalogReading where Self: ~Copyable {
    /// Adds to `log` the items impressions showed users (`u:` units) that they ignored: no event was credited to the
    /// impression for the item, and the user has no event with it at all. Sorted by user, each pair once.
    func appendIgnoredImpressions(to log: inout InteractionLog) throws {
        guard let tables = experimentSchema else { return }
        var acted = Set<[UInt8]>()  // impression key + item id bytes
        try tables.outcomes.scanRaw(in: txn) { key, value in
            acted.insert(Array(key.prefix(12)) + Array(try ImpressionOutcome(bytes: value).item.utf8))
            return .next
        }
        var pairs = Set<UInt64>()
        var itemIDs: [String: UInt32?] = [:]
        var userIDs: [String: UInt32?] = [:]
        try tables.impressions.scanRaw(in: txn) { key, value in
            let number = key.loadBigEndianUInt64(at: 4)
            let impression = try Impression(
                id: RecommendationID(experiment: key.loadBigEndianUInt32(at: 0), number: number), bytes: value)
            guard impression.unit.hasPrefix("u:") else { return .next }
            let userName = String(impression.unit.dropFirst(2))
            if userIDs[userName] == nil { userIDs[userName] = .some(try userID(for: userName)) }
            guard let user = userIDs[userName] ?? nil else { return .next }
            let prefix = Array(key.prefix(12))
            for item in impression.items where !acted.contains(prefix + Array(item.utf8)) {
                if itemIDs[item] == nil { itemIDs[item] = .some(try itemID(for: item)) }
                guard let internalID = itemIDs[item] ?? nil else { continue }
                pairs.insert(UInt64(user) << 32 | UInt64(internalID))
            }
            return .next
        }
        var seenUser: UInt32?
        var seen = Set<UInt32>()
        for pair in pairs.sorted() {
            let user = UInt32(pair >> 32), item = UInt32(truncatingIfNeeded: pair)
            if seenUser != user {
                seen = Set(try schema.seen.duplicates(of: user, in: txn))
                seenUser = user
            }
            if seen.contains(item) { continue }
            log.ignoredUsers.append(user)
            log.ignoredItems.append(item)
        }
    }
}

/// Each user's ignored items in compressed rows, for BPR's sampler.
struct IgnoredItems: Sendable {
    private let starts: [Int]
    private let items: [UInt32]

    init(_ log: InteractionLog, users: Int) {
        var starts = [Int](repeating: 0, count: users + 1)
        var items: [UInt32] = []
        var next = 0
        for user in 0..<users {
            starts[user] = items.count
            while next < log.ignoredUsers.count && Int(log.ignoredUsers[next]) < user { next += 1 }
            while next < log.ignoredUsers.count && Int(log.ignoredUsers[next]) == user {
                items.append(log.ignoredItems[next])
                next += 1
            }
        }
        starts[users] = items.count
        self.starts = starts
        self.items = items
    }

    /// Whether any user has ignored items.
    var isEmpty: Bool { items.isEmpty }

    /// One of `user`'s ignored items picked by `random`, or nil when the user has none.
    @inline(__always)
    func draw(for user: Int, _ random: UInt64) -> UInt32? {
        guard user + 1 < starts.count else { return nil }
        let count = starts[user + 1] - starts[user]
        guard count > 0 else { return nil }
        return items[starts[user] + Int(random % UInt64(count))]
    }
}
