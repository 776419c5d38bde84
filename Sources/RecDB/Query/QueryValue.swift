import Foundation

/// A JSON-shaped value: what queries take as parameters and what they return.
///
/// ```swift
/// let result = try db.query("RECOMMEND 5 ITEMS FOR USER $u", parameters: ["u": "u42"])
/// print(result.jsonText)   // {"items":[{"id":"i7","model":"als","score":0.93,"title":"Gone Girl"},…]}
/// ```
public enum QueryValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([QueryValue])
    case object([String: QueryValue])

    /// Compact JSON with object keys sorted; non-finite numbers become `null`.
    public var jsonText: String {
        var text = ""
        write(into: &text)
        return text
    }

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

    private func write(into text: inout String) {
        switch self {
        case .null: text += "null"
        case .bool(let flag): text += flag ? "true" : "false"
        case .number(let value): text += Self.jsonNumber(value)
        case .string(let string): Self.writeString(string, into: &text)
        case .array(let elements):
            text += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { text += "," }
                element.write(into: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                Self.writeString(key, into: &text)
                text += ":"
                members[key, default: .null].write(into: &text)
            }
            text += "}"
        }
    }

    static func jsonNumber(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }

    static func writeString(_ string: String, into text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{08}": text += "\\b"
            case "\u{0C}": text += "\\f"
            case "\u{2028}": text += "\\u2028"
            case "\u{2029}": text += "\\u2029"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}

extension QueryValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: QueryValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, QueryValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension QueryValue {
    /// An attribute value as JSON: timestamps as ISO 8601 text.
    init(_ attribute: AttributeValue) {
        switch attribute {
        case .string(let text): self = .string(text)
        case .number(let value): self = .number(value)
        case .bool(let flag): self = .bool(flag)
        case .strings(let list): self = .array(list.map { .string($0) })
        case .timestamp(let time): self = .string(time.description)
        }
    }

    /// Attributes as a JSON object.
    init(_ attributes: Attributes) {
        self = .object(attributes.mapValues { QueryValue($0) })
    }
}
