import BenchNPY
import Foundation
import RecDB

// recdb-ann --data DIR --name NAME --metric ip|l2|cosine --m 16 --ef-construction 200 --threads 2
//           --efs 10,20,40 --db PATH [--filters] [--churn 0.1] [--codes float32|int8|float16] [--rerank N] [--reuse]
//           [--skip-curve] --out RESULT.json
var options: [String: String] = [:]
var flags: Set<String> = []
var arguments = Array(CommandLine.arguments.dropFirst())
while let argument = arguments.first {
    arguments.removeFirst()
    guard argument.hasPrefix("--") else { continue }
    let name = String(argument.dropFirst(2))
    if let value = arguments.first, !value.hasPrefix("--") {
        options[name] = value
        arguments.removeFirst()
    } else {
        flags.insert(name)
    }
}
func option(_ name: String, _ fallback: String? = nil) -> String {
    guard let value = options[name] ?? fallback else {
        FileHandle.standardError.write(Data("recdb-ann: missing --\(name)\n".utf8))
        exit(2)
    }
    return value
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU seconds this thread has run: the load-insensitive cost (time descheduled by other processes is not counted).
func threadCPU() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func log(_ message: String) { FileHandle.standardError.write(Data("recdb-ann: \(message)\n".utf8)) }

let dataDir = option("data"), name = option("name")
let metric = Metric(name: option("metric", "ip"))!
let m = Int(option("m", "16"))!, efConstruction = Int(option("ef-construction", "200"))!
let threads = Int(option("threads", "2"))!
let efs = option("efs", "10,20,40,80,120,200,400").split(separator: ",").map { Int($0)! }
let dbPath = option("db"), outPath = option("out")
let churnShare = Double(option("churn", "0")) ?? 0
guard let codes = VectorCodes(name: option("codes", "float32")) else {
    FileHandle.standardError.write(Data("recdb-ann: --codes is float32, int8 or float16\n".utf8))
    exit(2)
}
let rerank = options["rerank"].flatMap { Int($0) }

let base = try NPYArray(path: "\(dataDir)/\(name).base.npy")
let queries = try NPYArray(path: "\(dataDir)/\(name).queries.npy")
let truth = try NPYArray(path: "\(dataDir)/\(name).gt.npy")
let n = base.rows, dimension = base.columns
log("\(name): \(n) × \(dimension), \(queries.rows) queries, metric \(metric)")

var result: [String: Any] = ["name": name, "n": n, "dim": dimension, "codes": codes.rawValue]
if let rerank { result["rerank"] = rerank }
let reuse = flags.contains("reuse") && FileManager.default.fileExists(atPath: "\(dbPath)/data.mdb")
if !reuse { try? FileManager.default.removeItem(atPath: dbPath) }

// Load: items 0…n-1 with their vectors (internal ids equal row numbers in a fresh database).
if !reuse {
    var storage = RecDatabase.Options()
    storage.storage.noSync = true
    let db = try RecDatabase.open(at: dbPath, create: true, options: storage)
    try db.createSpace(
        "bench", dimension: dimension, metric: metric, parameters: HNSWParameters(m: m, efConstruction: efConstruction, codes: codes))
    let loadStart = now()
    var row = 0
    while row < n {
        let end = min(n, row + 50_000)
        try db.write { w in
            for i in row..<end {
                try w.upsertItem(String(i), attributes: [:])
                try w.setVector(Array(base.row(i)), space: "bench", item: String(i))
            }
        }
        row = end
    }
    try db.environment.sync()
    result["load_seconds"] = now() - loadStart
    let buildStart = now()
    let report = try db.buildIndex(space: "bench", threads: threads)
    result["build_seconds"] = now() - buildStart
    result["index_bytes_per_vector"] = Double(report.bytes) / Double(n)
    try db.environment.sync()
    log("built in \(String(format: "%.2f", now() - buildStart)) s")
}
let fileBytes = (try FileManager.default.attributesOfItem(atPath: "\(dbPath)/data.mdb")[.size] as? Int) ?? 0
result["bytes_per_vector"] = Double(fileBytes) / Double(n)
// The live file keeps the pages the build freed (the vectors' table copies) for later writes; a compacted copy
// (what `recctl backup` writes) is the stored size without them.
if !reuse {
    let copyPath = dbPath + ".compacted"
    try? FileManager.default.removeItem(atPath: copyPath)
    let source = try RecDatabase.open(at: dbPath)
    try source.environment.copy(to: copyPath, compact: true)
    let copied = (try FileManager.default.attributesOfItem(atPath: "\(copyPath)/data.mdb")[.size] as? Int) ?? 0
    result["compacted_bytes_per_vector"] = Double(copied) / Double(n)
    try? FileManager.default.removeItem(atPath: copyPath)
}

// Open time and first query, in a database that this process has closed.
let openStart = now()
let db = try RecDatabase.open(at: dbPath)
let openedAt = now()
let firstQuery = Array(queries.row(0))
_ = try db.read { try $0.nearest(in: "bench", to: firstQuery, k: 10, ef: 100) }
result["open_ms"] = (openedAt - openStart) * 1000
result["first_query_ms"] = (now() - openedAt) * 1000
result["first_query_ef"] = 100

func recall(_ found: [UInt32], _ row: Int, truth: NPYArray, k: Int = 10) -> Double {
    let expected = Set(truth.ints[row * truth.columns..<row * truth.columns + k].filter { $0 >= 0 }.map { UInt32($0) })
    if expected.isEmpty { return found.isEmpty ? 1 : 0 }
    return Double(Set(found.prefix(k)).intersection(expected).count) / Double(expected.count)
}

/// Runs every query at `ef` in one read transaction, single-threaded; returns recall, QPS and latencies.
func measure(ef: Int, allowed: AllowedSet? = nil, truth: NPYArray, truthOffset: Int = 0, exactLimit: Int? = nil)
    throws -> [String: Any]
{
    let context = SearchContextBox()
    var latencies: [Double] = []
    var total = 0.0
    let started = now(), startedCPU = threadCPU()
    try db.read { r in
        try r.withVectorIndex(space: "bench") { index in
            if let exactLimit { index.exactSearchLimit = exactLimit }
            for q in 0..<queries.rows {
                let query = Array(queries.row(q))
                let t0 = now()
                let found = try index.search(query, k: 10, ef: ef, rerank: rerank, allowed: allowed, context: context)
                latencies.append(now() - t0)
                total += recall(found.map(\.node), truthOffset + q, truth: truth)
            }
        }
    }
    let elapsed = now() - started, cpu = threadCPU() - startedCPU
    latencies.sort()
    return [
        "ef": ef, "recall": total / Double(queries.rows), "qps": Double(queries.rows) / elapsed,
        "p50_us": latencies[latencies.count / 2] * 1e6, "p99_us": latencies[latencies.count * 99 / 100] * 1e6,
        "cpu_us_per_query": cpu / Double(queries.rows) * 1e6,
    ]
}

_ = try measure(ef: efs.first ?? 10, truth: truth)  // warm the page cache and chunk tables
var curve: [[String: Any]] = []
for ef in flags.contains("skip-curve") ? [] : efs {
    let point = try measure(ef: ef, truth: truth)
    log("ef \(ef): recall \(point["recall"]!), qps \(Int(point["qps"] as! Double))")
    curve.append(point)
}
result["curve"] = curve

if flags.contains("filters"), FileManager.default.fileExists(atPath: "\(dataDir)/\(name).filters.npy") {
    let masks = try NPYArray(path: "\(dataDir)/\(name).filters.npy")
    let filteredTruth = try NPYArray(path: "\(dataDir)/\(name).filtered_gt.npy")
    let described = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dataDir)/\(name).filters.json")))
    let filterList = (described as? [[String: Any]]) ?? ((described as? [String: Any])?["filters"] as? [[String: Any]]) ?? []
    var filtered: [[String: Any]] = []
    let truthRows = NPYArray.reshaped(filteredTruth, rowLength: 10)
    for f in 0..<masks.rows {
        var allowed = AllowedSet(limit: n)
        for i in 0..<n where masks.ints[f * masks.columns + i] != 0 { allowed.insert(UInt32(i)) }
        // As the peers do: the smallest ef of a sweep that reaches recall 0.95, else the largest.
        var point: [String: Any] = [:]
        for ef in [10, 40, 120, 200, 400] {
            point = try measure(ef: ef, allowed: allowed, truth: truthRows, truthOffset: f * queries.rows)
            if (point["recall"] as! Double) >= 0.95 { break }
        }
        let info = f < filterList.count ? filterList[f] : [:]
        point["name"] = info["name"] ?? "filter-\(f)"
        point["kind"] = info["kind"] ?? ""
        point["selectivity"] = info["selectivity"] ?? Double(allowed.count) / Double(n)
        log("filter \(point["name"]!): recall \(point["recall"]!), qps \(Int(point["qps"] as! Double))")
        filtered.append(point)
    }
    result["filtered"] = filtered
}

if churnShare > 0 {
    // Delete a share of the items and insert their vectors again as new items; measure before and after linking.
    let count = Int(Double(n) * churnShare)
    var generator = SystemRandomNumberGenerator()
    var chosen = Array(0..<n)
    chosen.shuffle(using: &generator)
    let victims = Array(chosen.prefix(count))
    var renamed: [Int32: Int32] = [:]
    try db.write { w in
        for victim in victims {
            _ = try w.deleteItem(String(victim))
            let id = try w.upsertItem("again-\(victim)", attributes: [:])
            try w.setVector(Array(base.row(victim)), space: "bench", item: "again-\(victim)")
            renamed[Int32(victim)] = Int32(id)
        }
    }
    var mapped = truth
    mapped.ints = truth.ints.map { renamed[$0] ?? $0 }
    let pending = try measure(ef: 100, truth: mapped)
    let linkStart = now()
    try db.buildIndex(space: "bench", threads: threads)
    let rebuildSeconds = now() - linkStart
    let linked = try measure(ef: 100, truth: mapped)
    result["churn"] = [
        "fraction": churnShare, "deleted": count, "ef": 100, "recall_pending": pending["recall"]!, "qps_pending": pending["qps"]!,
        "recall": linked["recall"]!, "qps": linked["qps"]!, "rebuild_seconds": rebuildSeconds,
    ]
    log("churn: pending recall \(pending["recall"]!), after rebuild \(linked["recall"]!)")
}

let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
try json.write(to: URL(fileURLWithPath: outPath))
