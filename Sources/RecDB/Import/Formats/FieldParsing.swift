import Foundation

/// Conversions from input text to typed values, shared by the import formats. Each throws a message that
/// names the column and the offending text; the caller adds the file and line.
enum FieldParsing {
    struct Invalid: Error {
        var message: String
    }

    static func number(_ text: String, column: String) throws(Invalid) -> Double {
        guard let value = Double(text.trimmedSpaces), value.isFinite else {
            throw Invalid(message: "column '\(column.excerpt(64))' is not a number: '\(text.excerpt(40))'")
        }
        return value
    }

    static func bool(_ text: String, column: String) throws(Invalid) -> Bool {
        switch text.trimmedSpaces.lowercased() {
        case "true", "1", "yes", "y", "t": return true
        case "false", "0", "no", "n", "f": return false
        default: throw Invalid(message: "column '\(column.excerpt(64))' is not a boolean: '\(text.excerpt(40))'")
        }
    }

    /// Unit of numeric times.
    enum TimeUnit: String, Sendable {
        /// Numbers above 10^11 are milliseconds, others seconds; anything else is parsed as ISO 8601.
        case auto
        case seconds = "s"
        case milliseconds = "ms"
        case iso
    }

    static func timestamp(_ text: String, column: String, unit: TimeUnit = .auto) throws(Invalid) -> Timestamp {
        let trimmed = text.trimmedSpaces
        if unit != .iso, let value = Double(trimmed), value.isFinite {
            switch unit {
            case .milliseconds: return Timestamp(milliseconds: Int64(value.rounded()))
            case .seconds: return Timestamp(seconds: value)
            default: return abs(value) >= 1e11 ? Timestamp(milliseconds: Int64(value.rounded())) : Timestamp(seconds: value)
            }
        }
        if unit != .seconds && unit != .milliseconds, let time = Timestamp(parsing: trimmed) { return time }
        throw Invalid(message: "column '\(column.excerpt(64))' is not a time: '\(text.excerpt(40))'")
    }

    static func list(_ text: String, separator: Character) -> [String] {
        text.split(separator: separator).map { $0.trimmedSpaces }.filter { !$0.isEmpty }
    }

    /// A value for a declared attribute type name (`string`, `number`, `bool`, `list`, `time`).
    static func attribute(_ text: String, type: String, column: String, listSeparator: Character) throws(Invalid)
        -> AttributeValue
    {
        switch type {
        case "number": return .number(try number(text, column: column))
        case "bool": return .bool(try bool(text, column: column))
        case "list", "string list": return .strings(list(text, separator: listSeparator))
        case "time", "timestamp": return .timestamp(try timestamp(text, column: column))
        default: return .string(text)
        }
    }
}

/// Finds files of a data set by name in a folder, or takes the file given.
enum DatasetFiles {
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The first file in `folder` whose name matches one of `names` exactly, with or without `.gz`.
    static func find(in folder: String, names: [String]) -> String? {
        for name in names {
            for candidate in [name, name + ".gz"] {
                let path = (folder as NSString).appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: path) { return path }
            }
        }
        return nil
    }

    /// The first file in `folder` whose name ends with one of `suffixes` (with or without `.gz`).
    static func find(in folder: String, suffixes: [String]) -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        for suffix in suffixes {
            if let name = names.first(where: { $0.hasSuffix(suffix) || $0.hasSuffix(suffix + ".gz") }) {
                return (folder as NSString).appendingPathComponent(name)
            }
        }
        return nil
    }

    /// `path` itself when it is a file; when it is a folder, the file `find` picks in it, or a `notFound` error
    /// saying that no `what` is there.
    static func file(at path: String, what: String, find: (String) -> String?) throws -> String {
        try requireExists(path)
        guard isDirectory(path) else { return path }
        guard let file = find(path) else { throw RecDBError(.notFound, "no \(what) here", location: path) }
        return file
    }

    static func requireExists(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw RecDBError(.notFound, "no such file or folder", location: path)
        }
    }
}

extension ImportSink {
    /// Runs `parse` for one row; a parse failure rejects the row with `location`.
    func parseRow(at location: @autoclosure () -> String, _ parse: () throws -> [ImportRecord]) throws {
        let records: [ImportRecord]
        do {
            records = try parse()
        } catch let invalid as FieldParsing.Invalid {
            try reject(at: location(), invalid.message)
            return
        }
        try row(at: location(), records)
    }

    /// Reads every row of `reader` (``forEachRecord(of:next:_:)``).
    func forEachRow(of reader: CSVReader, _ body: ([String]) throws -> Void) throws {
        try forEachRecord(of: reader.lines, next: reader.nextRow, body)
    }

    /// Reads every line of `reader` that is not blank (``forEachRecord(of:next:_:)``); `reader.location` names the
    /// line being handed to `body`.
    func forEachLine(of reader: LineReader, _ body: (String) throws -> Void) throws {
        try forEachRecord(of: reader, next: reader.nextLine) { line in
            if !line.allSatisfy(\.isWhitespace) { try body(line) }
        }
    }

    /// The loop every format reads its input with, one record (a line, a CSV row) at a time from `next`: invalid
    /// UTF-8 rejects that record alone (the import goes on with `--skip-bad`), other read errors (a truncated gzip
    /// stream) stop it, and the fraction of `lines` consumed is the import's progress. The rows `body` hands to the
    /// sink are batched, validated and resumed by the sink (``row(at:_:)``).
    private func forEachRecord<Record>(
        of lines: LineReader, next: () throws -> Record?, _ body: (Record) throws -> Void
    ) throws {
        while true {
            let record: Record?
            do {
                record = try next()
            } catch let error as RecDBError where error.code == .invalidUTF8 {
                try reject(error)
                continue
            }
            guard let record else { break }
            if lines.fileSize > 0 { fraction = Double(lines.bytesRead) / Double(lines.fileSize) }
            try body(record)
        }
    }
}

/// Column lookup by header name.
struct Header {
    let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (position, name) in names.enumerated() where index[name] == nil { index[name] = position }
        self.index = index
    }

    /// The column names for an error message: each and the whole list cut short (a header line can be megabytes).
    static func describe(_ names: [String]) -> String {
        let shown = names.prefix(50).map { $0.excerpt(64) }.joined(separator: ", ")
        return shown.excerpt(600) + (names.count > 50 ? ", … (\(names.count) columns)" : "")
    }

    func require(_ name: String, in path: String) throws -> Int {
        guard let position = index[name] else {
            throw RecDBError(
                .malformedInput, "the header has no column '\(name)' (it has: \(Self.describe(names)))",
                location: "\(path):1")
        }
        return position
    }
}

/// Checks that a row has at least `count` fields.
func requireFields(_ fields: [String], _ count: Int) throws(FieldParsing.Invalid) {
    if fields.count < count {
        throw FieldParsing.Invalid(message: "expected \(count) fields, found \(fields.count) (truncated or malformed row)")
    }
}

extension String {
    /// The text without leading and trailing ASCII spaces and tabs. Much cheaper than Foundation's
    /// `trimmingCharacters(in:)`, and returns `self` unchanged (no copy) in the common case.
    var trimmedSpaces: String {
        let utf8 = self.utf8
        guard let first = utf8.first, let last = utf8.last else { return self }
        if first != 32 && first != 9 && last != 32 && last != 9 { return self }
        var start = utf8.startIndex, end = utf8.endIndex
        while start < end, utf8[start] == 32 || utf8[start] == 9 { start = utf8.index(after: start) }
        while end > start {
            let before = utf8.index(before: end)
            guard utf8[before] == 32 || utf8[before] == 9 else { break }
            end = before
        }
        return String(self[start..<end])
    }
}

extension Substring {
    var trimmedSpaces: String { String(self).trimmedSpaces }
}
