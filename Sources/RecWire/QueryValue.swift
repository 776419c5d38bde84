import Foundation

/// A JSON-shaped value: what queries take as parameters and what they return.
///
/// ```swift
/// let result = try db.query("RECOMMEND 5 ITEMS FOR USER $u", parameters: ["u": "u42"])
/// print(result.jsonText)   // {"items":[{"id":"i7","model":"als","score":0.93,"title":"Gone Girl"},…]}
/// ```
public enum QueryValue: Sendable, Hashable {
    /// JSON `null`: a missing value, or a non-finite number when written.
    case null
    /// JSON `true` or `false`.
    case bool(Bool)
    /// A JSON number, as a `Double` (integers are exact up to 2^53).
    case number(Double)
    /// A JSON string.
    case string(String)
    /// A JSON array, in order.
    case array([QueryValue])
    /// A JSON object; ``jsonText`` writes its keys sorted.
    case object([String: QueryValue])

    /// Compact JSON with object keys sorted; non-finite numbers become `null`.
    public var jsonText: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        writeJSON(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the value's compact JSON (as ``jsonText``) as UTF-8 to `bytes`.
    public func writeJSON(into bytes: inout [UInt8]) {
        switch self {
        case .null: bytes += Self.nullBytes
        case .bool(let flag): bytes += flag ? Self.trueBytes : Self.falseBytes
        case .number(let value): bytes += Self.jsonNumber(value).utf8
        case .string(let string): Self.writeString(string, into: &bytes)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                element.writeJSON(into: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                value.writeJSON(into: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static let nullBytes = Array("null".utf8), trueBytes = Array("true".utf8), falseBytes = Array("false".utf8)

    /// The member of an object, or nil.
    public subscript(key: String) -> QueryValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The element of an array, or nil when out of range.
    public subscript(index: Int) -> QueryValue? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    /// The text of a string, or nil.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value of a number, or nil.
    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The elements of an array, or nil.
    public var arrayValue: [QueryValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Converts what `JSONSerialization` produces (`NSNull`, `NSNumber`, `String`, arrays, dictionaries) or the
    /// equivalent Swift values. Throws `.invalidArgument` for anything else.
    public init(json: Any) throws {
        try self.init(json: json, depth: 0)
    }

    private init(json: Any, depth: Int) throws {
        guard depth <= 64 else { throw RecDBError(.invalidArgument, "JSON value nested deeper than 64 levels") }
        switch json {
        case is NSNull:
            self = .null
        case let value as QueryValue:
            self = value
        case let text as String:
            self = .string(text)
        case let flag as Bool where type(of: json) == Bool.self:
            self = .bool(flag)
        case let value as Int where type(of: json) == Int.self:
            self = .number(Double(value))
        case let value as Double where type(of: json) == Double.self:
            self = .number(value)
        case let number as NSNumber:
            // JSONSerialization gives booleans as a boolean subclass of NSNumber (type code `c` or `B`).
            let code = String(cString: number.objCType)
            let boolean = String(describing: type(of: number)).contains("Boolean") || code == "B"
            self = boolean ? .bool(number.boolValue) : .number(number.doubleValue)
        case let elements as [Any]:
            self = .array(try elements.map { try QueryValue(json: $0, depth: depth + 1) })
        case let members as [String: Any]:
            self = .object(try members.mapValues { try QueryValue(json: $0, depth: depth + 1) })
        default:
            throw RecDBError(.invalidArgument, "\(type(of: json)) is not a JSON value")
        }
    }

    static func jsonNumber(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Appends `string` as a JSON string: runs of bytes that need no escape are copied whole; control characters,
    /// quotes, backslashes, DEL and U+2028/U+2029 (which end lines in JavaScript) are escaped.
    static func writeString(_ string: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var copy = string
        copy.withUTF8 { utf8 in
            var runStart = 0
            var i = 0
            let count = utf8.count
            func flush(upTo end: Int) {
                if end > runStart { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<end])) }
            }
            while i < count {
                let byte = utf8[i]
                let escape: [UInt8]?
                var width = 1
                switch byte {
                case UInt8(ascii: "\""): escape = Array("\\\"".utf8)
                case UInt8(ascii: "\\"): escape = Array("\\\\".utf8)
                case UInt8(ascii: "\n"): escape = Array("\\n".utf8)
                case UInt8(ascii: "\r"): escape = Array("\\r".utf8)
                case UInt8(ascii: "\t"): escape = Array("\\t".utf8)
                case 0x08: escape = Array("\\b".utf8)
                case 0x0C: escape = Array("\\f".utf8)
                case 0..<0x20, 0x7F:
                    let hex = String(byte, radix: 16)
                    escape = Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                case 0xE2 where i + 2 < count && utf8[i + 1] == 0x80 && (utf8[i + 2] == 0xA8 || utf8[i + 2] == 0xA9):
                    escape = Array((utf8[i + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                    width = 3
                default:
                    escape = nil
                }
                if let escape {
                    flush(upTo: i)
                    bytes += escape
                    i += width
                    runStart = i
                } else {
                    i += 1
                }
            }
            flush(upTo: count)
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension QueryValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    /// A string: `"u42"` as a parameter binds `$u` to that text.
    public init(stringLiteral value: String) { self = .string(value) }
    /// A number (stored as a `Double`, so integers beyond 2^53 lose precision).
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    /// A number; non-finite values are written as JSON `null`.
    public init(floatLiteral value: Double) { self = .number(value) }
    /// A JSON `true` or `false`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An array, in the order written.
    public init(arrayLiteral elements: QueryValue...) { self = .array(elements) }
    /// An object; when a key is repeated, the last value wins.
    public init(dictionaryLiteral elements: (String, QueryValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    /// JSON `null`.
    public init(nilLiteral: ()) { self = .null }
}
