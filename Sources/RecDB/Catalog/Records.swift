/// An item of the catalog: an external id, its dense internal id and typed attributes.
public struct Item: Hashable, Sendable {
    /// The id the shop uses (a SKU, a product code).
    public var id: String
    /// RecDB's dense id, used by indexes and models. Never reused after a delete.
    public var internalID: UInt32
    /// Typed attributes by name; names have 1–255 bytes (``CatalogLimits``). `title`, `category`, `tags`, `price` and
    /// `available` have the meanings of the accessors below; any other name is free for filters and content models.
    public var attributes: Attributes

    /// The `title` attribute when it is a string; nil when absent or of another type.
    public var title: String? { if case .string(let v)? = attributes["title"] { v } else { nil } }
    /// The `category` attribute when it is a string: a path such as `Books/Thriller` (a category filter also matches
    /// its sub-categories); nil otherwise.
    public var category: String? { if case .string(let v)? = attributes["category"] { v } else { nil } }
    /// The `tags` attribute when it is a string list; empty when absent or of another type.
    public var tags: [String] { if case .strings(let v)? = attributes["tags"] { v } else { [] } }
    /// The `price` attribute when it is a number (no currency is implied); nil otherwise.
    public var price: Double? { if case .number(let v)? = attributes["price"] { v } else { nil } }
    /// Items are available unless the attribute says otherwise.
    public var available: Bool { if case .bool(let v)? = attributes["available"] { v } else { true } }
}

/// A user: a known customer or an anonymous visitor.
public struct User: Hashable, Sendable {
    /// The id the shop uses for this customer or visitor (1–255 bytes of UTF-8, no NUL).
    public var id: String
    /// RecDB's dense id, allocated from 0 upwards and never reused after a delete.
    public var internalID: UInt32
    /// Typed attributes by name (segment, country, …); empty for a user created implicitly by an event.
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

    /// Creates a type; `weight` is ignored for scoring when `usesValue` is true.
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
    /// The internal id of the user (see ``User/internalID``).
    public var userID: UInt32
    /// The internal id of the item (see ``Item/internalID``).
    public var itemID: UInt32
    /// The event type's name, one of the database's ``EventType``s.
    public var type: String
    /// The value given when the event was recorded (a rating for `rating`, else usually 1); always finite.
    public var value: Double
    /// When the event happened, as given by the writer (not when it was recorded).
    public var timestamp: Timestamp
    /// The internal id of an explicit session, 0 when the event has none.
    public var sessionID: UInt32
    /// Free text that came with the event (a review), or nil.
    public var text: String?
}

/// An interaction to record, by external ids.
public struct EventInput: Hashable, Sendable {
    /// The user's external id; an unknown user is created when the writer allows it, else the write fails with
    /// `notFound`.
    public var user: String
    /// The item's external id; an unknown item is created (without attributes) when the writer allows it, else the
    /// write fails with `notFound`.
    public var item: String
    /// The name of a known event type; an unknown name fails with `invalidArgument` listing the known ones.
    public var type: String
    /// The event's value (a rating, a quantity); must be finite. It is the event's weight when the type
    /// ``EventType/usesValue``.
    public var value: Double
    /// When the event happened; events may arrive out of time order.
    public var timestamp: Timestamp
    /// An explicit session id; without one, sessions are split by the inactivity gap.
    public var session: String?
    /// Free text to keep with the event (a review), or nil.
    public var text: String?

    /// Creates an event to record; `value` defaults to 1, and no session or text.
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
    /// When the event happened.
    public var timestamp: Timestamp
    /// The event's global sequence number (see ``Event/sequence``); breaks ties between equal timestamps.
    public var sequence: UInt64
    /// The internal id of the item the event was about.
    public var itemID: UInt32
    /// The internal id of the event's explicit session, 0 when it has none.
    public var sessionID: UInt32
}

/// The events of one visit.
public struct Session: Hashable, Sendable {
    /// The explicit session id, or nil for a visit split by the inactivity gap.
    public var id: String?
    /// The internal id of the user whose visit this is.
    public var userID: UInt32
    /// The visit's events in time order; never empty for a session read from the database.
    public var entries: [HistoryEntry]
    /// The time of the first event; the epoch when `entries` is empty.
    public var start: Timestamp { entries.first?.timestamp ?? Timestamp(milliseconds: 0) }
    /// The time of the last event; the epoch when `entries` is empty.
    public var end: Timestamp { entries.last?.timestamp ?? Timestamp(milliseconds: 0) }
}
