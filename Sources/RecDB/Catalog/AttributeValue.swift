import Foundation

/// A typed attribute of an item or a user.
public enum AttributeValue: Hashable, Sendable, CustomStringConvertible {
    /// Text, compared as text by filters; `category` is a `/` path, `title`, `description` and `brand` are read as
    /// words.
    case string(String)
    /// A number; always finite (writes of NaN or infinity are refused).
    case number(Double)
    /// `true` or `false`; `available` is the one item attribute of this type with a meaning.
    case bool(Bool)
    /// A list of strings (`tags`); filters test membership with `CONTAINS`.
    case strings([String])
    /// A point in time (`created_at`), compared as a number by filters.
    case timestamp(Timestamp)

    /// The type's name as shown to people and in errors.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .number: "number"
        case .bool: "bool"
        case .strings: "string list"
        case .timestamp: "timestamp"
        }
    }

    /// The value as people read it: text as is, whole numbers without `.0`, lists as `[a, b]`, timestamps in ISO 8601.
    public var description: String {
        switch self {
        case .string(let text): text
        case .number(let value):
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .bool(let value): String(value)
        case .strings(let values): "[" + values.joined(separator: ", ") + "]"
        case .timestamp(let time): time.description
        }
    }

    /// The value as JSON-compatible Foundation objects, for `--json` output.
    public var jsonObject: Any {
        switch self {
        case .string(let text): text
        case .number(let value): value
        case .bool(let value): value
        case .strings(let values): values
        case .timestamp(let time): time.description
        }
    }
}

/// Attributes by name.
public typealias Attributes = [String: AttributeValue]

/// The attribute names RecDB knows the meaning of, with the type each must have.
public enum WellKnownAttribute {
    /// Item fields with a fixed type; `category` and `tags` also feed the posting lists used by filters.
    public static let itemTypes: [String: String] = [
        "title": "string", "description": "string", "brand": "string", "category": "string",
        "tags": "string list", "price": "number", "available": "bool", "created_at": "timestamp",
    ]

    /// Checks names and types; rejects non-finite numbers and malformed category paths.
    static func validate(_ attributes: Attributes, forItem: Bool, owner: String) throws {
        for (name, value) in attributes {
            try CatalogLimits.check(name, .attributeName, location: owner)
            if case .number(let number) = value, !number.isFinite {
                throw RecDBError(.invalidArgument, "attribute '\(name)' is \(number); numbers must be finite", location: owner)
            }
            if forItem, let expected = itemTypes[name], expected != value.typeName {
                throw RecDBError(
                    .invalidArgument, "attribute '\(name)' must be a \(expected), not a \(value.typeName)", location: owner)
            }
        }
        guard forItem else { return }
        if case .string(let path)? = attributes["category"] {
            // Each prefix of the path is a key of the category postings; the longest is the whole path.
            if let whole = categoryPrefixes(path).last {
                try CatalogLimits.check(whole, .category, location: owner)
            } else if !path.isEmpty {
                throw RecDBError(
                    .invalidArgument, "category '\(path.excerpt(40))' has no non-empty segment", location: owner)
            }
        }
        if case .strings(let tags)? = attributes["tags"] {
            for tag in tags { try CatalogLimits.check(tag, .tag, location: owner) }
        }
    }

    /// `Books/Thriller/Nordic` → `["Books", "Books/Thriller", "Books/Thriller/Nordic"]`, segments trimmed.
    public static func categoryPrefixes(_ path: String) -> [String] {
        let segments = path.split(separator: "/").map { $0.trimmedSpaces }.filter { !$0.isEmpty }
        var prefixes: [String] = []
        var current = ""
        for segment in segments {
            current = current.isEmpty ? segment : current + "/" + segment
            prefixes.append(current)
        }
        return prefixes
    }
}

// MARK: - Encoding

extension Attributes {
    /// Binary form: count, then per attribute (sorted by name) its name, a type tag and the payload.
    func encoded(into writer: inout BinaryWriter) {
        writer.write(UInt16(count))
        for (name, value) in sorted(by: { $0.key < $1.key }) {
            writer.write(name)
            switch value {
            case .string(let text):
                writer.write(UInt8(1))
                writer.write(text)
            case .number(let number):
                writer.write(UInt8(2))
                writer.write(number)
            case .bool(let flag):
                writer.write(UInt8(3))
                writer.write(UInt8(flag ? 1 : 0))
            case .strings(let list):
                writer.write(UInt8(4))
                writer.write(UInt32(list.count))
                for element in list { writer.write(element) }
            case .timestamp(let time):
                writer.write(UInt8(5))
                writer.write(time.milliseconds)
            }
        }
    }

    /// The string attribute `name` of an encoded attribute list (nil when absent or of another type), stepping over
    /// the others without decoding them: what a result page reads for each item's title.
    static func string(named name: String, from reader: inout BinaryReader) throws -> String? {
        let count = Int(try reader.readUInt16())
        for _ in 0..<count {
            let matches = try reader.readStringBytes().elementsEqual(name.utf8)
            let tag = try reader.readUInt8()
            switch tag {
            case 1:
                let value = try reader.readStringBytes()
                if matches { return try StringCodec.decode(value) }
            case 2, 5: try reader.skip(8)
            case 3: try reader.skip(1)
            case 4:
                let n = try reader.readCount(elementSize: 4, "the string list '\(name)'")
                for _ in 0..<n { _ = try reader.readStringBytes() }
            default: throw RecDBError(.corrupted, "unknown attribute type tag \(tag)")
            }
            if matches { return nil }
        }
        return nil
    }

    static func decode(from reader: inout BinaryReader) throws -> Attributes {
        let count = Int(try reader.readUInt16())
        var attributes = Attributes(minimumCapacity: count)
        for _ in 0..<count {
            let name = try reader.readString()
            let tag = try reader.readUInt8()
            switch tag {
            case 1: attributes[name] = .string(try reader.readString())
            case 2: attributes[name] = .number(try reader.readDouble())
            case 3: attributes[name] = .bool(try reader.readUInt8() != 0)
            case 4:
                let n = Int(try reader.readUInt32())
                var list: [String] = []
                list.reserveCapacity(n)
                for _ in 0..<n { list.append(try reader.readString()) }
                attributes[name] = .strings(list)
            case 5: attributes[name] = .timestamp(Timestamp(milliseconds: try reader.readInt64()))
            default: throw RecDBError(.corrupted, "unknown attribute type tag \(tag) for '\(name)'")
            }
        }
        return attributes
    }
}
