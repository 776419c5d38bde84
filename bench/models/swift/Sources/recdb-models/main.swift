import BenchNPY
import Foundation
import RecDB

// recdb-models export   --db PATH --split leave-last-out|temporal --out DIR
// recdb-models evaluate --db PATH --split leave-last-out|temporal --peers DIR --threads 2 [--repeats 3]
//                       [--name NAME] --out RESULT.json
// recdb-models time     --db PATH --split leave-last-out|temporal --threads 2 [--rounds 1] --out TIMES.json
//
// Every step builds the split from one read snapshot of the database with the library's EvaluationSplit, which is
// deterministic, so the peers train on exactly the training data RecDB's models train on, and every model, RecDB's
// or a peer's, is scored by the same Evaluator.
let usage = """
    usage: recdb-models export --db PATH --split leave-last-out|temporal --out DIR
           recdb-models evaluate --db PATH --split leave-last-out|temporal --peers DIR --threads 2 [--repeats 3] \
    [--name NAME] --out RESULT.json
           recdb-models time --db PATH --split leave-last-out|temporal --threads 2 [--rounds 1] --out TIMES.json
    """
var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first, ["export", "evaluate", "time"].contains(command) else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}
arguments.removeFirst()
var options: [String: String] = [:]
while let argument = arguments.first {
    arguments.removeFirst()
    guard argument.hasPrefix("--"), let value = arguments.first else {
        FileHandle.standardError.write(Data("recdb-models: unexpected '\(argument)'\n\(usage)\n".utf8))
        exit(2)
    }
    options[String(argument.dropFirst(2))] = value
    arguments.removeFirst()
}
func option(_ name: String, _ fallback: String? = nil) -> String {
    guard let value = options[name] ?? fallback else {
        FileHandle.standardError.write(Data("recdb-models: missing --\(name)\n".utf8))
        exit(2)
    }
    return value
}
func log(_ message: String) { FileHandle.standardError.write(Data("recdb-models: \(message)\n".utf8)) }
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
func writeJSON(_ object: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    try data.write(to: URL(fileURLWithPath: path))
}
func readJSON(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw BenchError("\(path): not a JSON object")
    }
    return object
}

/// The settings both sides train with (RecDB's defaults; the export hands them to the peers).
let als = ALSModel.Parameters()
let bpr = BPRModel.Parameters()
/// Float32 settings as the decimals they were written as (0.01, not 0.009999999776482582).
func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }
let alsParameters: [String: Any] = [
    "factors": als.factors, "iterations": als.iterations, "regularization": decimal(als.regularization),
    "alpha": decimal(als.alpha), "cg_steps": als.conjugateGradientSteps,
]
let bprParameters: [String: Any] = [
    "factors": bpr.factors, "iterations": bpr.iterations, "learning_rate": decimal(bpr.learningRate),
    "regularization": decimal(bpr.regularization),
]

/// An evaluation result as a JSON dictionary (the library's Codable keys).
func dictionary(_ result: EvaluationResult) throws -> [String: Any] {
    (try JSONSerialization.jsonObject(with: JSONEncoder().encode(result))) as? [String: Any] ?? [:]
}

/// The mean of every number over `rows` (nested objects too); other values from the first row.
func mean(_ rows: [[String: Any]]) -> [String: Any] {
    guard var result = rows.first else { return [:] }
    for (key, value) in result {
        if value is NSNumber {
            let values = rows.compactMap { ($0[key] as? NSNumber)?.doubleValue }
            if values.count == rows.count, key != "k", key != "users" {
                result[key] = values.reduce(0, +) / Double(values.count)
            }
        } else if value is [String: Any] {
            let nested = rows.compactMap { $0[key] as? [String: Any] }
            if nested.count == rows.count { result[key] = mean(nested) }
        }
    }
    return result
}

struct Snapshot {
    var log: InteractionLog
    var catalogItems: Int
    var features: [UInt32: Set<String>]
    var split: EvaluationSplit
    var train: InteractionMatrix
}

/// Reads the interaction log, the catalog size and the item features (as `RecDatabase.evaluate` does) and splits.
func snapshot(path: String, kind: EvaluationSplit.Kind) throws -> Snapshot {
    var storage = RecDatabase.Options()
    storage.storage.readOnly = true
    let db = try RecDatabase.open(at: path, options: storage)
    let (log, items, features) = try db.read { r -> (InteractionLog, Int, [UInt32: Set<String>]) in
        var features: [UInt32: Set<String>] = [:]
        try r.forEachItem { item in
            var set = Set(item.tags.map { "tag:" + $0 })
            if let category = item.category { set.insert("category:" + category) }
            if !set.isEmpty { features[item.internalID] = set }
            return .next
        }
        return (try r.interactionLog(), try r.itemCount, features)
    }
    guard log.count > 0 else { throw BenchError("\(path): the database has no events") }
    let split = EvaluationSplit(log, kind: kind)
    return Snapshot(
        log: log, catalogItems: items, features: features, split: split, train: InteractionMatrix(split.train))
}

/// An order-sensitive fingerprint of the training matrix, so `evaluate` can tell that the peers saw the same data.
func fingerprint(_ m: InteractionMatrix) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01b3 }
    mix(UInt64(m.rows))
    mix(UInt64(m.columns))
    for r in 0..<m.rows {
        for p in m.rowStart[r]..<m.rowStart[r + 1] {
            mix(UInt64(r) << 32 | UInt64(m.indices[p]))
            mix(UInt64(m.values[p].bitPattern))
        }
    }
    return String(h, radix: 16)
}

guard let kind = EvaluationSplit.Kind(rawValue: option("split")) else {
    FileHandle.standardError.write(Data("recdb-models: --split must be leave-last-out or temporal\n".utf8))
    exit(2)
}
let dbPath = option("db")

do {
    let started = now()
    let data = try snapshot(path: dbPath, kind: kind)
    let train = data.train
    log("\(dbPath): \(data.log.count) events, split \(kind.rawValue): \(data.split.train.count) training events, "
        + "\(train.nonZeros) user-item pairs, \(data.split.test.count) test users "
        + "(\(String(format: "%.2f", now() - started)) s)")

    switch command {
    case "export":
        // The training matrix RecDB's models train on: per (user, item) the summed event weights, pairs whose sum is
        // not positive left out, in CSR order (by user, then item).
        let out = option("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var users: [Int32] = [], items: [Int32] = []
        users.reserveCapacity(train.nonZeros)
        for r in 0..<train.rows {
            for p in train.rowStart[r]..<train.rowStart[r + 1] {
                users.append(Int32(r))
                items.append(Int32(train.indices[p]))
            }
        }
        try NPYArray.write(users, shape: [users.count], to: out + "/train_users.npy")
        try NPYArray.write(items, shape: [items.count], to: out + "/train_items.npy")
        try NPYArray.write(train.values, shape: [train.values.count], to: out + "/train_weights.npy")
        let meta: [String: Any] = [
            "split": kind.rawValue, "users": train.rows, "items": train.columns, "nnz": train.nonZeros,
            "train_events": data.split.train.count, "events": data.log.count, "catalog_items": data.catalogItems,
            "test_users": data.split.test.count, "validation_users": data.split.validation.count,
            "fingerprint": fingerprint(train),
            "als": alsParameters, "bpr": bprParameters,
        ]
        try writeJSON(meta, to: out + "/meta.json")
        log("exported \(train.nonZeros) training pairs to \(out)")

    case "time":
        // Training times only (seed 42), appended to TIMES.json under the model's name: `run` alternates this with
        // `peers.py --time-only` so that both sides are timed under the same load.
        let threads = Int(option("threads", "2"))!, rounds = max(1, Int(option("rounds", "1"))!)
        let out = option("out")
        var times = (try? readJSON(out)) ?? [:]
        var warmALS = als, warmBPR = bpr  // untimed: thread pools and first-touch costs, as peers.py does
        warmALS.iterations = 1
        warmBPR.iterations = 1
        _ = ModelSpec.als(warmALS).train(on: data.split.train, threads: threads)
        _ = ModelSpec.bpr(warmBPR).train(on: data.split.train, threads: threads)
        for _ in 0..<rounds {
            for spec in [ModelSpec.als(als), .bpr(bpr)] {
                let t0 = now()
                let model = spec.train(on: data.split.train, threads: threads)
                let seconds = now() - t0
                _ = model.name
                times[spec.name] = (times[spec.name] as? [Double] ?? []) + [seconds]
                log(String(format: "%@: %.3f s", spec.name, seconds))
            }
        }
        try writeJSON(times, to: out)

    default:
        let threads = Int(option("threads", "2"))!
        let repeats = max(1, Int(option("repeats", "3"))!)
        let peersDir = option("peers"), out = option("out")
        let evaluator = Evaluator(
            split: data.split, k: 10, catalogItems: data.catalogItems, itemFeatures: data.features)
        var models: [[String: Any]] = []

        /// Evaluates each run's model on the test and the validation part; the row holds the mean of every metric
        /// over the runs, the best (smallest) training time and every run's figures.
        func record(_ runs: [(model: any Recommender, seconds: Double)], source: String, family: String,
                    params: [String: Any], extra: [String: Any] = [:]) throws {
            var tests: [[String: Any]] = [], validations: [Double] = []
            for run in runs {
                tests.append(try dictionary(evaluator.evaluate(run.model, threads: threads)))
                validations.append(evaluator.evaluate(run.model, onValidation: true, threads: threads).ndcg)
            }
            var entry = mean(tests)
            let seconds = runs.map(\.seconds)
            entry["validation_ndcg"] = validations.reduce(0, +) / Double(validations.count)
            entry["ndcg_runs"] = tests.map { $0["ndcg"] ?? 0 }
            entry["source"] = source
            entry["family"] = family
            entry["train_seconds"] = seconds.min() ?? 0
            entry["train_seconds_median"] = median(seconds)
            entry["train_seconds_runs"] = seconds
            entry["params"] = params
            entry.merge(extra) { $1 }
            log(String(format: "%@ (%@): NDCG@10 %.4f (%d run%@), train %.3f s", runs[0].model.name, source,
                       entry["ndcg"] as? Double ?? 0, runs.count, runs.count > 1 ? "s" : "", seconds.min() ?? 0))
            models.append(entry)
        }

        // The training matrices RecDB's ALS builds from the log before it iterates (part of its training time).
        let matrixStart = now()
        _ = (InteractionMatrix(data.split.train), InteractionMatrix(data.split.train, transpose: true))
        let matrixSeconds = now() - matrixStart

        // RecDB's models, trained through ModelSpec as `recctl eval` does. ALS and BPR `repeats` times with seeds
        // 42, 43, …, as the peers are.
        func seeded(_ spec: ModelSpec, _ run: Int) -> ModelSpec {
            switch spec.kind {
            case .als:
                var p = als
                p.seed = 42 + UInt64(run)
                return .als(p)
            case .bpr:
                var p = bpr
                p.seed = 42 + UInt64(run)
                return .bpr(p)
            default: return spec
            }
        }
        let specs: [(ModelSpec, [String: Any], Int)] = [
            (.popularity(halfLifeDays: 30), ["half_life_days": 30], 1),
            (.itemKNN(neighbours: 100), ["neighbours": 100, "similarity": "cosine"], 1),
            (.als(als), alsParameters, repeats),
            (.bpr(bpr), bprParameters, repeats),
        ]
        for (spec, params, count) in specs {
            var runs: [(model: any Recommender, seconds: Double)] = []
            for run in 0..<count {
                let t0 = now()
                let model = seeded(spec, run).train(on: data.split.train, threads: threads)
                runs.append((model, now() - t0))
            }
            try record(runs, source: "recdb", family: spec.name, params: params)
        }

        // The peers' models, as peers.py wrote them. Entries sharing a `tune` group are candidates: the one with the
        // best validation NDCG@10 is kept and reported on the test part.
        let peers = try readJSON(peersDir + "/peers.json")
        guard peers["fingerprint"] as? String == fingerprint(train) else {
            throw BenchError("\(peersDir)/peers.json was trained on other data (fingerprint differs): export again")
        }
        func load(_ entry: [String: Any], _ run: [String: Any]) throws -> any Recommender {
            let name = entry["name"] as? String ?? "?"
            switch entry["kind"] as? String {
            case "factors":
                return try FactorRecommender(
                    name: name, userFile: peersDir + "/" + (run["user_factors"] as! String),
                    itemFile: peersDir + "/" + (run["item_factors"] as! String), userLimit: train.rows,
                    itemLimit: train.columns, dropLast: entry["bias_column"] as? Bool ?? false)
            case "item-item":
                return try ItemItemRecommender(
                    name: name, file: peersDir + "/" + (run["matrix"] as! String), itemLimit: train.columns)
            default:
                throw BenchError("\(name): unknown kind \(entry["kind"] ?? "nil")")
            }
        }
        func runs(of entry: [String: Any]) throws -> [(model: any Recommender, seconds: Double)] {
            try (entry["runs"] as? [[String: Any]] ?? []).map { (try load(entry, $0), $0["seconds"] as? Double ?? 0) }
        }
        let entries = peers["models"] as? [[String: Any]] ?? []
        var groups: [String] = []
        for entry in entries {
            let group = entry["tune"] as? String ?? entry["name"] as? String ?? "?"
            if !groups.contains(group) { groups.append(group) }
        }
        for group in groups {
            let members = entries.filter { ($0["tune"] as? String ?? $0["name"] as? String) == group }
            var chosen = members[0]
            var candidates: [[String: Any]] = []
            if members.count > 1 {
                var best = -1.0
                for member in members {
                    let trained = try runs(of: member)
                    var ndcg = 0.0
                    for run in trained {
                        let model = run.model
                        ndcg += evaluator.evaluate(model, onValidation: true, threads: threads).ndcg
                    }
                    ndcg /= Double(max(trained.count, 1))
                    candidates.append(["params": member["params"] ?? [:], "validation_ndcg": ndcg,
                                       "train_seconds": trained.map(\.seconds).min() ?? 0])
                    if ndcg > best {
                        best = ndcg
                        chosen = member
                    }
                }
            }
            try record(try runs(of: chosen), source: chosen["source"] as? String ?? "peer",
                       family: chosen["family"] as? String ?? group, params: chosen["params"] as? [String: Any] ?? [:],
                       extra: candidates.isEmpty ? [:] : ["candidates": candidates])
        }

        let result: [String: Any] = [
            "name": option("name", (dbPath as NSString).lastPathComponent), "split": kind.rawValue, "k": 10,
            "threads": threads, "repeats": repeats, "events": data.log.count,
            "train_events": data.split.train.count, "train_pairs": train.nonZeros, "users": train.rows,
            "items": train.columns, "catalog_items": data.catalogItems, "test_users": data.split.test.count,
            "validation_users": data.split.validation.count, "skipped_users": data.split.skippedUsers,
            "peers": peers["environment"] ?? [:], "recdb_matrix_seconds": matrixSeconds, "models": models,
        ]
        try writeJSON(result, to: out)
        log("wrote \(out) (\(String(format: "%.1f", now() - started)) s)")
    }
} catch {
    FileHandle.standardError.write(Data("recdb-models: error: \(error)\n".utf8))
    exit(1)
}
