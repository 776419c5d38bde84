// Load against a running recd, and the same query in process, in one run. Prints a table on stderr and one JSON
// object on stdout.
//
//   recdb-load SOCKET DB_FOLDER USERS [SECONDS] [CLIENTS]
import Foundation
import RecClient
import RecDB

let arguments = CommandLine.arguments
let socket = arguments[1], folder = arguments[2]
let users = Int(arguments[3])!
let seconds = arguments.count > 4 ? Double(arguments[4])! : 5
let clients = arguments.count > 5 ? Int(arguments[5])! : 32
let query = "RECOMMEND 10 ITEMS FOR USER $u EXCLUDE SEEN"
func log(_ text: String) { FileHandle.standardError.write((text + "\n").data(using: .utf8)!) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
final class Samples: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var latencies: [Double] = []
    private(set) var errors = 0
    func add(_ values: [Double], errors: Int) { lock.lock(); latencies += values; self.errors += errors; lock.unlock() }
}

// 1. In process, one thread, the same statement through the query language.
let db = try RecDatabase.open(at: folder)
var inProcess: [Double] = []
for i in 0..<3000 {
    let started = now()
    _ = try db.query(query, parameters: ["u": .string("u\((i * 7919) % users)")])
    if i >= 200 { inProcess.append((now() - started) * 1000) }
}
log(String(format: "in process: p50 %.3f ms, p99 %.3f ms", percentile(inProcess, 0.5), percentile(inProcess, 0.99)))

/// `clients` connections for `seconds`; each sends `make(n)` in a closed loop, or paced at `rate` requests per
/// second per client (latency then counts from the scheduled send time, so a stall is not hidden).
func run(_ name: String, rate: Double?, _ make: @escaping @Sendable (Int, Int) -> (String, [String: Any])) -> (qps: Double, samples: Samples) {
    let samples = Samples()
    let group = DispatchGroup()
    let start = now() + 0.2
    for client in 0..<clients {
        let thread = Thread {
            defer { group.leave() }
            guard let connection = try? RecClient(socketPath: socket) else { return samples.add([], errors: 1) }
            var latencies: [Double] = [], errors = 0, n = 0
            while now() < start {}
            while true {
                var scheduled = now()
                if let rate {
                    scheduled = start + (Double(n) + Double(client) / Double(clients)) / rate
                    let wait = scheduled - now()
                    if wait > 0 { usleep(useconds_t(wait * 1e6)) }
                }
                if now() > start + seconds { break }
                let (text, parameters) = make(client, n)
                do { _ = try connection.querySync(text, parameters: parameters) } catch { errors += 1 }
                latencies.append((now() - scheduled) * 1000)
                n += 1
            }
            samples.add(latencies, errors: errors)
        }
        group.enter()
        thread.start()
    }
    group.wait()
    let qps = Double(samples.latencies.count) / seconds
    log(String(format: "%@: %.0f requests/s, p50 %.3f ms, p99 %.3f ms, errors %d", name, qps,
               percentile(samples.latencies, 0.5), percentile(samples.latencies, 0.99), samples.errors))
    return (qps, samples)
}

let recommend: @Sendable (Int, Int) -> (String, [String: Any]) = { client, n in (query, ["u": "u\((client * 7919 + n * 31) % users)"]) }
let saturated = run("recommend, \(clients) clients, closed loop", rate: nil, recommend)
let pacedRate = saturated.qps * 0.5
let paced = run("recommend, \(clients) clients at \(Int(pacedRate)) requests/s", rate: pacedRate / Double(clients), recommend)
let events = run("durable EVENT, \(clients) clients, closed loop", rate: nil) { client, n in
    ("EVENT view USER $u ITEM $i", ["u": "load-\(client)", "i": "i\((client * 131 + n) % 100_000)"])
}
let result: [String: Any] = [
    "clients": clients, "seconds": seconds,
    "p99_ms_in_process": percentile(inProcess, 0.99), "p50_ms_in_process": percentile(inProcess, 0.5),
    "qps_recommend_32_clients": saturated.qps, "p99_ms_recommend_32_clients_saturated": percentile(saturated.samples.latencies, 0.99),
    "paced_qps": pacedRate, "p99_ms_recommend_32_clients": percentile(paced.samples.latencies, 0.99),
    "p50_ms_recommend_32_clients": percentile(paced.samples.latencies, 0.5),
    "durable_events_per_s_32_clients": events.qps, "errors": saturated.samples.errors + paced.samples.errors + events.samples.errors,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
