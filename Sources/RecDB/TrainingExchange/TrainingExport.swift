import Foundation

/// The training snapshot `recctl export events` writes for an external trainer (Apache Spark): the user × item
/// matrix of summed event weights that RecDB's own ALS trains on, as gzip-compressed CSV parts, with the id maps
/// and a `schema.json` that describes every file (`Schemas/training-export.md`).
///
/// ```swift
/// let summary = try db.exportTrainingSnapshot(to: "export", options: .init(types: ["purchase"]))
/// ```
public enum TrainingExport {
    /// The `format` field of `schema.json`.
    public static let formatName = "recdb-training-export"
    /// The `version` field of `schema.json`; readers refuse a higher one.
    public static let version = 1

    /// What to export.
    public struct Options: Sendable {
        /// Only events at or after this time (nil: all).
        public var since: Timestamp?
        /// Only events of these types (nil: all); an unknown name is an error.
        public var types: [String]?
        /// Only the training part of this evaluation split, so that factors trained outside can be scored by
        /// `recctl eval --stored` on exactly the split RecDB's own models train on (nil: every event).
        public var split: EvaluationSplit.Kind?
        /// Interaction rows per CSV part (default 1,000,000): Spark reads parts in parallel.
        public var rowsPerFile = 1_000_000

        /// Every event of every type, 1,000,000 rows per part.
        public init(since: Timestamp? = nil, types: [String]? = nil, split: EvaluationSplit.Kind? = nil) {
            self.since = since
            self.types = types
            self.split = split
        }
    }

    /// What an export wrote.
    public struct Summary: Sendable {
        /// The export folder.
        public var folder: String
        /// Events in the snapshot after the filters (before summing per user and item).
        public var events: Int
        /// Rows of the interaction files: (user, item) pairs with a positive summed weight.
        public var interactions: Int
        /// Users and items with at least one row.
        public var users: Int, items: Int
        /// The interaction parts, relative to the folder.
        public var files: [String]
        /// The newest event sequence in the snapshot: an imported model folds in users with later events.
        public var lastEventSequence: UInt64
        /// Wall-clock seconds of the whole export.
        public var seconds: Double
    }
}

extension RecDatabase {
    /// Writes the training snapshot of one read transaction to `folder` (``TrainingExport``): `interactions/part-*.csv.gz`
    /// (`user,item,weight`: dense internal ids and the summed weight, pairs summing to zero or less left out — the
    /// matrix ``ALSModel`` trains on), `users.jsonl.gz` and `items.jsonl.gz` (`{"user":7,"id":"u42"}`), and
    /// `schema.json`. The files go to `folder.partial` first, renamed to `folder` once complete; `folder` must not
    /// exist. `progress` gets a line per part.
    public func exportTrainingSnapshot(
        to folder: String, options: TrainingExport.Options = TrainingExport.Options(),
        progress: ((String) -> Void)? = nil
    ) throws -> TrainingExport.Summary {
        let started = Date()
        let files = FileManager.default
        guard !files.fileExists(atPath: folder) else {
            throw RecDBError(.alreadyExists, "the export folder exists; remove it or choose another", location: folder)
        }
        guard options.rowsPerFile > 0 else {
            throw RecDBError(.invalidArgument, "rows per file must be positive, not \(options.rowsPerFile)")
        }
        let scratch = folder + ".partial"
        try? files.removeItem(atPath: scratch)
        do {
            try files.createDirectory(atPath: scratch + "/interactions", withIntermediateDirectories: true)
        } catch {
            throw RecDBError(.io, "cannot create the export folder: \(error.localizedDescription)", location: scratch)
        }
        progress?("reading the snapshot")
        var summary = try read { r -> TrainingExport.Summary in
            let codes = try Self.typeCodes(options.types, in: r.eventTypes)
            var summary = TrainingExport.Summary(
                folder: folder, events: 0, interactions: 0, users: 0, items: 0, files: [],
                lastEventSequence: try r.lastEventSequence(), seconds: 0)
            var parts = InteractionParts(folder: scratch, rowsPerFile: options.rowsPerFile, progress: progress)
            let userIDs = try GzipFileWriter(path: scratch + "/users.jsonl.gz")
            var itemUsed: [Bool] = []
            /// One user's rows: written to the current part, the user (external id `name`) to the id map.
            func add(user: UInt32, name: String?, items: ArraySlice<UInt32>, weights: ArraySlice<Float>) throws {
                guard !items.isEmpty else { return }
                for (item, weight) in zip(items, weights) {
                    try parts.append(user: user, item: item, weight: weight)
                    if Int(item) >= itemUsed.count { itemUsed += [Bool](repeating: false, count: Int(item) + 1 - itemUsed.count) }
                    itemUsed[Int(item)] = true
                }
                summary.users += 1
                if let name { try userIDs.writeLine(Self.idLine(Int(user), name, "user")) }
            }
            if let split = options.split {
                // A split needs every event at once (a temporal split's cut is global): the matrix in memory.
                let log = EvaluationSplit(try r.interactionLog(since: options.since?.milliseconds, typeCodes: codes), kind: split).train
                summary.events = log.count
                let matrix = InteractionMatrix(log)
                for user in 0..<matrix.rows {
                    let (items, weights) = matrix.row(user)
                    guard !items.isEmpty else { continue }
                    try add(user: UInt32(user), name: try r.externalUserID(UInt32(user)), items: items, weights: weights)
                }
            } else {
                // Streamed: one user's events at a time from the history index (memory: one user's items and a
                // flag per item), summed per item in time order exactly as the in-memory matrix sums them.
                try r.forEachUserInteractions(since: options.since?.milliseconds, typeCodes: codes) { user, row in
                    summary.events += row.events
                    try add(user: user, name: row.externalID, items: row.items[...], weights: row.weights[...])
                }
            }
            summary.files = try parts.finish()
            summary.interactions = parts.rows
            let items = itemUsed.indices.filter { itemUsed[$0] }
            summary.items = items.count
            progress?("writing the id maps of \(summary.users) users and \(items.count) items")
            try userIDs.finish()
            let itemIDs = try GzipFileWriter(path: scratch + "/items.jsonl.gz")
            for item in items {
                if let name = try r.externalItemID(UInt32(item)) { try itemIDs.writeLine(Self.idLine(item, name, "item")) }
            }
            try itemIDs.finish()
            try Self.writeSchema(summary, options: options, types: r.eventTypes.all, to: scratch + "/schema.json")
            return summary
        }
        do {
            try files.moveItem(atPath: scratch, toPath: folder)
        } catch {
            throw RecDBError(.io, "cannot rename the finished export: \(error.localizedDescription)", location: scratch)
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    /// The codes of the named event types; nil for all. Unknown names are an error listing the known ones.
    private static func typeCodes(_ names: [String]?, in table: EventTypeTable) throws -> Set<UInt16>? {
        guard let names else { return nil }
        var codes = Set<UInt16>()
        for name in names {
            guard let (code, _) = table.named(name) else {
                let known = table.all.map(\.name).joined(separator: ", ")
                throw RecDBError(.invalidArgument, "unknown event type '\(name)' (this database has: \(known))")
            }
            codes.insert(code)
        }
        return codes
    }

    /// One line of an id map: `{"user":7,"id":"u42"}`.
    private static func idLine(_ id: Int, _ name: String, _ column: String) -> String {
        "{\"\(column)\":\(id),\"id\":\(QueryValue.string(name).jsonText)}"
    }

    private static func writeSchema(
        _ summary: TrainingExport.Summary, options: TrainingExport.Options, types: [EventType], to path: String
    ) throws {
        let defaults = ALSModel.Parameters()
        var object: [String: Any] = [
            "format": TrainingExport.formatName, "version": TrainingExport.version,
            "created_at": Timestamp.now.description, "last_event_sequence": summary.lastEventSequence,
            "events": summary.events, "interactions": summary.interactions, "users": summary.users,
            "items": summary.items,
            "files": ["interactions": summary.files, "users": "users.jsonl.gz", "items": "items.jsonl.gz"],
            "columns": [
                "interactions": [
                    ["name": "user", "type": "int32", "about": "dense internal user id"],
                    ["name": "item", "type": "int32", "about": "dense internal item id"],
                    ["name": "weight", "type": "float", "about": "summed event-type weights of the pair, > 0"],
                ],
                "users": [["name": "user", "type": "int32"], ["name": "id", "type": "string"]],
                "items": [["name": "item", "type": "int32"], ["name": "id", "type": "string"]],
            ],
            "event_types": types.map { type -> [String: Any] in
                ["name": type.name, "weight": type.usesValue ? "value" as Any : type.weight as Any]
            },
            "als_defaults": [
                "factors": defaults.factors, "regularization": Double(defaults.regularization.description) ?? 0,
                "alpha": Double(defaults.alpha), "iterations": defaults.iterations,
            ],
        ]
        if let since = options.since { object["since"] = since.description }
        if let types = options.types { object["types"] = types }
        if let split = options.split { object["split"] = split.rawValue }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw RecDBError(.io, "cannot write the schema file", location: path)
        }
    }
}

/// The interaction parts of an export: `interactions/part-NNNNN.csv.gz`, a new part every `rowsPerFile` rows.
private struct InteractionParts {
    let folder: String
    let rowsPerFile: Int
    let progress: ((String) -> Void)?
    private(set) var names: [String] = []
    /// Rows written over all parts.
    private(set) var rows = 0
    private var writer: GzipFileWriter?
    private var rowsInPart = 0

    init(folder: String, rowsPerFile: Int, progress: ((String) -> Void)?) {
        self.folder = folder
        self.rowsPerFile = rowsPerFile
        self.progress = progress
    }

    mutating func append(user: UInt32, item: UInt32, weight: Float) throws {
        if writer == nil || rowsInPart == rowsPerFile {
            try writer?.finish()
            let name = String(format: "interactions/part-%05d.csv.gz", names.count)
            names.append(name)
            progress?("writing \(name)")
            writer = try GzipFileWriter(path: folder + "/" + name)
            try writer?.writeLine("user,item,weight")
            rowsInPart = 0
        }
        try writer?.writeLine("\(user),\(item),\(weight)")
        rowsInPart += 1
        rows += 1
    }

    /// Finishes the last part; the parts' names, relative to the folder.
    mutating func finish() throws -> [String] {
        try writer?.finish()
        writer = nil
        return names
    }
}
