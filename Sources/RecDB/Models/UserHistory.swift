/// What a model is given of one user when it scores for them, in the two shapes models need: the interactions
/// summed per item (sorted by item id, the shape factor models train on) and the newest interactions in time order,
/// as the history index holds them (repeats, returns and session ids kept).
///
/// `RECOMMEND … FOR USER` reads the newest ``window`` entries of the user's history; offline evaluation builds the
/// same entries from the training split. Both then pick the user's visit (``latestVisit``) and recent items
/// (``recentItems(limit:)``) through the functions here, so an offline figure describes the list serving returns.
public struct UserHistory: Sendable {
    /// Items whose weights sum above zero, in item-id order.
    public var items: ArraySlice<UInt32>
    /// The summed weight of each of ``items``.
    public var weights: ArraySlice<Float>
    /// The newest interactions, newest first, at most ``window`` of them.
    public var recent: [HistoryEntry]
    /// Every item the user interacted with, in item-id order, whatever the weights sum to: what serving leaves out
    /// of the user's lists (`EXCLUDE SEEN`, the default).
    public var met: ArraySlice<UInt32>
    /// The inactivity gap (milliseconds) that ends a visit whose events carry no explicit session id.
    public var sessionGap: Int64
    /// Whether the history holds events newer than the models' training snapshot. Factor models then fold the user
    /// in from the history against their item factors instead of reading the trained user vector, as `RECOMMEND`
    /// does for a user with events since the last refresh (offline: the validation events of a test history).
    public var newSinceTraining = false

    /// How many of a user's newest events a request for that user reads.
    public static let window = 200
    /// The most items a visit holds (its newest ones).
    public static let visitLimit = 50
    /// How many recent distinct items item-kNN sums the neighbour lists of.
    public static let sourceLimit = 50
    /// How many recent distinct items make a content or text profile.
    public static let profileLimit = 20

    /// A history from its summed row, its newest entries (newest first; only the first ``window`` are kept) and the
    /// items met (``items`` when not given).
    public init(
        items: ArraySlice<UInt32> = [], weights: ArraySlice<Float> = [], recent: [HistoryEntry] = [],
        met: ArraySlice<UInt32>? = nil, sessionGap: Int64 = 30 * 60 * 1000
    ) {
        self.items = items
        self.weights = weights
        self.met = met ?? items
        self.recent = recent.count > Self.window ? Array(recent.prefix(Self.window)) : recent
        self.sessionGap = sessionGap
    }

    /// The user's latest visit in time order: see ``latestVisit(_:gap:)``.
    public var latestVisit: [UInt32] { Self.latestVisit(recent, gap: sessionGap) }

    /// The user's most recent distinct items, newest first: see ``recentItems(_:limit:)``.
    public func recentItems(limit: Int) -> [UInt32] { Self.recentItems(recent, limit: limit) }

    /// The visit that session models continue for a user: from the newest entry back, the entries of its explicit
    /// session, or (without one) those no more than `gap` apart from the next newer one; at most ``visitLimit``
    /// items, returned oldest first.
    static func latestVisit(_ newestFirst: [HistoryEntry], gap: Int64) -> [UInt32] {
        guard let newest = newestFirst.first else { return [] }
        var items: [UInt32] = []
        var previous = newest
        for entry in newestFirst {
            let sameVisit = newest.sessionID != 0
                ? entry.sessionID == newest.sessionID
                : previous.timestamp.milliseconds - entry.timestamp.milliseconds <= gap
            guard sameVisit, items.count < visitLimit else { break }
            items.append(entry.itemID)
            previous = entry
        }
        return items.reversed()
    }

    /// The first `limit` distinct items of `newestFirst`, newest first: what a user's recent interest is made of.
    static func recentItems(_ newestFirst: [HistoryEntry], limit: Int) -> [UInt32] {
        var seen = Set<UInt32>(), items: [UInt32] = []
        for entry in newestFirst where seen.insert(entry.itemID).inserted {
            guard items.count < limit else { break }
            items.append(entry.itemID)
        }
        return items
    }
}
