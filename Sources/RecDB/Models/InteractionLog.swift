/// Every interaction of one snapshot, as parallel arrays sorted by user then time: what models train on and what
/// evaluation splits. Weights come from the event types (view 1, purchase 5, rating = value, return −5, …).
public struct InteractionLog: Sendable {
    /// User id of each interaction; non-decreasing, since the log is sorted by user then time.
    public var users: [UInt32] = []
    /// Item id of each interaction, parallel to `users`.
    public var items: [UInt32] = []
    /// Signed weight of each interaction from its event type (e.g. a return is negative); 1 for an unknown type.
    public var weights: [Float] = []
    /// Milliseconds since the epoch.
    public var times: [Int64] = []
    /// The explicit session of each interaction; 0 when it has none (sessions then split by inactivity).
    public var sessions: [UInt32] = []
    /// One past the largest user and item id in the catalog (dense id spaces; some ids may be unused).
    public var userLimit = 0
    /// One past the largest item id: the length of a model's score buffer.
    public var itemLimit = 0
    /// Users of impressions' items they ignored (shown by `RECOMMEND … IN EXPERIMENT`, no event credited to the
    /// impression for them and none with the item at all): weak negatives, parallel to ``ignoredItems``, sorted by user.
    public var ignoredUsers: [UInt32] = []
    /// The ignored items, parallel to ``ignoredUsers`` (BPR's `ignoredNegatives` draws from them).
    public var ignoredItems: [UInt32] = []

    /// An empty log with both limits 0; fill the parallel arrays and limits together.
    public init() {}

    /// Number of interactions (the length of each parallel array).
    public var count: Int { users.count }

    mutating func append(user: UInt32, item: UInt32, weight: Float, time: Int64, session: UInt32 = 0) {
        users.append(user)
        items.append(item)
        weights.append(weight)
        times.append(time)
        sessions.append(session)
    }

    /// The interactions whose index `keep` accepts, in the same order.
    public func filter(_ keep: (Int) -> Bool) -> InteractionLog {
        var result = InteractionLog()
        result.userLimit = userLimit
        result.itemLimit = itemLimit
        for index in 0..<count where keep(index) {
            result.append(
                user: users[index], item: items[index], weight: weights[index], time: times[index],
                session: index < sessions.count ? sessions[index] : 0)
        }
        return result
    }

    /// This log and `other` (both sorted by user, then time) as one log in the same order; on equal user and time this
    /// log's interaction comes first. Limits are the larger of the two.
    public func merged(with other: InteractionLog) -> InteractionLog {
        var result = InteractionLog()
        result.userLimit = max(userLimit, other.userLimit)
        result.itemLimit = max(itemLimit, other.itemLimit)
        var i = 0, j = 0
        func take(_ log: InteractionLog, _ index: Int) {
            result.append(
                user: log.users[index], item: log.items[index], weight: log.weights[index], time: log.times[index],
                session: index < log.sessions.count ? log.sessions[index] : 0)
        }
        while i < count || j < other.count {
            let fromOther =
                i == count
                || (j < other.count && (other.users[j], other.times[j]) < (users[i], times[i]))
            if fromOther {
                take(other, j)
                j += 1
            } else {
                take(self, i)
                i += 1
            }
        }
        return result
    }

    /// The ranges of each user's interactions (the log is sorted by user).
    public func userRanges() -> [(user: UInt32, range: Range<Int>)] {
        var ranges: [(UInt32, Range<Int>)] = []
        var start = 0
        while start < count {
            var end = start + 1
            while end < count && users[end] == users[start] { end += 1 }
            ranges.append((users[start], start..<end))
            start = end
        }
        return ranges
    }
}

extension CatalogReading where Self: ~Copyable {
    /// All interactions of this snapshot with their event-type weights, sorted by user then time; with `since`
    /// (milliseconds since the epoch) only events at or after it, with `typeCodes` only events of those types.
    /// Streams the history index; memory is proportional to the number of events.
    public func interactionLog(since: Int64? = nil, typeCodes: Set<UInt16>? = nil) throws -> InteractionLog {
        var log = InteractionLog()
        let count = try eventCount
        log.users.reserveCapacity(count)
        log.items.reserveCapacity(count)
        log.weights.reserveCapacity(count)
        log.times.reserveCapacity(count)
        log.sessions.reserveCapacity(count)
        try forEachWeightedEvent(since: since, typeCodes: typeCodes) { user, entry, weight in
            log.append(user: user, item: entry.item, weight: weight, time: entry.time, session: entry.session)
        }
        log.userLimit = try CatalogSchemaAccess.idLimit("next.user", handle: handle, meta: schema.meta)
        log.itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
        try appendIgnoredImpressions(to: &log)
        return log
    }
}

/// One user's row of the interaction matrix, as ``CatalogReading/forEachUserInteractions(since:typeCodes:_:)``
/// streams it.
package struct UserInteractions {
    /// The user's external id (nil only for a damaged id map).
    package var externalID: String?
    /// Events of the user that passed the filters.
    package var events = 0
    /// Items with a positive summed weight, ascending.
    package var items: [UInt32] = []
    /// Their summed weights.
    package var weights: [Float] = []

    /// The row of one user's events (in time order): a stable sort by item keeps each item's weights in time
    /// order, so they are summed as the matrix sums them; sums of zero or less are left out.
    init(externalID: String?, summing events: [(item: UInt32, weight: Float)]) {
        self.externalID = externalID
        self.events = events.count
        let sorted = events.enumerated().sorted { ($0.element.item, $0.offset) < ($1.element.item, $1.offset) }
        var k = 0
        while k < sorted.count {
            let item = sorted[k].element.item
            var sum: Float = 0
            while k < sorted.count && sorted[k].element.item == item {
                sum += sorted[k].element.weight
                k += 1
            }
            if sum > 0 {
                items.append(item)
                weights.append(sum)
            }
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// Each user's row of the ``InteractionMatrix`` of ``interactionLog(since:typeCodes:)``, users in id order, one
    /// at a time from the history index: memory is one user's events, not the log's. The sums are the matrix's
    /// (weights added in time order, pairs summing to zero or less left out); a user whose events all fall outside
    /// the filters is skipped, one whose pairs all sum to zero or less comes with no items.
    package func forEachUserInteractions(
        since: Int64? = nil, typeCodes: Set<UInt16>? = nil, _ body: (UInt32, UserInteractions) throws -> Void
    ) throws {
        var current: UInt32?
        var events: [(item: UInt32, weight: Float)] = []
        try forEachWeightedEvent(since: since, typeCodes: typeCodes) { user, entry, weight in
            if let previous = current, previous != user {
                try body(previous, UserInteractions(externalID: try externalUserID(previous), summing: events))
                events.removeAll(keepingCapacity: true)
            }
            current = user
            events.append((entry.item, weight))
        }
        if let current { try body(current, UserInteractions(externalID: try externalUserID(current), summing: events)) }
    }

    /// Each event of the history index that passes the filters (at or after `since`, of `typeCodes`), users in id
    /// order and each user's in time order, with its type's weight: what the interaction log and matrix are built of.
    private func forEachWeightedEvent(
        since: Int64?, typeCodes: Set<UInt16>?, _ body: (UInt32, UserEventEntry, Float) throws -> Void
    ) throws {
        var typeWeights: [UInt16: EventType] = [:]
        for (code, type) in try eventTypes.codes { typeWeights[code] = type }
        try schema.userEvents.scanRaw(in: txn) { key, value in
            let entry = try UserEventEntry(value)
            if let since, entry.time < since { return .next }
            guard let record = try schema.events.withValue(entry.sequence, in: txn, { try EventRecord($0) }) else {
                return .next
            }
            if let typeCodes, !typeCodes.contains(record.typeCode) { return .next }
            let weight = typeWeights[record.typeCode].map { $0.weight(forValue: record.value) } ?? 1
            try body(key.loadBigEndianUInt32(at: 0), entry, Float(weight))
            return .next
        }
    }
}

/// A user × item matrix of summed interaction weights in compressed sparse rows, built from a log.
/// Pairs whose weights sum to zero or less (a purchase then a return) are left out.
public struct InteractionMatrix: Sendable {
    /// Row count: users, or items when built with `transpose`.
    public let rows: Int
    /// Column count: items, or users when built with `transpose`.
    public let columns: Int
    /// `rows + 1` offsets into `indices` and `values`: row `r` is `rowStart[r] ..< rowStart[r + 1]`.
    public let rowStart: [Int]
    /// Column of each stored entry, ascending within a row.
    public let indices: [UInt32]
    /// Summed weight of each stored entry; always > 0.
    public let values: [Float]

    /// Builds from `log`; `rows` and `columns` default to its user and item limits (swapped when `transpose`,
    /// which makes an item × user matrix). Interactions whose row id is past the row count are dropped.
    public init(_ log: InteractionLog, rows: Int? = nil, columns: Int? = nil, transpose: Bool = false) {
        let rowCount = transpose ? (columns ?? log.itemLimit) : (rows ?? log.userLimit)
        let columnCount = transpose ? (rows ?? log.userLimit) : (columns ?? log.itemLimit)
        let rowOf = transpose ? log.items : log.users
        let columnOf = transpose ? log.users : log.items
        // Counting sort of the interactions by row, then per row: sort by column, sum duplicates, drop sums ≤ 0.
        var counts = [Int](repeating: 0, count: rowCount + 1)
        for r in rowOf where Int(r) < rowCount { counts[Int(r) + 1] += 1 }
        for r in 0..<rowCount { counts[r + 1] += counts[r] }
        var fill = counts
        var columnsByRow = [UInt32](repeating: 0, count: counts[rowCount])
        var weightsByRow = [Float](repeating: 0, count: counts[rowCount])
        for i in 0..<log.count {
            let r = Int(rowOf[i])
            guard r < rowCount else { continue }
            columnsByRow[fill[r]] = columnOf[i]
            weightsByRow[fill[r]] = log.weights[i]
            fill[r] += 1
        }
        var rowStart = [Int](repeating: 0, count: rowCount + 1)
        var indices: [UInt32] = []
        var values: [Float] = []
        indices.reserveCapacity(columnsByRow.count)
        values.reserveCapacity(columnsByRow.count)
        var order: [Int] = []
        for r in 0..<rowCount {
            let range = counts[r]..<counts[r + 1]
            order.removeAll(keepingCapacity: true)
            order.append(contentsOf: range)
            order.sort { columnsByRow[$0] < columnsByRow[$1] }
            var k = 0
            while k < order.count {
                let column = columnsByRow[order[k]]
                var sum: Float = 0
                while k < order.count && columnsByRow[order[k]] == column {
                    sum += weightsByRow[order[k]]
                    k += 1
                }
                if sum > 0 {
                    indices.append(column)
                    values.append(sum)
                }
            }
            rowStart[r + 1] = indices.count
        }
        self.rows = rowCount
        self.columns = columnCount
        self.rowStart = rowStart
        self.indices = indices
        self.values = values
    }

    /// Number of stored (positive-sum) entries.
    public var nonZeros: Int { indices.count }

    /// The column indices and values of row `r`.
    @inline(__always)
    public func row(_ r: Int) -> (indices: ArraySlice<UInt32>, values: ArraySlice<Float>) {
        (indices[rowStart[r]..<rowStart[r + 1]], values[rowStart[r]..<rowStart[r + 1]])
    }
}
