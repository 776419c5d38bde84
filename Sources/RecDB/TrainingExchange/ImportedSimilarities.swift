import Foundation

/// One folder of Spark's JSON output (`DataFrame.write.json`): `part-*` files of one JSON object per line, plain or
/// gzip, and the `_SUCCESS` marker Spark writes last. The walk ``ImportedFactors`` and ``ImportedSimilarities`` share.
enum SparkJSONOutput {
    /// Where a row was read: index into the part files (sorted by name) and line number from 1.
    typealias Origin = (file: Int32, line: Int32)

    /// Calls `body` with each non-blank line's JSON value, its origin and its `file:line`, part files in name order;
    /// returns the part files' paths. A folder without `_SUCCESS` is `truncatedInput`, a line that is not JSON
    /// `malformedInput`, both naming where.
    @discardableResult
    static func forEachRow(
        in folder: String, _ body: (_ row: QueryValue, _ origin: Origin, _ location: String) throws -> Void
    ) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw RecDBError(.notFound, "the folder cannot be read: \(error.localizedDescription)", location: folder)
        }
        guard names.contains("_SUCCESS") else {
            throw RecDBError(
                .truncatedInput, "no _SUCCESS marker: the Spark job did not finish writing this folder", location: folder)
        }
        var files: [String] = []
        for name in names.filter({ $0.hasPrefix("part-") }).sorted() {
            let path = folder + "/" + name
            files.append(path)
            let reader = try LineReader(path: path)
            while let line = try reader.nextLine() {
                let location = reader.location
                if line.allSatisfy(\.isWhitespace) { continue }
                let row: QueryValue
                do {
                    row = try QueryValue(jsonBytes: Array(line.utf8))
                } catch let error as RecDBError {
                    throw RecDBError(.malformedInput, error.message, location: location)
                }
                try body(row, (Int32(files.count - 1), Int32(clamping: reader.lineNumber)), location)
            }
        }
        return files
    }
}

/// Item similarities computed outside RecDB, as `spark/train_als.py --similar-items K` writes them beside the ALS
/// factors: `item_similarities/` (Spark JSON output, `{"id":"i42","similar":[{"id":"i7","score":0.93},…]}` per
/// item, most similar first) and the folder's `model.json` (training time, the export's snapshot).
///
/// Reading checks every line — an `id` string, a `similar` array of objects with a string `id` and a finite
/// `score`, no item twice — and names the file and line of a fault. Installed as the next generation of an
/// item-kNN model (``RecDatabase/importSimilarities(_:progress:)``), served like RecDB's own neighbour lists.
public struct ImportedSimilarities: Sendable {
    /// One item's row: its id and its neighbours' ids and scores, as read.
    struct Row: Sendable {
        var id: String
        var similar: [(id: String, score: Float)]
        var origin: SparkJSONOutput.Origin
    }

    /// The most neighbours any item has (the job's `K`): the model's `neighbours` parameter.
    public var neighbours: Int
    /// Wall-clock seconds the external training took (`training_seconds` of `model.json`; 0 without one).
    public var trainingSeconds: Double
    /// Events the trainer read, when given.
    public var events: Int?
    /// The newest event of the exported snapshot, when given.
    public var lastEventSequence: UInt64?
    var rows: [Row]
    var files: [String]

    /// Items with a row.
    public var itemCount: Int { rows.count }
    /// Neighbour entries over all rows.
    public var pairCount: Int { rows.reduce(0) { $0 + $1.similar.count } }

    /// Reads and checks `folder/item_similarities` and `folder/model.json` (optional: a folder holding only the
    /// similarities is accepted, with no training time).
    public static func read(from folder: String) throws -> ImportedSimilarities {
        var meta: QueryValue = .object([:])
        let metaPath = folder + "/model.json"
        if let data = FileManager.default.contents(atPath: metaPath) {
            meta = try QueryValue(jsonBytes: Array(data))
        }
        let path = folder + "/item_similarities"
        guard FileManager.default.fileExists(atPath: path) else {
            throw RecDBError(
                .notFound, "no item_similarities folder: run spark/train_als.py with --similar-items K", location: path)
        }
        var rows: [Row] = []
        var seen = Set<String>()
        let files = try SparkJSONOutput.forEachRow(in: path) { row, origin, location in
            guard let id = row["id"]?.stringValue else {
                throw RecDBError(.malformedInput, "the row has no string 'id'", location: location)
            }
            guard let similar = row["similar"]?.arrayValue else {
                throw RecDBError(.malformedInput, "the row of '\(id)' has no 'similar' array", location: location)
            }
            var list: [(id: String, score: Float)] = []
            for entry in similar {
                guard let other = entry["id"]?.stringValue, let score = entry["score"]?.numberValue, score.isFinite,
                    abs(score) <= Double(Float.greatestFiniteMagnitude)
                else {
                    throw RecDBError(
                        .malformedInput, "a neighbour of '\(id)' needs a string 'id' and a finite 'score'",
                        location: location)
                }
                list.append((other, Float(score)))
            }
            guard seen.insert(id).inserted else {
                throw RecDBError(.malformedInput, "'\(id)' has a second row", location: location)
            }
            rows.append(Row(id: id, similar: list, origin: origin))
        }
        return ImportedSimilarities(
            neighbours: max(1, rows.map(\.similar.count).max() ?? 1),
            trainingSeconds: meta["training_seconds"]?.numberValue ?? 0,
            events: meta["events"]?.numberValue.flatMap { $0 >= 0 && $0 < 9e15 ? Int($0) : nil },
            lastEventSequence: meta["last_event_sequence"]?.numberValue.flatMap { $0 >= 0 && $0 < 9e15 ? UInt64($0) : nil },
            rows: rows, files: files)
    }

    /// The similarities as an ``ItemKNNModel`` over the catalog's internal ids: each list sorted most similar first
    /// (ties by lower id). An id the catalog does not know is `notFound`, naming the file and line.
    func model<Reader: CatalogReading & ~Copyable>(named name: String, resolvingIn reader: borrowing Reader) throws
        -> ItemKNNModel
    {
        let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: reader.handle, meta: reader.schema.meta)
        var lists = [[(item: UInt32, similarity: Float)]](repeating: [], count: itemLimit)
        for row in rows {
            var nodes: [UInt32] = []
            for id in [row.id] + row.similar.map(\.id) {
                guard let node = try reader.itemID(for: id), Int(node) < itemLimit else {
                    throw RecDBError(
                        .notFound, "unknown item '\(id)': not in this database (exported from another one?)",
                        location: "\(files[Int(row.origin.file)]):\(row.origin.line)")
                }
                nodes.append(node)
            }
            let node = nodes[0]
            var list = zip(nodes.dropFirst(), row.similar).map { (item: $0, similarity: $1.score) }
            list.sort { $0.similarity > $1.similarity || ($0.similarity == $1.similarity && $0.item < $1.item) }
            lists[Int(node)] = list
        }
        return ItemKNNModel(name: name, neighbours: neighbours, lists: lists)
    }
}

extension RecDatabase {
    /// Installs item similarities computed outside (Spark) as the next generation of the `itemknn` model, the way
    /// ``importFactors(_:threads:progress:)`` installs ALS factors: the job lease, the neighbour table written beside
    /// the active generation while it keeps serving, and one small transaction that switches to it; a crash or kill
    /// at any point leaves the previous generation serving. Ids are resolved in one snapshot; an unknown one fails
    /// the import before anything is written.
    @discardableResult
    public func importSimilarities(
        _ similarities: ImportedSimilarities, progress: (@Sendable (String) -> Void)? = nil
    ) throws -> RefreshReport {
        let spec = ModelSpec.itemKNN(neighbours: similarities.neighbours)
        let name = spec.name
        return try installSupplied(
            spec,
            SuppliedModel(
                make: { reader in try similarities.model(named: name, resolvingIn: reader) },
                trainingSeconds: similarities.trainingSeconds, events: similarities.events,
                lastEventSequence: similarities.lastEventSequence),
            threads: 1, progress: progress)
    }
}
