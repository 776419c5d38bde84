/// Reads delimited rows (CSV, TSV, `;`- or `|`-separated) with RFC 4180 quoting: fields in double quotes may hold
/// the delimiter, doubled quotes and line breaks.
public final class CSVReader {
    /// The underlying line reader (line numbers, bytes read, file size for progress).
    public let lines: LineReader
    /// The field separator as an ASCII byte (a non-ASCII delimiter falls back to `,`).
    public let delimiter: UInt8
    /// The line on which the row most recently returned began.
    public private(set) var rowLine = 0

    /// Opens `path` like ``LineReader/init(path:encoding:limits:)``; `delimiter` must be an ASCII character.
    public init(
        path: String, delimiter: Character = ",", encoding: TextEncoding = .utf8, limits: InputLimits = InputLimits()
    ) throws {
        lines = try LineReader(path: path, encoding: encoding, limits: limits)
        self.delimiter = delimiter.asciiValue ?? 44
    }

    /// The file being read.
    public var path: String { lines.path }
    /// `path:line` of the current row, for error messages.
    public var location: String { "\(lines.path):\(rowLine)" }

    /// The next row's fields, or nil at the end. Invalid UTF-8 throws `invalidUTF8`; a quote left open at the end
    /// of the file throws `truncatedInput`.
    public func nextRow() throws -> [String]? {
        guard var text = try lines.nextLine() else { return nil }
        rowLine = lines.lineNumber
        if !text.utf8.contains(34) { return Self.splitPlain(text, delimiter) }
        while true {
            if let fields = Self.splitQuoted(text, delimiter) { return fields }
            guard let more = try lines.nextLine() else {
                throw RecDBError(.truncatedInput, "a quoted field is still open at the end of the file", location: location)
            }
            text += "\n" + more
            if text.utf8.count > lines.limits.maxLineBytes {
                throw RecDBError(
                    .malformedInput,
                    "a quoted field runs over more than \(lines.limits.maxLineBytes) bytes (lines \(rowLine)–"
                        + "\(lines.lineNumber)): a quote is not closed (--max-line-bytes raises the limit)",
                    location: location)
            }
        }
    }

    static func splitPlain(_ text: String, _ delimiter: UInt8) -> [String] {
        var fields: [String] = []
        fields.reserveCapacity(8)
        var utf8 = text
        utf8.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count where bytes[index] == delimiter {
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
                start = index + 1
            }
            fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]), as: UTF8.self))
        }
        return fields
    }

    /// Splits a row with quotes; nil when a quoted field is still open (it continues on the next line).
    static func splitQuoted(_ text: String, _ delimiter: UInt8) -> [String]? {
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var utf8 = text
        let complete: Bool = utf8.withUTF8 { bytes in
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if inQuotes {
                    if byte == 34 {
                        if index + 1 < bytes.count && bytes[index + 1] == 34 {
                            field.append(34)
                            index += 1
                        } else {
                            inQuotes = false
                        }
                    } else {
                        field.append(byte)
                    }
                } else if byte == 34 {
                    inQuotes = true
                } else if byte == delimiter {
                    fields.append(String(decoding: field, as: UTF8.self))
                    field.removeAll(keepingCapacity: true)
                } else {
                    field.append(byte)
                }
                index += 1
            }
            return !inQuotes
        }
        guard complete else { return nil }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }
}
