// Latency of the text model in use: inserting an item with text (the encoder runs inside the write transaction,
// which commits durably), and MATCHING queries through a running recd. One JSON object on stdout.
//
//   text-latency insert DB_FOLDER N          items upserted one per transaction, with the text model trained
//   text-latency matching SOCKET N           MATCHING queries through recd, one client
import Foundation
import RecClient
import RecDB
import RecText

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
let arguments = CommandLine.arguments
let count = Int(arguments[3]) ?? 300
let nouns = ["stapler", "notebook", "pen", "desk lamp", "label printer", "paper shredder", "whiteboard", "binder",
             "envelope", "calculator", "printer ink", "sticky notes", "file cabinet", "office chair", "monitor stand"]
let adjectives = ["heavy duty", "compact", "wireless", "recycled", "ergonomic", "black", "colourful", "premium"]
var times: [Double] = []
switch arguments[1] {
case "insert":
    // The text model and its encoder are RecText's: installed as recd and recctl install them.
    RecText.install()
    let db = try RecDatabase.open(at: arguments[2])
    for i in 0..<count + 20 {
        let title = "\(adjectives[i % adjectives.count].capitalized) \(nouns[(i * 7) % nouns.count]) model \(i)"
        let started = now()
        try db.write { w in
            try w.upsertItem(
                "bench-\(i)-\(UInt32.random(in: 0...UInt32.max))",
                attributes: ["title": .string(title), "category": .string("Office Products/Benchmark")])
        }
        if i >= 20 { times.append((now() - started) * 1000) }
    }
case "matching":
    let client = try RecClient(socketPath: arguments[2])
    for i in 0..<count + 20 {
        let phrase = "\(adjectives[(i * 3) % adjectives.count]) \(nouns[i % nouns.count]) for the office"
        let started = now()
        _ = try client.querySync("RECOMMEND 10 ITEMS MATCHING $q", parameters: ["q": phrase])
        if i >= 20 { times.append((now() - started) * 1000) }
    }
default:
    FileHandle.standardError.write("usage: text-latency insert DB N | matching SOCKET N\n".data(using: .utf8)!)
    exit(64)
}
let result: [String: Any] = ["what": arguments[1], "count": count, "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99)]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
