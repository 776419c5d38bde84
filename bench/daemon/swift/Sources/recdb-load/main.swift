// Load against a running recd, and the same query in process, in one run. Prints a table on stderr and one JSON
// object on stdout.
//
//   recdb-load SOCKET DB_FOLDER USERS [SECONDS] [CLIENTS] [RECD_PID]
//
// Phases: recommend closed loop (saturated), recommend paced at half that rate, 10 % item writes among filtered
// recommends (the writes invalidate filter caches), a one-at-a-time probe while two hostile clients send the
// heaviest requests the limits allow (and some they refuse), the same probe while four clients ask for cold
// EXPLAIN GENERATED pages (skipped, null, when the language model is not installed), durable events. With RECD_PID, recd's own CPU time per
// answered request is reported for each phase.
import Foundation
import RecClient
import RecDB

let arguments = CommandLine.arguments
let socket = arguments[1], folder = arguments[2]
let users = Int(arguments[3])!
let seconds = arguments.count > 4 ? Double(arguments[4])! : 5
let clients = arguments.count > 5 ? Int(arguments[5])! : 32
/// `LOAD_QUERY` replaces the recommend phases' statement (bench/experiments/impression-cost adds IN EXPERIMENT).
let query = ProcessInfo.processInfo.environment["LOAD_QUERY"] ?? "RECOMMEND 10 ITEMS FOR USER $u EXCLUDE SEEN"
let recdPID = arguments.count > 6 ? Int32(arguments[6]) : nil
/// `LOAD_PHASES=events,mixed` runs only those phases (all by default): for profiling one kind of load.
let phases = ProcessInfo.processInfo.environment["LOAD_PHASES"].map { Set($0.split(separator: ",").map(String.init)) }
func wanted(_ phase: String) -> Bool { phases?.contains(phase) ?? true }

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
func cpuSeconds(_ pid: Int32?) -> Double {
    guard let pid, let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
func log(_ text: String) { FileHandle.standardError.write((text + "\n").data(using: .utf8)!) }
/// LOAD_DUMP=path: each closed-loop phase's requests (client, send time, latency ms) go to path.PHASE, for tail analysis.
let dumpPath = ProcessInfo.processInfo.environment["LOAD_DUMP"]
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    func set() { lock.lock(); raised = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return raised }
}
final class Samples: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var latencies: [Double] = []
    /// Latencies of the reads alone (requests that are not UPSERT or EVENT).
    private(set) var readLatencies: [Double] = []
    private(set) var errors = 0
    /// Appends trace lines (client, send time, latency) to `path` (LOAD_DUMP).
    func dump(_ lines: [String], to path: String) {
        lock.lock(); defer { lock.unlock() }
        let text = lines.joined(separator: "\n") + "\n"
        if let handle = FileHandle(forWritingAtPath: path) { handle.seekToEndOfFile(); handle.write(text.data(using: .utf8)!); handle.closeFile() }
        else { FileManager.default.createFile(atPath: path, contents: text.data(using: .utf8)) }
    }
    func add(_ values: [Double], errors: Int, reads: [Double] = []) {
        lock.lock(); latencies += values; readLatencies += reads; self.errors += errors; lock.unlock()
    }
}

// 1. In process, one thread, the same statement through the query language.
/// Stops with the error named (a shop written by a newer format than this build, a missing folder) instead of the
/// signal an uncaught top-level error raises.
func orExit<T>(_ what: String, _ body: () throws -> T) -> T {
    do { return try body() } catch {
        log("recdb-load: \(what): \(error) (rebuild bench/daemon/swift beside the recd that wrote the shop)")
        exit(1)
    }
}
let db = orExit("opening \(folder)") { try RecDatabase.open(at: folder) }
var inProcess: [Double] = []
let inProcessCount = Int(ProcessInfo.processInfo.environment["LOAD_IN_PROCESS"] ?? "") ?? 3000
for i in 0..<(wanted("recommend") ? inProcessCount : 0) {
    let started = now()
    _ = orExit("the in-process query") { try db.query(query, parameters: ["u": .string("u\((i * 7919) % users)")]) }
    if i >= 200 { inProcess.append((now() - started) * 1000) }
    if i >= 200, inProcess.last! > 0.8, ProcessInfo.processInfo.environment["LOAD_SLOW"] != nil { log("slow u\((i * 7919) % users) \(inProcess.last!)") }
}
log(String(
    format: "in process: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms", percentile(inProcess, 0.5),
    percentile(inProcess, 0.99), percentile(inProcess, 0.999), inProcess.max() ?? 0))

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}

/// One request as the wire protocol's JSON envelope (no newline).
func requestLine(id: Int, _ text: String, _ parameters: [String: Any]) -> String {
    var line = "{\"id\":\(id),\"q\":" + jsonString(text)
    if !parameters.isEmpty {
        let members = parameters.map { key, value in
            jsonString(key) + ":" + (value is String ? jsonString(value as! String) : "\(value)")
        }
        line += ",\"params\":{" + members.joined(separator: ",") + "}"
    }
    return line + "}"
}

/// Sends one request as the wire protocol's JSON envelope and checks that the answer is the success line of this
/// request id, without decoding its result: Foundation's JSON cost the load generator more CPU than recd spent on
/// the request, on the same two cores. (`querySync`, which decodes, is what the schema tests use.)
func call(_ connection: RecClient, id: Int, _ text: String, _ parameters: [String: Any]) throws {
    let answer = try connection.exchange(requestLine(id: id, text, parameters))
    guard answer.hasPrefix("{\"id\":\(id),\"ok\":true") else {
        throw RecDBError(.badResponse, String(answer.prefix(200)))
    }
}

/// A thread per client connection, blocking on its socket, by default; `LOAD_DRIVER=select`: one thread drives every
/// connection of a phase (`runMultiplexed`, as wrk does). Measured side by side (README, *Daemon benchmark*), the
/// select driver leaves recd more CPU (higher saturated throughput) but not a shorter tail, and its paced sends
/// bunch up when its one thread waits for a core, so the thread per client stays the yardstick.
let threadPerClient = ProcessInfo.processInfo.environment["LOAD_DRIVER"] != "select"

/// `clients` connections for `seconds`; each sends `make(n)` in a closed loop, or paced at `rate` requests per
/// second per client (latency then counts from the scheduled send time, so a stall is not hidden).
func run(
    _ name: String, phase: String, rate: Double?, clients: Int = clients,
    _ make: @escaping @Sendable (Int, Int) -> (String, [String: Any])
) -> (qps: Double, samples: Samples, recdCPUMicroseconds: Double) {
    let samples = Samples()
    guard wanted(phase) else { return (0, samples, 0) }
    let cpuBefore = cpuSeconds(recdPID)
    let group = DispatchGroup()
    let start = now() + 0.2
    if !threadPerClient {
        let result = runMultiplexed(
            socket: socket, clients: clients, seconds: seconds, rate: rate, traced: dumpPath != nil, make)
        samples.add(result.latencies, errors: result.errors, reads: result.reads)
        if let dumpPath { samples.dump(result.trace, to: dumpPath + "." + String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" })) }
    }
    for client in 0..<(threadPerClient ? clients : 0) {
        let thread = Thread {
            defer { group.leave() }
            guard let connection = try? RecClient(socketPath: socket) else { return samples.add([], errors: 1) }
            var latencies: [Double] = [], reads: [Double] = [], errors = 0, n = 0, trace: [String] = []
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
                do { try call(connection, id: n + 1, text, parameters) } catch { errors += 1 }
                latencies.append((now() - scheduled) * 1000)
                if dumpPath != nil { trace.append(String(format: "%d %.6f %.4f %.6f", client, scheduled - start, latencies.last!, scheduled)) }
                if !text.hasPrefix("UPSERT") && !text.hasPrefix("EVENT") { reads.append(latencies.last!) }
                n += 1
            }
            samples.add(latencies, errors: errors, reads: reads)
            if let dumpPath { samples.dump(trace, to: dumpPath + "." + String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" })) }
        }
        group.enter()
        thread.start()
    }
    group.wait()
    let qps = Double(samples.latencies.count) / seconds
    let cpu = (cpuSeconds(recdPID) - cpuBefore) / Double(max(samples.latencies.count, 1)) * 1e6
    let l = samples.latencies
    log(String(
        format: "%@: %.0f requests/s, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, errors %d, recd CPU %.0f µs/request",
        name, qps, percentile(l, 0.5), percentile(l, 0.9), percentile(l, 0.99), percentile(l, 0.999), l.max() ?? 0,
        samples.errors, cpu))
    return (qps, samples, cpu)
}

let recommend: @Sendable (Int, Int) -> (String, [String: Any]) = { client, n in (query, ["u": "u\((client * 7919 + n * 31) % users)"]) }
/// `LOAD_PACED_RATE=N` paces the second recommend phase at N requests/s (for A/B runs at one rate); by default it
/// runs at half the closed loop's throughput.
let fixedPacedRate = ProcessInfo.processInfo.environment["LOAD_PACED_RATE"].flatMap(Double.init)
let saturated = run("recommend, \(clients) clients, closed loop", phase: "recommend", rate: nil, recommend)
let pacedRate = fixedPacedRate ?? (saturated.qps > 0 ? saturated.qps * 0.5 : 2000)
let paced = run(
    "recommend, \(clients) clients at \(Int(pacedRate)) requests/s", phase: "recommend", rate: pacedRate / Double(clients),
    recommend)
// 10 % item writes (a price change, which invalidates cached filters) among WHERE-filtered recommends.
let mixed: @Sendable (Int, Int) -> (String, [String: Any]) = { client, n in
    let k = client * 7919 + n * 31
    if n % 10 == 9 {
        return ("UPSERT ITEM $i SET price = $p", ["i": "i\((k * 13) % 100_000)", "p": Double(k % 200) + 0.49])
    }
    return (
        "RECOMMEND 10 ITEMS FOR USER $u WHERE category = $c AND price < 100 AND available",
        ["u": "u\(k % users)", "c": "Cat\(k % 50)"]
    )
}
let mixedSaturated = run(
    "10 % item writes + filtered recommends, \(clients) clients, closed loop", phase: "mixed", rate: nil, mixed)
let mixedRate = mixedSaturated.qps > 0 ? mixedSaturated.qps * 0.5 : pacedRate
let mixedPaced = run(
    "10 % item writes + filtered recommends at \(Int(mixedRate)) requests/s", phase: "mixed",
    rate: mixedRate / Double(clients), mixed)

/// A probe sending plain RECOMMENDs one at a time while `background` clients each send `make(client, n)` in a
/// closed loop: the probe's samples, and the background requests' latencies (errors: refused or stopped).
func probe(
    _ name: String, phase: String, background: Int, _ make: @escaping @Sendable (Int, Int) -> (String, [String: Any])
) -> (probe: Samples, background: Samples) {
    let stop = Flag()
    let sent = Samples()
    guard wanted(phase) else { return (Samples(), sent) }
    var threads: [Thread] = []
    for client in 0..<background {
        let thread = Thread {
            guard let connection = try? RecClient(socketPath: socket) else { return }
            var n = 0
            while !stop.isSet {
                let started = now()
                let (text, parameters) = make(client, n)
                let outcome: Int
                do {
                    try call(connection, id: n + 1, text, parameters)
                    outcome = 0
                } catch { outcome = 1 }
                sent.add([(now() - started) * 1000], errors: outcome)
                n += 1
            }
        }
        threads.append(thread)
        thread.start()
    }
    usleep(300_000)
    let probe = run("probe, 1 request at a time, \(name)", phase: phase, rate: nil, clients: 1, recommend)
    stop.set()
    usleep(200_000)
    log(String(format: "%@: %d background requests (%d refused or stopped), p50 %.1f ms, max %.1f ms", name,
               sent.latencies.count, sent.errors, percentile(sent.latencies, 0.5), percentile(sent.latencies, 1)))
    return (probe.samples, sent)
}

// Two hostile clients send the heaviest requests the limits allow (an 8-model blend 990 deep with MMR, a 100-item
// basket, generated explanations) and some they refuse.
let hostileQueries = [
    "RECOMMEND 10 ITEMS FOR USER $u USING BLEND(als 1, itemknn 1, popularity 1, content 1, als 2, itemknn 2, popularity 2, content 2) OFFSET 990 DIVERSIFY 0.5",
    "RECOMMEND 100 ITEMS FOR ITEMS (\((0..<100).map { "'i\($0 * 997 % 100_000)'" }.joined(separator: ", "))) DIVERSIFY 0.5",
    "RECOMMEND 10 ITEMS FOR USER $u EXPLAIN GENERATED",
    "RECOMMEND 10 ITEMS FOR USER $u USING BLEND(\((0..<300).map { ["als 1", "itemknn 1", "popularity 1"][$0 % 3] }.joined(separator: ", "))) OFFSET 9900",
    "RECOMMEND 990 ITEMS FOR USER $u OFFSET 10 WHERE price < 150",
]
let hostile = probe("under 2 hostile clients", phase: "probe", background: 2) { client, n in
    (hostileQueries[(client + n) % hostileQueries.count], ["u": "u\((client + n) % users)"])
}

// Four clients ask for cold EXPLAIN GENERATED pages (a user not asked before, so no sentence is cached): the
// language model runs after the read transaction closes, on the slow lane, and plain RECOMMENDs should not wait.
let generatedPage = "RECOMMEND 10 ITEMS FOR USER $u EXPLAIN GENERATED"
/// Whether recd can generate: one page first (it also loads the model). Loading from a cold page cache can pass the
/// request deadline, so a failure is logged and the page asked again, three times at most.
let languageModelReady: Bool = {
    guard wanted("generated"), let connection = try? RecClient(socketPath: socket) else { return false }
    for attempt in 1...3 {
        do {
            let answer = try connection.querySync(generatedPage, parameters: ["u": "u0"]) as? [String: Any]
            guard let generated = answer?["generated"] as? [String: Any] else { return false }
            if let reason = generated["unavailable"] {
                log("generated: skipped, the language model is unavailable: \(reason)")
                return false
            }
            return true
        } catch {
            log("generated: the first page failed (attempt \(attempt) of 3): \(error)")
        }
    }
    return false
}()
let underGenerated = languageModelReady
    ? probe("under 4 cold EXPLAIN GENERATED pages", phase: "generated", background: 4) { client, n in
        (generatedPage, ["u": "u\((1 + client * 4999 + n * 7) % users)"])
    } : nil

let events = run("durable EVENT, \(clients) clients, closed loop", phase: "events", rate: nil) { client, n in
    ("EVENT view USER $u ITEM $i", ["u": "load-\(client)", "i": "i\((client * 131 + n) % 100_000)"])
}
let result: [String: Any] = [
    "clients": clients, "seconds": seconds,
    "p99_ms_in_process": percentile(inProcess, 0.99), "p50_ms_in_process": percentile(inProcess, 0.5),
    "qps_recommend_32_clients": saturated.qps, "p99_ms_recommend_32_clients_saturated": percentile(saturated.samples.latencies, 0.99),
    "paced_qps": pacedRate, "paced_qps_mixed": mixedRate, "p99_ms_recommend_32_clients": percentile(paced.samples.latencies, 0.99),
    "p50_ms_recommend_32_clients": percentile(paced.samples.latencies, 0.5),
    "durable_events_per_s_32_clients": events.qps,
    "p99_ms_saturated_32_clients": percentile(saturated.samples.latencies, 0.99),
    "p50_ms_saturated_32_clients": percentile(saturated.samples.latencies, 0.5),
    "p90_ms_saturated_32_clients": percentile(saturated.samples.latencies, 0.9),
    "p99_ms_mixed_writes": percentile(mixedSaturated.samples.latencies, 0.99),
    "qps_mixed_writes": mixedSaturated.qps,
    "p99_ms_mixed_writes_paced": percentile(mixedPaced.samples.latencies, 0.99),
    "p99_ms_mixed_writes_reads_only": percentile(mixedSaturated.samples.readLatencies, 0.99),
    "p99_ms_mixed_writes_paced_reads_only": percentile(mixedPaced.samples.readLatencies, 0.99),
    "p99_ms_probe_under_hostile": percentile(hostile.probe.latencies, 0.99),
    "p50_ms_probe_under_hostile": percentile(hostile.probe.latencies, 0.5),
    "hostile_requests": hostile.background.latencies.count, "hostile_refused_or_stopped": hostile.background.errors,
    "p99_ms_recommend_under_generated": underGenerated.map { percentile($0.probe.latencies, 0.99) } ?? NSNull(),
    "generated_pages": underGenerated.map { $0.background.latencies.count } ?? NSNull(),
    "recd_cpu_us_per_recommend_saturated": saturated.recdCPUMicroseconds,
    "recd_cpu_us_per_request_mixed": mixedSaturated.recdCPUMicroseconds,
    "errors": saturated.samples.errors + paced.samples.errors + events.samples.errors + mixedSaturated.samples.errors
        + mixedPaced.samples.errors + hostile.probe.errors + (underGenerated?.probe.errors ?? 0),
]
print(String(decoding: orExit("the summary") { try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]) }, as: UTF8.self))
