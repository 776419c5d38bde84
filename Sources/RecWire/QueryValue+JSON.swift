/// Reading JSON text into a ``QueryValue``: the wire protocol's request envelopes and their parameters.
extension QueryValue {
    /// Parses one JSON value (RFC 8259) from UTF-8 bytes: objects, arrays, strings (with every escape, surrogate
    /// pairs included), numbers (as `Double`), `true`, `false`, `null`. Nesting deeper than `maxDepth` and trailing
    /// bytes other than white space are errors. Throws ``RecDBError/Code/malformedInput`` naming the byte offset.
    public init(jsonBytes: some Collection<UInt8>, maxDepth: Int = 64) throws {
        let bytes = Array(jsonBytes)
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipSpace()
        self = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw parser.error("unexpected text after the JSON value") }
    }
}

/// A recursive-descent JSON reader over a byte array.
private struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var offset = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func error(_ message: String) -> RecDBError {
        RecDBError(.malformedInput, "\(message) at byte \(offset)", position: offset)
    }

    mutating func skipSpace() {
        while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
    }

    mutating func value(depth: Int) throws -> QueryValue {
        guard depth <= maxDepth else { throw error("JSON nested deeper than \(maxDepth) levels") }
        guard offset < bytes.count else { throw error("the JSON text ends where a value was expected") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("expected a JSON value")
        }
    }

    mutating func literal(_ word: String, _ value: QueryValue) throws -> QueryValue {
        let utf8 = Array(word.utf8)
        guard offset + utf8.count <= bytes.count, Array(bytes[offset..<offset + utf8.count]) == utf8 else {
            throw error("expected \(word)")
        }
        offset += utf8.count
        return value
    }

    mutating func object(depth: Int) throws -> QueryValue {
        offset += 1
        var members: [String: QueryValue] = [:]
        skipSpace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            skipSpace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw error("expected ':'") }
            offset += 1
            skipSpace()
            members[key] = try value(depth: depth + 1)
            skipSpace()
            guard offset < bytes.count else { throw error("the JSON object is not closed") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            guard bytes[offset] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            offset += 1
            return .object(members)
        }
    }

    mutating func array(depth: Int) throws -> QueryValue {
        offset += 1
        var elements: [QueryValue] = []
        skipSpace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            skipSpace()
            elements.append(try value(depth: depth + 1))
            skipSpace()
            guard offset < bytes.count else { throw error("the JSON array is not closed") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            guard bytes[offset] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            offset += 1
            return .array(elements)
        }
    }

    mutating func string() throws -> String {
        offset += 1
        var utf8: [UInt8] = []
        var runStart = offset
        while true {
            guard offset < bytes.count else { throw error("the JSON string is not closed") }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                utf8 += bytes[runStart..<offset]
                offset += 1
                break
            }
            if byte < 0x20 { throw error("a control character must be escaped in a JSON string") }
            if byte != UInt8(ascii: "\\") {
                offset += 1
                continue
            }
            utf8 += bytes[runStart..<offset]
            offset += 1
            guard offset < bytes.count else { throw error("the JSON string ends in an escape") }
            let escaped = bytes[offset]
            offset += 1
            switch escaped {
            case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): utf8.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
                    else { throw error("a high surrogate must be followed by a low one") }
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("a high surrogate must be followed by a low one") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("a low surrogate without a high one")
                }
                utf8 += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw error("'\\\(Character(Unicode.Scalar(escaped)))' is not a JSON escape")
            }
            runStart = offset
        }
        guard let text = String(validating: utf8, as: UTF8.self) else { throw error("the JSON string is not valid UTF-8") }
        return text
    }

    mutating func hex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("\\u needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("\\u needs four hex digits")
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    mutating func number() throws -> Double {
        let start = offset
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        func digits() -> Int {
            let first = offset
            while offset < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) { offset += 1 }
            return offset - first
        }
        guard offset < bytes.count else { throw error("a number needs digits") }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
        } else if digits() == 0 {
            throw error("a number needs digits")
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw error("a fraction needs digits") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw error("an exponent needs digits") }
        }
        guard let value = Double(String(decoding: bytes[start..<offset], as: UTF8.self)), value.isFinite else {
            throw error("the number is out of range")
        }
        return value
    }
}
