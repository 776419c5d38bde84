// Latency of the recommend API in process, single thread, on a synthetic shop of ITEMS items (default 100,000):
// 50 categories × 7 sub-categories, prices, availability and titles; USERS users with a favourite category each.
// Trains popularity, item-kNN, ALS, content and session models and SASRec (for 500 more users with 50-event
// histories), then times requests of several shapes.
// Prints a table on stderr and one JSON object on stdout.
//
//   recdb-recommend DB_FOLDER [ITEMS] [USERS] [QUERIES]
//
// Environment: RECOMMEND_SHAPES=9,10 runs only those shapes (1-based); RECOMMEND_REFRESH=itemknn retrains the listed
// models of an existing shop first (to measure a new storage layout on the same data); RECOMMEND_SASREC_DIMENSION=128
// trains SASRec at that width (default 64).
import Foundation
import RecDB
import RecML

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write("usage: recdb-recommend DB_FOLDER [ITEMS] [USERS] [QUERIES]\n".data(using: .utf8)!)
    exit(64)
}
let folder = arguments[1]
let itemCount = arguments.count > 2 ? Int(arguments[2])! : 100_000
let userCount = arguments.count > 3 ? Int(arguments[3])! : 20_000
let queries = arguments.count > 4 ? Int(arguments[4])! : 2_000
func log(_ text: String) { FileHandle.standardError.write((text + "\n").data(using: .utf8)!) }

var random = SeededGenerator(seed: 42)
let vocabulary = (0..<2_000).map { "w\($0)" }
func category(_ item: Int) -> String { "Cat\(item % 50)/Sub\((item / 50) % 7)" }

let ready = FileManager.default.fileExists(atPath: folder + "/data.mdb")
var options = RecDatabase.Options()
options.storage.noSync = true
let db = try RecDatabase.open(at: folder, create: true, options: options)
if !ready {
    log("building a shop of \(itemCount) items and \(userCount) users")
    try db.write { w in
        for i in 0..<itemCount {
            let c = i % 50
            let words = (0..<6).map { k in vocabulary[(c * 40 + (i * 7 + k * 13) % 40) % vocabulary.count] }
            try w.upsertItem(
                "i\(i)",
                attributes: [
                    "title": .string(words.prefix(4).joined(separator: " ")),
                    "description": .string(words.joined(separator: " ")), "category": .string(category(i)),
                    "price": .number(Double((i * 37) % 200) + 0.99), "available": .bool((i / 50) % 10 != 3),
                ])
        }
    }
    let perCategory = itemCount / 50
    var minute: Int64 = 0
    for start in stride(from: 0, to: userCount, by: 2_000) {
        try db.write { w in
            for u in start..<min(userCount, start + 2_000) {
                let favourite = u % 50
                for step in 0..<25 {
                    // Zipf-like within the favourite category, now and then another category.
                    let other = Int.random(in: 0..<10, using: &random) == 0
                    let c = other ? Int.random(in: 0..<50, using: &random) : favourite
                    let rank = Int(Double(perCategory) * pow(Double.random(in: 0..<1, using: &random), 3))
                    let item = min(itemCount - 1, rank * 50 + c)
                    try w.addEvent(
                        EventInput(
                            user: "u\(u)", item: "i\(item)", type: step % 8 == 7 ? "purchase" : "view",
                            timestamp: Timestamp(milliseconds: 1_700_000_000_000 + minute * 60_000), session: "s\(u)-\(step / 8)"))
                    minute += 1
                }
            }
        }
    }
    var als = ALSModel.Parameters()
    als.factors = 64
    for spec in [ModelSpec.popularity(halfLifeDays: 30), .itemKNN(neighbours: 100), .als(als), .content(ContentModel.Parameters()),
                 .session(SessionKNNModel.Parameters())] {
        let started = Date()
        try db.refresh(spec)
        log(String(format: "trained %@ in %.1f s", spec.name, Date().timeIntervalSince(started)))
    }
}

if ready, let names = ProcessInfo.processInfo.environment["RECOMMEND_REFRESH"] {
    for name in names.split(separator: ",") {
        let started = Date()
        // With the parameters it was trained with.
        try db.refresh(try db.model(String(name)).flatMap { ModelSpec(record: $0) } ?? ModelSpec.named(String(name)))
        log(String(format: "retrained %@ in %.1f s", String(name), Date().timeIntervalSince(started)))
    }
}

// SASRec serves users with 50-event histories (`h0`…`h499`, a favourite category each): written and trained once,
// on the whole shop's events, with few epochs (latency does not depend on how well it is trained).
let historyUsers = 500
/// `RECOMMEND_SASREC_DIMENSION=128` trains (or retrains) SASRec at that width: the accuracy setting of the Sports
/// search (README, *Sixth run*) costs more per request than the default 64.
let sasrecDimension = Int(ProcessInfo.processInfo.environment["RECOMMEND_SASREC_DIMENSION"] ?? "") ?? 64
let storedSASRec = try db.model("sasrec")
if storedSASRec == nil {
    let perCategory = itemCount / 50
    try db.write { w in
        for h in 0..<historyUsers {
            for step in 0..<50 {
                let rank = Int(Double(perCategory) * pow(Double.random(in: 0..<1, using: &random), 3))
                let item = min(itemCount - 1, rank * 50 + h % 50)
                try w.addEvent(
                    EventInput(
                        user: "h\(h)", item: "i\(item)", type: "view",
                        timestamp: Timestamp(milliseconds: 1_800_000_000_000 + Int64(h * 50 + step) * 60_000)))
            }
        }
    }
}
if storedSASRec == nil || storedSASRec?.parameters["dimension"] != Double(sasrecDimension) {
    var sasrec = SASRecModel.Parameters()
    sasrec.epochs = 2
    sasrec.patience = 1
    sasrec.dimension = sasrecDimension
    let started = Date()
    try db.refresh(.sasrec(sasrec)) { log($0) }
    log(String(format: "trained sasrec in %.1f s", Date().timeIntervalSince(started)))
}

let sasrecShape = "50-event history top-10, USING sasrec, category"
struct Shape {
    var name: String
    var make: (Int) -> RecommendRequest
}
let shapes: [Shape] = [
    Shape(name: "user top-10 (chain)") { u in RecommendRequest(.user("u\(u)"), count: 10) },
    Shape(name: "user top-10, category+price+available, MMR 0.7") { u in
        RecommendRequest(
            .user("u\(u)"), count: 10,
            filter: .and([.category("Cat\((u * 7) % 50)"), .compare(attribute: "price", .less, .number(100)), .available]),
            diversification: .maximalMarginalRelevance(lambda: 0.7))
    },
    Shape(name: "user top-10, price<100 AND available (45 %), MMR 0.7") { u in
        RecommendRequest(
            .user("u\(u)"), count: 10, filter: .and([.compare(attribute: "price", .less, .number(100)), .available]),
            diversification: .maximalMarginalRelevance(lambda: 0.7))
    },
    Shape(name: "user top-10, als, per-category 2") { u in
        RecommendRequest(.user("u\(u)"), count: 10, models: [ModelWeight("als")], diversification: .perCategory(2))
    },
    Shape(name: "user blend als 0.7 + content 0.3") { u in
        RecommendRequest(.user("u\(u)"), count: 10, models: [ModelWeight("als", weight: 0.7), ModelWeight("content", weight: 0.3)])
    },
    Shape(name: "session next item") { u in RecommendRequest(.session("s\(u)-1"), count: 10) },
    Shape(name: "similar to item (item-kNN)") { u in RecommendRequest(.similarTo("i\(u * 5 % itemCount)"), count: 10) },
    Shape(name: "page 3 (offset 20)") { u in RecommendRequest(.user("u\(u)"), count: 10, offset: 20) },
    Shape(name: "user top-10, USING als") { u in RecommendRequest(.user("u\(u)"), count: 10, models: [ModelWeight("als")]) },
    Shape(name: "user top-10, USING itemknn") { u in
        RecommendRequest(.user("u\(u)"), count: 10, models: [ModelWeight("itemknn")])
    },
    Shape(name: sasrecShape) { u in
        RecommendRequest(
            .user("h\(u % historyUsers)"), count: 10, models: [ModelWeight("sasrec")],
            filter: .category("Cat\(u % historyUsers % 50)"))
    },
]

/// This thread's CPU time in milliseconds: unlike wall time, it leaves out the slices other processes took.
func threadCPUMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
var rows: [[String: Any]] = []
log("shape                                                      p50 ms   p99 ms   max ms   cpu p50  cpu p99    req/s")
let only = ProcessInfo.processInfo.environment["RECOMMEND_SHAPES"].map { Set($0.split(separator: ",").compactMap { Int($0) }) }
for (number, shape) in shapes.enumerated() where only?.contains(number + 1) ?? true {
    // Warm-up: first use of each model generation decodes its data once (session model, projections).
    for u in 0..<50 { _ = try db.recommend(shape.make(u)) }
    var times: [Double] = [], cpu: [Double] = []
    times.reserveCapacity(queries)
    var returned = 0
    let shapeStarted = DispatchTime.now().uptimeNanoseconds
    for q in 0..<queries {
        let u = (q * 7919) % userCount
        let request = shape.make(u)
        let cpuStarted = threadCPUMilliseconds()
        let started = DispatchTime.now().uptimeNanoseconds
        let results = try db.recommend(request)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
        cpu.append(threadCPUMilliseconds() - cpuStarted)
        returned += results.count
    }
    // Requests per second, one thread, back to back (wall time, so other processes' load lowers it).
    let throughput = Double(queries) / (Double(DispatchTime.now().uptimeNanoseconds - shapeStarted) / 1e9)
    times.sort()
    cpu.sort()
    let row: [String: Any] = [
        "shape": shape.name, "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99), "max_ms": times.last!,
        "cpu_p50_ms": percentile(cpu, 0.5), "cpu_p99_ms": percentile(cpu, 0.99),
        "mean_results": Double(returned) / Double(queries), "requests_per_second": throughput,
    ]
    rows.append(row)
    log(shape.name.padding(toLength: 56, withPad: " ", startingAt: 0)
        + String(
            format: " %8.3f %8.3f %8.3f %8.3f %8.3f %8.0f", percentile(times, 0.5), percentile(times, 0.99), times.last!,
            percentile(cpu, 0.5), percentile(cpu, 0.99), throughput))
}
let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? ""
var output: [String: Any] = [
    "items": itemCount, "users": userCount, "queries": queries, "shapes": rows, "load_average": Double(load) ?? -1,
]
if let row = rows.first(where: { $0["shape"] as? String == sasrecShape }) {
    output["p99_ms_sasrec_recommend"] = row["p99_ms"]
    output["cpu_p99_ms_sasrec_recommend"] = row["cpu_p99_ms"]
}
print(String(decoding: try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]), as: UTF8.self))
