import Foundation

/// ALS factors trained outside RecDB, as the Spark job `spark/train_als.py` writes them: a folder with `model.json`
/// (rank, parameters, training time, the export's snapshot) and `user_factors/` and `item_factors/`, each Spark
/// JSON output (`part-*` files of `{"id":"u42","features":[…]}` lines, plain or gzip, and `_SUCCESS`).
///
/// Reading checks every line: JSON, an `id` string, `features` of exactly `rank` finite numbers, no id twice; a
/// fault names the file and line. Ids are resolved against the catalog when the factors are installed
/// (``RecDatabase/importFactors(_:threads:progress:)``).
public struct ImportedFactors: Sendable {
    /// The `format` field of `model.json`.
    public static let formatName = "recdb-spark-als"

    /// Vector length of every row.
    public var rank: Int
    /// The ALS parameters the trainer used, as RecDB names them (recorded with the generation; `alpha` and
    /// `regularization` also set fold-in for users with newer events).
    public var parameters: ALSModel.Parameters
    /// Wall-clock seconds the external training took (`training_seconds` of `model.json`).
    public var trainingSeconds: Double
    /// Events the trainer read (`events` of the export), when given.
    public var events: Int?
    /// The newest event of the exported snapshot, when given: users with later events are folded in at query time.
    public var lastEventSequence: UInt64?
    /// User rows and item rows as read.
    var users: FactorRows
    var items: FactorRows

    /// Number of user and item rows read.
    public var userCount: Int { users.ids.count }
    /// Number of item rows read.
    public var itemCount: Int { items.ids.count }

    /// Reads and checks the Spark job's output folder.
    public static func read(from folder: String) throws -> ImportedFactors {
        let metaPath = folder + "/model.json"
        guard let data = FileManager.default.contents(atPath: metaPath) else {
            throw RecDBError(.notFound, "no model.json: is this the output folder of spark/train_als.py?", location: metaPath)
        }
        let meta = try QueryValue(jsonBytes: Array(data))
        guard meta["format"]?.stringValue == formatName else {
            throw RecDBError(.unknownFormat, "'format' is not \"\(formatName)\"", location: metaPath)
        }
        guard let rankValue = meta["rank"]?.numberValue, rankValue >= 1, rankValue <= 4096, rankValue == rankValue.rounded()
        else { throw RecDBError(.malformedInput, "'rank' must be a whole number from 1 to 4096", location: metaPath) }
        let rank = Int(rankValue)
        var parameters = ALSModel.Parameters()
        parameters.factors = rank
        if let value = meta["reg_param"]?.numberValue { parameters.regularization = Float(value) }
        if let value = meta["alpha"]?.numberValue { parameters.alpha = Float(value) }
        if let value = meta["max_iter"]?.numberValue, value >= 0, value < 1e6 { parameters.iterations = Int(value) }
        if let value = meta["seed"]?.numberValue, value >= 0, value < 9e15 { parameters.seed = UInt64(value) }
        let sequence = meta["last_event_sequence"]?.numberValue.flatMap { $0 >= 0 && $0 < 9e15 ? UInt64($0) : nil }
        return ImportedFactors(
            rank: rank, parameters: parameters, trainingSeconds: meta["training_seconds"]?.numberValue ?? 0,
            events: meta["events"]?.numberValue.flatMap { $0 >= 0 && $0 < 9e15 ? Int($0) : nil },
            lastEventSequence: sequence,
            users: try FactorRows(folder: folder + "/user_factors", rank: rank),
            items: try FactorRows(folder: folder + "/item_factors", rank: rank))
    }

    /// The factors as an ``ALSModel`` over the catalog's internal ids (rows of ids without a vector are zero).
    /// An id the catalog does not know is `notFound`, naming the file and line.
    func model<Reader: CatalogReading & ~Copyable>(resolvingIn reader: borrowing Reader) throws -> ALSModel {
        let userLimit = try CatalogSchemaAccess.idLimit("next.user", handle: reader.handle, meta: reader.schema.meta)
        let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: reader.handle, meta: reader.schema.meta)
        var userNodes: [UInt32?] = [], itemNodes: [UInt32?] = []
        for id in users.ids { userNodes.append(try reader.userID(for: id)) }
        for id in items.ids { itemNodes.append(try reader.itemID(for: id)) }
        let userFactors = try users.dense(limit: userLimit, kind: "user", nodes: userNodes)
        let itemFactors = try items.dense(limit: itemLimit, kind: "item", nodes: itemNodes)
        return ALSModel(
            parameters: parameters, userFactors: userFactors, itemFactors: itemFactors, trainingSeconds: trainingSeconds)
    }
}

/// The rows of one Spark JSON output folder: ids, their vectors back to back, and where each row was read.
struct FactorRows: Sendable {
    var ids: [String] = []
    var vectors: [Float] = []
    var files: [String] = []
    /// Index into `files` and line number (from 1) of each row.
    var origins: [(file: Int32, line: Int32)] = []
    let rank: Int

    /// Reads every `part-*` file of `folder` (sorted by name); the folder must hold Spark's `_SUCCESS` marker.
    init(folder: String, rank: Int) throws {
        self.rank = rank
        var seen = Set<String>()
        files = try SparkJSONOutput.forEachRow(in: folder) { row, origin, location in
            guard let id = row["id"]?.stringValue else {
                throw RecDBError(.malformedInput, "the row has no string 'id'", location: location)
            }
            guard let features = row["features"]?.arrayValue else {
                throw RecDBError(.malformedInput, "the row of '\(id)' has no 'features' array", location: location)
            }
            guard features.count == rank else {
                throw RecDBError(
                    .malformedInput,
                    "'\(id)' has \(features.count) features; model.json says rank \(rank)", location: location)
            }
            for feature in features {
                guard let value = feature.numberValue, value.isFinite, abs(value) <= Double(Float.greatestFiniteMagnitude)
                else {
                    throw RecDBError(.malformedInput, "a feature of '\(id)' is not a finite number", location: location)
                }
                vectors.append(Float(value))
            }
            guard seen.insert(id).inserted else {
                throw RecDBError(.malformedInput, "'\(id)' has a second row", location: location)
            }
            ids.append(id)
            origins.append(origin)
        }
    }

    /// Rows moved to their internal ids in a `limit × rank` array; `nodes` holds each row's internal id (nil:
    /// unknown, an error naming the row's file and line).
    func dense(limit: Int, kind: String, nodes: [UInt32?]) throws -> [Float] {
        var dense = [Float](repeating: 0, count: limit * rank)
        for (row, id) in ids.enumerated() {
            guard let node = nodes[row], Int(node) < limit else {
                let origin = origins[row]
                throw RecDBError(
                    .notFound, "unknown \(kind) '\(id)': not in this database (exported from another one?)",
                    location: "\(files[Int(origin.file)]):\(origin.line)")
            }
            let start = Int(node) * rank
            dense.replaceSubrange(start..<start + rank, with: vectors[row * rank..<(row + 1) * rank])
        }
        return dense
    }
}

/// A model trained elsewhere that a refresh installs instead of training: built from the refresh's snapshot
/// (where its ids resolve), with the training time and snapshot position the trainer reported.
struct SuppliedModel {
    /// Makes the model in the refresh's read transaction.
    var make: (borrowing CatalogReader) throws -> any Recommender
    /// Seconds the external training took.
    var trainingSeconds: Double
    /// Events the trainer read, when known.
    var events: Int?
    /// The newest event the trainer saw, when known (nil: every user is folded in from their history at query time).
    var lastEventSequence: UInt64?
}

extension RecDatabase {
    /// Installs factors trained outside (Spark) as the next generation of the `als` model, through the refresh's
    /// own path: the job lease, the generation written beside the active one (vectors, HNSW index, `YᵀY` for
    /// fold-in) while it keeps serving, and one small transaction that switches to it. A crash or kill at any point
    /// leaves the previous generation serving. Ids are resolved in one snapshot; an unknown one fails the import
    /// before anything is written.
    @discardableResult
    public func importFactors(
        _ factors: ImportedFactors, threads: Int = 2, progress: (@Sendable (String) -> Void)? = nil
    ) throws -> RefreshReport {
        try installSupplied(
            .als(factors.parameters),
            SuppliedModel(
                make: { reader in try factors.model(resolvingIn: reader) }, trainingSeconds: factors.trainingSeconds,
                events: factors.events, lastEventSequence: factors.lastEventSequence),
            threads: threads, progress: progress)
    }

    /// Installs `supplied` as the next generation of `spec`'s model through the refresh's path (lease, generation
    /// beside the active one, one switching transaction).
    func installSupplied(
        _ spec: ModelSpec, _ supplied: SuppliedModel, threads: Int, progress: (@Sendable (String) -> Void)?
    ) throws -> RefreshReport {
        try withJob(Self.refreshJob(spec.name), start: { w in (try w.model(spec.name)?.generation ?? 0) + 1 }) {
            job, generation in
            try refreshHoldingLease(
                spec, generation: generation, job: job, threads: threads, progress: progress, onEpoch: nil,
                supplied: supplied)
        }
    }
}
