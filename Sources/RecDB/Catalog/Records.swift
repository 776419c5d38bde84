/// An item of the catalog: an external id, its dense internal id and typed attributes.
public struct Item: Hashable, Sendable {
    /// The id the shop uses (a SKU, a product code).
    public var id: String
    /// RecDB's dense id, used by indexes and models. Never reused after a delete.
    public var internalID: UInt32
    public var attributes: Attributes

    public var title: String? { if case .string(let v)? = attributes["title"] { v } else { nil } }
    public var category: String? { if case .string(let v)? = attributes["category"] { v } else { nil } }
    public var tags: [String] { if case .strings(let v)? = attributes["tags"] { v } else { [] } }
    public var price: Double? { if case .number(let v)? = attributes["price"] { v } else { nil } }
    /// Items are available unless the attribute says otherwise.
    public var available: Bool { if case .bool(let v)? = attributes["available"] { v } else { true } }
}

/// A user: a known customer or an anonymous visitor.
public struct User: Hashable, Sendable {
    public var id: String
    public var internalID: UInt32
    public var attributes: Attributes
}

/// A kind of interaction and how much it says about a user's interest.
public struct EventType: Hashable, Sendable, Codable {
    /// The name used in imports and queries: `view`, `cart`, `purchase`, …
    public var name: String
    /// The confidence weight of one event; negative types (`dislike`, `return`) lower a score.
    public var weight: Double
    /// When true the event's own value is its weight (ratings).
    public var usesValue: Bool

    public init(name: String, weight: Double, usesValue: Bool = false) {
        self.name = name
        self.weight = weight
        self.usesValue = usesValue
    }

    /// The weight an event of this type with `value` contributes.
    public func weight(forValue value: Double) -> Double { usesValue ? value : weight }

    /// The types a new database starts with.
    public static let defaults: [EventType] = [
        EventType(name: "view", weight: 1),
        EventType(name: "click", weight: 1),
        EventType(name: "cart", weight: 3),
        EventType(name: "wishlist", weight: 2),
        EventType(name: "purchase", weight: 5),
        EventType(name: "rating", weight: 1, usesValue: true),
        EventType(name: "like", weight: 2),
        EventType(name: "dislike", weight: -2),
        EventType(name: "return", weight: -5),
    ]
}

/// An interaction as stored: user, item, type, value, time, and optionally a session and a text (a review).
public struct Event: Hashable, Sendable {
    /// The global sequence number: the order events were written, for incremental training.
    public var sequence: UInt64
    public var userID: UInt32
    public var itemID: UInt32
    public var type: String
    public var value: Double
    public var timestamp: Timestamp
    /// The internal id of an explicit session, 0 when the event has none.
    public var sessionID: UInt32
    public var text: String?
}

/// An interaction to record, by external ids.
public struct EventInput: Hashable, Sendable {
    public var user: String
    public var item: String
    public var type: String
    public var value: Double
    public var timestamp: Timestamp
    /// An explicit session id; without one, sessions are split by the inactivity gap.
    public var session: String?
    public var text: String?

    public init(
        user: String, item: String, type: String, value: Double = 1, timestamp: Timestamp, session: String? = nil,
        text: String? = nil
    ) {
        self.user = user
        self.item = item
        self.type = type
        self.value = value
        self.timestamp = timestamp
        self.session = session
        self.text = text
    }
}

/// One entry of a user's history, as kept in the history index (no record lookup needed).
public struct HistoryEntry: Hashable, Sendable {
    public var timestamp: Timestamp
    public var sequence: UInt64
    public var itemID: UInt32
    public var sessionID: UInt32
}

/// The events of one visit.
public struct Session: Hashable, Sendable {
    /// The explicit session id, or nil for a visit split by the inactivity gap.
    public var id: String?
    public var userID: UInt32
    public var entries: [HistoryEntry]
    public var start: Timestamp { entries.first?.timestamp ?? Timestamp(milliseconds: 0) }
    public var end: Timestamp { entries.last?.timestamp ?? Timestamp(milliseconds: 0) }
}
