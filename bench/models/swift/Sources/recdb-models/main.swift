import Foundation
import RecDB

// recdb-models export   --db PATH --split leave-last-out|temporal --out DIR
// recdb-models evaluate --db PATH --split leave-last-out|temporal --peers DIR --threads 2 [--repeats 3]
//                       [--name NAME] --out RESULT.json
//
// Both steps build the split from one read snapshot of the database with the library's EvaluationSplit, which is
// deterministic, so the peers train on exactly the training data RecDB's models train on, and every model, RecDB's
// or a peer's, is scored by the same Evaluator.
let usage = """
    usage: recdb-models export --db PATH --split leave-last-out|temporal --out DIR
           recdb-models evaluate --db PATH --split leave-last-out|temporal --peers DIR --threads 2 [--repeats 3] \
    [--name NAME] --out RESULT.json
    """
var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first, ["export", "evaluate"].contains(command) else {
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
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
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
    return Snapshot(log: log, catalogItems: items, features: features, split: split, train: InteractionMatrix(split.train))
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
        + "\(train.nonZeros) user-item pairs, \(data.split.test.count) test users (\(String(format: "%.2f", now() - started)) s)")

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
            "als": [
                "factors": als.factors, "iterations": als.iterations, "regularization": Double(als.regularization),
                "alpha": Double(als.alpha), "cg_steps": als.conjugateGradientSteps,
            ],
            "bpr": [
                "factors": bpr.factors, "iterations": bpr.iterations, "learning_rate": Double(bpr.learningRate),
                "regularization": Double(bpr.regularization),
            ],
        ]
        try writeJSON(meta, to: out + "/meta.json")
        log("exported \(train.nonZeros) training pairs to \(out)")

    default:
        let threads = Int(option("threads", "2"))!
        let repeats = max(1, Int(option("repeats", "3"))!)
        let peersDir = option("peers"), out = option("out")
        let evaluator = Evaluator(split: data.split, k: 10, catalogItems: data.catalogItems, itemFeatures: data.features)
        let encoder = JSONEncoder()
        func row(_ result: EvaluationResult) throws -> [String: Any] {
            (try JSONSerialization.jsonObject(with: encoder.encode(result))) as? [String: Any] ?? [:]
        }
        var models: [[String: Any]] = []
        func record(_ model: some Recommender, source: String, family: String, seconds: [Double], params: [String: Any],
                    extra: [String: Any] = [:]) throws {
            var entry = try row(evaluator.evaluate(model, threads: threads))
            entry["validation_ndcg"] = evaluator.evaluate(model, onValidation: true, threads: threads).ndcg
            entry["source"] = source
            entry["family"] = family
            entry["train_seconds"] = median(seconds)
            entry["train_seconds_runs"] = seconds
            entry["params"] = params
            entry.merge(extra) { $1 }
            log(String(format: "%@ (%@): NDCG@10 %.4f, train %.3f s", model.name, source,
                       entry["ndcg"] as? Double ?? 0, median(seconds)))
            models.append(entry)
        }

        // RecDB's models, trained through ModelSpec as `recctl eval` does; ALS and BPR `repeats` times (median time).
        let specs: [(ModelSpec, [String: Any], Int)] = [
            (.popularity(halfLifeDays: 30), ["half_life_days": 30], 1),
            (.itemKNN(neighbours: 100), ["neighbours": 100], 1),
            (.als(als), ["factors": als.factors, "iterations": als.iterations, "regularization": als.regularization,
                         "alpha": als.alpha, "cg_steps": als.conjugateGradientSteps], repeats),
            (.bpr(bpr), ["factors": bpr.factors, "iterations": bpr.iterations, "learning_rate": bpr.learningRate,
                         "regularization": bpr.regularization], repeats),
        ]
        for (spec, params, runs) in specs {
            var seconds: [Double] = []
            var model: (any Recommender)?
            for _ in 0..<runs {
                model = nil
                let t0 = now()
                model = spec.train(on: data.split.train, threads: threads)
                seconds.append(now() - t0)
            }
            try record(model!, source: "recdb", family: spec.name, seconds: seconds, params: params)
        }

        // The peers' models, as peers.py wrote them. Entries sharing a `tune` group are candidates: the one with the
        // best validation NDCG@10 is kept and reported on the test part.
        let peers = try readJSON(peersDir + "/peers.json")
        guard peers["fingerprint"] as? String == fingerprint(train) else {
            throw BenchError("\(peersDir)/peers.json was trained on other data (fingerprint differs): export again")
        }
        func load(_ entry: [String: Any]) throws -> any Recommender {
            let name = entry["name"] as? String ?? "?"
            switch entry["kind"] as? String {
            case "factors":
                return try FactorRecommender(
                    name: name, userFile: peersDir + "/" + (entry["user_factors"] as! String),
                    itemFile: peersDir + "/" + (entry["item_factors"] as! String), userLimit: train.rows,
                    itemLimit: train.columns, dropLast: entry["bias_column"] as? Bool ?? false)
            case "item-item":
                return try ItemItemRecommender(
                    name: name, file: peersDir + "/" + (entry["matrix"] as! String), itemLimit: train.columns)
            default:
                throw BenchError("\(name): unknown kind \(entry["kind"] ?? "nil")")
            }
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
                    let ndcg = evaluator.evaluate(try load(member), onValidation: true, threads: threads).ndcg
                    candidates.append(["params": member["params"] ?? [:], "validation_ndcg": ndcg,
                                       "train_seconds": member["train_seconds"] ?? 0])
                    if ndcg > best {
                        best = ndcg
                        chosen = member
                    }
                }
            }
            let model = try load(chosen)
            try record(model, source: chosen["source"] as? String ?? "peer", family: chosen["family"] as? String ?? group,
                       seconds: chosen["train_seconds_runs"] as? [Double] ?? [chosen["train_seconds"] as? Double ?? 0],
                       params: chosen["params"] as? [String: Any] ?? [:],
                       extra: candidates.isEmpty ? [:] : ["candidates": candidates])
        }

        let result: [String: Any] = [
            "name": option("name", (dbPath as NSString).lastPathComponent), "split": kind.rawValue, "k": 10,
            "threads": threads, "repeats": repeats, "events": data.log.count,
            "train_events": data.split.train.count, "train_pairs": train.nonZeros, "users": train.rows,
            "items": train.columns, "catalog_items": data.catalogItems, "test_users": data.split.test.count,
            "validation_users": data.split.validation.count, "skipped_users": data.split.skippedUsers,
            "peers": peers["environment"] ?? [:], "models": models,
        ]
        try writeJSON(result, to: out)
        log("wrote \(out) (\(String(format: "%.1f", now() - started)) s)")
    }
} catch {
    FileHandle.standardError.write(Data("recdb-models: error: \(error)\n".utf8))
    exit(1)
}
