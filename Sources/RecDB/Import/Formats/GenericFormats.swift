import Foundation

/// What the rows of a generic file describe.
public enum RecordKind: String, Sendable, CaseIterable {
    /// Each row is an item (`id` and attributes), a user (`id` and attributes), or an event (`user`, `item`, `type`,
    /// …).
    case items, users, events
}

/// How the fields of a generic file map to RecDB's, from `--map FIELD=COLUMN[:TYPE]` options.
///
/// Event fields: `user`, `item`, `type`, `value`, `time`, `session`, `text`. Item and user fields: `id`, then any
/// attribute name (well-known item attributes get their fixed types; others take `:number`, `:bool`, `:list`,
/// `:time`, default string). A field not mapped is looked up in a column of the same name (`time` also as
/// `timestamp`); for items and users, columns not used otherwise become string attributes. An empty cell or a JSON
/// `null` is a missing value: it sets nothing.
public struct FieldMap: Sendable {
    /// Whether each row is an item, a user or an event.
    public var kind: RecordKind
    /// field → (column, declared type)
    public var fields: [String: (column: String, type: String?)]
    /// The event type when no `type` column exists.
    public var defaultEventType: String?
    /// How numeric times are read: `auto` (above 10^11 milliseconds, else seconds), `s`, `ms`, or `iso` (ISO 8601 text
    /// only).
    public var timeUnit: String
    /// What separates the values of a `:list` cell (`|` by default).
    public var listSeparator: Character

    /// Parses `--map FIELD=COLUMN[:TYPE]` mappings. Throws `invalidArgument` for a mapping that is not of that shape,
    /// an unknown time unit, or (for events) a field that is not an event field.
    public init(
        kind: RecordKind, mappings: [String], defaultEventType: String? = nil, timeUnit: String = "auto",
        listSeparator: Character = "|"
    ) throws {
        self.kind = kind
        self.defaultEventType = defaultEventType
        guard FieldParsing.TimeUnit(rawValue: timeUnit) != nil else {
            throw RecDBError(.invalidArgument, "time unit must be auto, s, ms or iso, not '\(timeUnit)'")
        }
        self.timeUnit = timeUnit
        self.listSeparator = listSeparator
        var fields: [String: (String, String?)] = [:]
        for mapping in mappings {
            let parts = mapping.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw RecDBError(.invalidArgument, "mapping '\(mapping)' is not FIELD=COLUMN[:TYPE]")
            }
            var column = parts[1]
            var type: String?
            if let colon = column.lastIndex(of: ":"),
                ["string", "number", "bool", "list", "time"].contains(String(column[column.index(after: colon)...]))
            {
                type = String(column[column.index(after: colon)...])
                column = String(column[..<colon])
            }
            fields[parts[0]] = (column, type)
        }
        self.fields = fields
        let allowedEventFields: Set<String> = ["user", "item", "type", "value", "time", "session", "text"]
        if kind == .events, let unknown = fields.keys.first(where: { !allowedEventFields.contains($0) }) {
            throw RecDBError(
                .invalidArgument,
                "'\(unknown)' is not an event field (use: \(allowedEventFields.sorted().joined(separator: ", ")))")
        }
    }

    /// The mapping as text, part of the ``ImportFormat/signature`` of the generic formats.
    var signature: String {
        let mapped = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.column):\($0.value.type ?? "")" }
        return "kind=\(kind.rawValue) map=[\(mapped.joined(separator: ","))] type=\(defaultEventType ?? "") "
            + "time-unit=\(timeUnit) list-separator=\(listSeparator)"
    }

    func column(for field: String, alternatives: [String] = []) -> String {
        fields[field]?.column ?? ([field] + alternatives).first ?? field
    }

    /// Builds the records of one row from a lookup of column values (strings, or JSON values for JSON Lines).
    func records(columns: [String], value: (String) -> Any?) throws(FieldParsing.Invalid) -> [ImportRecord] {
        func text(_ field: String, alternatives: [String] = [], required: Bool) throws(FieldParsing.Invalid) -> String? {
            var names = [column(for: field)]
            if fields[field] == nil { names += alternatives }
            for name in names {
                if let raw = value(name), !(raw is NSNull) {
                    let string = Self.string(raw)
                    if !string.isEmpty { return string }
                }
            }
            if required { throw FieldParsing.Invalid(message: "missing '\(names[0])'") }
            return nil
        }
        let unit = FieldParsing.TimeUnit(rawValue: timeUnit) ?? .auto
        switch kind {
        case .events:
            let user = try text("user", alternatives: ["user_id", "userId"], required: true)!
            let item = try text("item", alternatives: ["item_id", "itemId"], required: true)!
            guard let type = try text("type", alternatives: ["event"], required: defaultEventType == nil) ?? defaultEventType
            else { throw FieldParsing.Invalid(message: "missing event type") }
            let value = try text("value", required: false).map { text throws(FieldParsing.Invalid) in
                try FieldParsing.number(text, column: column(for: "value"))
            }
            let time = try text("time", alternatives: ["timestamp"], required: false).map { text throws(FieldParsing.Invalid) in
                try FieldParsing.timestamp(text, column: column(for: "time"), unit: unit)
            }
            return [
                .event(
                    EventInput(
                        user: user, item: item, type: type, value: value ?? 1, timestamp: time ?? .now,
                        session: try text("session", required: false), text: try text("text", required: false)))
            ]
        case .items, .users:
            let idColumn = column(for: "id")
            let id = try text("id", alternatives: kind == .items ? ["item_id", "item"] : ["user_id", "user"], required: true)!
            var attributes: Attributes = [:]
            var used: Set<String> = [idColumn]
            for (field, mapping) in fields where field != "id" {
                used.insert(mapping.column)
                guard let raw = value(mapping.column), !(raw is NSNull) else { continue }
                // An empty cell is a missing value, as in unmapped columns and event fields.
                if let text = raw as? String, text.isEmpty { continue }
                attributes[field] = try attribute(field: field, raw: raw, declared: mapping.type, column: mapping.column)
            }
            for name in columns where !used.contains(name) && !["item_id", "item", "user_id", "user"].contains(name) {
                guard let raw = value(name), !(raw is NSNull) else { continue }
                if Self.string(raw).isEmpty && !(raw is [Any]) { continue }
                attributes[name] = try attribute(field: name, raw: raw, declared: nil, column: name)
            }
            return kind == .items ? [.item(id: id, attributes: attributes)] : [.user(id: id, attributes: attributes)]
        }
    }

    private func attribute(field: String, raw: Any, declared: String?, column: String) throws(FieldParsing.Invalid)
        -> AttributeValue
    {
        let wellKnown = kind == .items ? WellKnownAttribute.itemTypes[field] : nil
        let type = declared ?? wellKnown.map { $0 == "string list" ? "list" : $0 == "timestamp" ? "time" : $0 }
        if let list = raw as? [Any] { return .strings(list.map(Self.string)) }
        if let flag = Self.jsonBool(raw), type == nil || type == "bool" { return .bool(flag) }
        if let number = raw as? Double, type == nil || type == "number" { return .number(number) }
        if let number = raw as? Int, type == nil || type == "number" { return .number(Double(number)) }
        return try FieldParsing.attribute(Self.string(raw), type: type ?? "string", column: column, listSeparator: listSeparator)
    }

    static func string(_ raw: Any) -> String {
        if let flag = jsonBool(raw) { return String(flag) }
        switch raw {
        case let text as String: return text
        case let number as Int: return String(number)
        case let number as Double:
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        default: return "\(raw)"
        }
    }

    /// A JSON `true` or `false`, or nil for anything else. `JSONSerialization` hands out booleans and numbers alike
    /// as `NSNumber`s, and the numbers 0 and 1 cast to `Bool` too; only booleans have the `char` type code.
    static func jsonBool(_ raw: Any) -> Bool? {
        if let number = raw as? NSNumber { return String(cString: number.objCType) == "c" ? number.boolValue : nil }
        return raw as? Bool
    }
}

/// A delimited text file (CSV, TSV, …) with a header row, mapped by ``FieldMap``.
public struct DelimitedFormat: ImportFormat {
    /// `csv`, whatever the delimiter.
    public let name = "csv"
    /// The file to read (plain or gzip).
    public let path: String
    /// The field separator (`,`, `\t`, `;`, `|`).
    public let delimiter: Character
    /// How the header's columns map to records.
    public let map: FieldMap
    /// The name, the delimiter and the mapping: a re-run with another mapping imports the file again.
    public var signature: String { "\(name) delimiter=\(delimiter) \(map.signature)" }

    /// Describes the import; throws `notFound` when `path` does not exist.
    public init(path: String, delimiter: Character = ",", map: FieldMap) throws {
        try DatasetFiles.requireExists(path)
        self.path = path
        self.delimiter = delimiter
        self.map = map
    }

    /// Reads the header row, checks that every mapped column is in it, then each row; a row with another number of
    /// fields than the header is rejected.
    public func read(into sink: ImportSink) throws {
        let reader = try sink.openCSV(path, delimiter: delimiter)
        guard let names = try reader.nextRow() else { throw RecDBError(.truncatedInput, "the file is empty", location: path) }
        let header = Header(names.map { $0.trimmedSpaces })
        for (field, mapping) in map.fields where header.index[mapping.column] == nil {
            throw RecDBError(
                .malformedInput,
                "--map \(field)=\(mapping.column): the header has no such column (it has: \(Header.describe(names)))",
                location: "\(path):1")
        }
        try sink.forEachRow(of: reader) { fields in
            try sink.parseRow(at: reader.location) {
                guard fields.count == names.count else {
                    throw FieldParsing.Invalid(
                        message: "expected \(names.count) fields as in the header, found \(fields.count) (truncated or malformed row)")
                }
                return try map.records(columns: header.names) { column in header.index[column].map { fields[$0] } }
            }
        }
    }
}

/// JSON Lines: one JSON object per line, mapped by ``FieldMap`` over its top-level keys.
public struct JSONLinesFormat: ImportFormat {
    /// `jsonl`: the name `recctl import` and ``ImportFormats`` know the format by.
    public let name = "jsonl"
    /// The file to read (plain or gzip).
    public let path: String
    /// How the objects' top-level keys map to records.
    public let map: FieldMap
    /// The name and the mapping: a re-run with another mapping imports the file again.
    public var signature: String { "\(name) \(map.signature)" }

    /// Describes the import; throws `notFound` when `path` does not exist.
    public init(path: String, map: FieldMap) throws {
        try DatasetFiles.requireExists(path)
        self.path = path
        self.map = map
    }

    /// Reads one object per line; a line that is not a JSON object, or not valid UTF-8, is rejected alone.
    public func read(into sink: ImportSink) throws {
        let reader = try sink.openLines(path)
        try sink.forEachLine(of: reader) { line in
            let location = reader.location
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                try sink.reject(at: location, "not a JSON object (malformed or truncated line)")
                return
            }
            try sink.parseRow(at: location) {
                try map.records(columns: Array(object.keys).sorted()) { object[$0] }
            }
        }
    }
}

/// The import formats by name.
public enum ImportFormats {
    /// Names accepted by `recctl import`.
    public static let names = [
        "movielens", "online-retail", "yoochoose", "retailrocket", "amazon", "diginetica", "sequences", "csv", "tsv",
        "jsonl",
    ]

    /// Makes the named format over `path`. Generic formats (`csv`, `tsv`, `jsonl`) need `map`; `eventType` is the
    /// type of every event of the `sequences` format (default `purchase`).
    public static func make(
        name: String, path: String, map: FieldMap? = nil, delimiter: Character? = nil, eventType: String? = nil
    ) throws -> any ImportFormat {
        switch name.lowercased() {
        case "movielens", "ml": return try MovieLensFormat(path: path)
        case "online-retail", "onlineretail", "uci-online-retail": return try OnlineRetailFormat(path: path)
        case "yoochoose", "rsc15": return try YoochooseFormat(path: path)
        case "retailrocket": return try RetailRocketFormat(path: path)
        case "amazon", "lcrec": return try AmazonFormat(path: path)
        case "diginetica": return try DigineticaFormat(path: path)
        case "sequences", "s3rec": return try SequenceFormat(path: path, eventType: eventType ?? "purchase")
        case "csv", "tsv", "jsonl":
            guard let map else {
                throw RecDBError(.invalidArgument, "format '\(name)' needs --kind items|users|events (and --map where names differ)")
            }
            if name == "jsonl" { return try JSONLinesFormat(path: path, map: map) }
            return try DelimitedFormat(path: path, delimiter: delimiter ?? (name == "tsv" ? "\t" : ","), map: map)
        default:
            throw RecDBError(.unknownFormat, "unknown import format '\(name)' (known: \(names.joined(separator: ", ")))")
        }
    }
}
