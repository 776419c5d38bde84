import Foundation
import Testing

@testable import RecDB

/// How long the filter of recd's mixed-writes benchmark takes on 100,000 items while single-item price changes
/// commit between requests: decoding every item (the scan filters used before the attribute index), the attribute
/// index, and the filter cache in front of it. Prints the numbers; runs only with `RECDB_MEASURE=1`.
@Suite("Filter measurement")
struct FilterMeasurementTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["RECDB_MEASURE"] != nil))
    func measureFilteredRequestsUnderItemWrites() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            let itemCount = 100_000
            for batch in stride(from: 0, to: itemCount, by: 10_000) {
                try db.write { w in
                    for i in batch..<(batch + 10_000) {
                        try w.upsertItem(
                            "i\(i)",
                            attributes: [
                                "title": .string("Item \(i)"), "category": .string("C\(i % 50)/S\(i % 7)"),
                                "price": .number(Double(i % 200) + 0.49), "available": .bool(i % 10 != 0),
                            ])
                    }
                }
            }
            func predicate(_ n: Int) -> ItemPredicate {
                .and([.category("C\(n % 50)"), .compare(attribute: "price", .less, .number(100)), .available])
            }
            var times: [String: [Double]] = [:]
            func time(_ name: String, _ body: () throws -> Void) rethrows {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                times[name, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            for n in 0..<200 {
                try db.write { w in
                    try w.upsertItem("i\((n * 13) % itemCount)", attributes: ["price": .number(Double(n % 200) + 0.49)])
                }
                try db.read { r in
                    var scanned = AllowedSet(), indexed = AllowedSet(), cached = AllowedSet()
                    if n % 10 == 0 { try time("scan (every item decoded)") { scanned = try r.scannedItems(matching: predicate(n)) } }
                    try time("attribute index") { indexed = try r.items(matching: predicate(n)) }
                    try time("filter cache over the index") { cached = try r.cachedItems(matching: predicate(n)) }
                    #expect(indexed == cached)
                    if n % 10 == 0 { #expect(scanned == indexed) }
                }
            }
            let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first ?? "?"
            print("filter `category = C AND price < 100 AND available`, 100,000 items, a price write before each; load \(load)")
            for (name, samples) in times.sorted(by: { $0.key < $1.key }) {
                let sorted = samples.sorted()
                let p50 = sorted[sorted.count / 2], p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
                print("  \(name): p50 \(String(format: "%.3f", p50)) ms, p99 \(String(format: "%.3f", p99)) ms, n \(samples.count)")
            }
        }
    }
}
