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
            var log = try r.interactionLog(since: options.since?.milliseconds, typeCodes: codes)
            if let split = options.split { log = EvaluationSplit(log, kind: split).train }
            let matrix = InteractionMatrix(log)
            var summary = TrainingExport.Summary(
                folder: folder, events: log.count, interactions: matrix.nonZeros, users: 0, items: 0, files: [],
                lastEventSequence: try r.lastEventSequence(), seconds: 0)
            summary.files = try Self.writeInteractions(matrix, to: scratch, rowsPerFile: options.rowsPerFile, progress)
            var itemUsed = [Bool](repeating: false, count: matrix.columns)
            for item in matrix.indices { itemUsed[Int(item)] = true }
            let users = (0..<matrix.rows).filter { matrix.rowStart[$0 + 1] > matrix.rowStart[$0] }
            let items = itemUsed.indices.filter { itemUsed[$0] }
            summary.users = users.count
            summary.items = items.count
            progress?("writing the id maps of \(users.count) users and \(items.count) items")
            var userNames: [String?] = [], itemNames: [String?] = []
            for user in users { userNames.append(try r.externalUserID(UInt32(user))) }
            for item in items { itemNames.append(try r.externalItemID(UInt32(item))) }
            try Self.writeIDs(zip(users, userNames), column: "user", to: scratch + "/users.jsonl.gz")
            try Self.writeIDs(zip(items, itemNames), column: "item", to: scratch + "/items.jsonl.gz")
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

    private static func writeInteractions(
        _ matrix: InteractionMatrix, to folder: String, rowsPerFile: Int, _ progress: ((String) -> Void)?
    ) throws -> [String] {
        var names: [String] = []
        var writer: GzipFileWriter?
        var rowsInPart = 0
        for user in 0..<matrix.rows {
            let (items, weights) = matrix.row(user)
            for (item, weight) in zip(items, weights) {
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
            }
        }
        try writer?.finish()
        return names
    }

    private static func writeIDs(_ ids: Zip2Sequence<[Int], [String?]>, column: String, to path: String) throws {
        let writer = try GzipFileWriter(path: path)
        for (id, name) in ids {
            guard let name else { continue }
            try writer.writeLine("{\"\(column)\":\(id),\"id\":\(QueryValue.string(name).jsonText)}")
        }
        try writer.finish()
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
