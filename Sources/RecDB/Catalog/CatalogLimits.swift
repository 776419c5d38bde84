/// The limits on the strings of the catalog that become LMDB keys (external ids, tags, category paths, event type
/// names) or name things (attribute names). LMDB refuses an empty key and a key over 511 bytes with
/// `MDB_BAD_VALSIZE`; RecDB checks its own, smaller limits first, on every path that writes or looks up such a
/// string (imports, the query language, the Swift API), and throws ``RecDBError/Code/invalidArgument`` naming the
/// field, its length and the limit.
///
/// | field | limit |
/// |---|---|
/// | item, user and session ids | 1 to 255 bytes of UTF-8, no NUL |
/// | tags, category paths | 1 to 255 bytes, no NUL |
/// | attribute names | 1 to 255 bytes, no NUL |
/// | event type names | 1 to 64 bytes, no NUL |
///
/// ```swift
/// try CatalogLimits.check("", .itemID)   // invalid_argument: "item id is empty (ids have 1 to 255 bytes)"
/// ```
public enum CatalogLimits {
    /// The longest external id (item, user, session), in UTF-8 bytes.
    public static let maxIDBytes = 255
    /// The longest tag or category path, in UTF-8 bytes.
    public static let maxTagBytes = 255
    /// The longest attribute name, in UTF-8 bytes.
    public static let maxAttributeNameBytes = 255
    /// The longest event type name, in UTF-8 bytes.
    public static let maxEventTypeBytes = 64

    /// A kind of limited string, named as errors name it.
    public struct Field: Sendable, Hashable {
        /// How errors name it: `item id`, `tag`, …
        public let name: String
        /// The most UTF-8 bytes it may have.
        public let maxBytes: Int
        /// How the limit is stated in errors ("ids have 1 to 255 bytes").
        let plural: String

        /// An item's external id: 1 to 255 bytes.
        public static let itemID = Field(name: "item id", maxBytes: maxIDBytes, plural: "ids")
        /// A user's external id: 1 to 255 bytes.
        public static let userID = Field(name: "user id", maxBytes: maxIDBytes, plural: "ids")
        /// An explicit session id: 1 to 255 bytes.
        public static let sessionID = Field(name: "session id", maxBytes: maxIDBytes, plural: "ids")
        /// One tag of an item's `tags`: 1 to 255 bytes.
        public static let tag = Field(name: "tag", maxBytes: maxTagBytes, plural: "tags")
        /// A category path such as `Books/Thriller`: 1 to 255 bytes.
        public static let category = Field(name: "category", maxBytes: maxTagBytes, plural: "category paths")
        /// The name of an item or user attribute: 1 to 255 bytes.
        public static let attributeName = Field(
            name: "attribute name", maxBytes: maxAttributeNameBytes, plural: "attribute names")
        /// The name of an event type: 1 to 64 bytes.
        public static let eventType = Field(name: "event type name", maxBytes: maxEventTypeBytes, plural: "event type names")
        /// The name of a model: 1 to 64 bytes, like event type names.
        public static let modelName = Field(name: "model name", maxBytes: maxEventTypeBytes, plural: "model names")
    }

    /// The problem with `value` as a `field`, or nil when it is within the limits.
    public static func problem(_ value: String, _ field: Field) -> String? {
        let count = value.utf8.count
        if count == 0 { return "\(field.name) is empty (\(field.plural) have 1 to \(field.maxBytes) bytes)" }
        if count > field.maxBytes {
            return "\(field.name) has \(count) bytes; the limit is \(field.maxBytes) ('\(value.excerpt(40))')"
        }
        if value.utf8.contains(0) { return "\(field.name) contains a NUL byte ('\(value.excerpt(40))')" }
        return nil
    }

    /// Throws ``RecDBError/Code/invalidArgument`` naming the field, its length and the limit when `value` is empty,
    /// too long, or holds a NUL byte.
    public static func check(_ value: String, _ field: Field, location: String? = nil) throws(RecDBError) {
        if let problem = problem(value, field) { throw RecDBError(.invalidArgument, problem, location: location) }
    }
}

extension String {
    /// The text as it may be quoted in an error: whole when it has at most `limit` bytes of UTF-8, otherwise its
    /// first `limit` bytes (cut at a character boundary) followed by `… (N bytes)`. Input rows can be megabytes long;
    /// errors quote them through this.
    func excerpt(_ limit: Int = 200) -> String {
        let utf8 = self.utf8
        guard utf8.count > limit else { return self }
        var end = utf8.index(utf8.startIndex, offsetBy: limit)
        while end > utf8.startIndex && UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        return String(self[..<end]) + "… (\(utf8.count) bytes)"
    }
}

extension Substring {
    func excerpt(_ limit: Int = 200) -> String { String(self).excerpt(limit) }
}
