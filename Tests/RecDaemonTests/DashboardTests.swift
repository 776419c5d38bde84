import Foundation
import RecClient
import RecDB
import RecTestSupport
import Testing

/// `recd --metrics`: the dashboard's pages in a real headless Chromium (no console errors, no refused resources, the
/// content each page promises, a screenshot of each), and the option's refusals. The Prometheus endpoint is read by
/// `prometheus_client`'s parser in `clients/python/tests/test_metrics.py`.
@Suite("recd dashboard", .serialized)
struct DashboardTests {
    @Test func everyPageLoadsInHeadlessChromiumWithoutConsoleErrors() throws {
        try #require(HeadlessChromium.path != nil, "Chromium is needed to check the dashboard: run `bash scripts/setup`")
        let daemon = try Daemon(arguments: ["--metrics", "127.0.0.1:0"])
        let port = try daemon.httpPort()
        let client = try daemon.client()
        _ = try client.querySync(
            "CREATE EXPERIMENT ranker VARIANTS (control: USING popularity, b: USING itemknn) SPLIT 50/50")
        // Pages over about a second and a half, some clicked: a curve per variant with its band.
        for round in 0..<3 {
            for user in 0..<30 {
                let answer = try #require(
                    try client.querySync("RECOMMEND 4 ITEMS FOR USER $u IN EXPERIMENT ranker", parameters: ["u": "u\(user)"])
                        as? [String: Any])
                let rid = try #require(answer["recommendation_id"] as? String)
                let items = try #require(answer["items"] as? [[String: Any]]).compactMap { $0["id"] as? String }
                if (user + round) % 3 == 0 {
                    _ = try client.querySync(
                        "EVENT click USER $u ITEM $i FROM RECOMMENDATION $r",
                        parameters: ["u": "u\(user)", "i": items[0], "r": rid])
                }
            }
            usleep(600_000)
        }
        let screenshots = ProcessInfo.processInfo.environment["RECDB_SCREENSHOTS"] ?? daemon.folder
        let pages = [
            ("", ["Catalogue", "Events by type", "<svg"]), ("models", ["itemknn", "als", "popularity"]),
            ("experiments", ["ranker", "Click-through over time", "<polygon", "<polyline"]),
            ("console", ["Query console", "reads only"]),
        ]
        for (path, expected) in pages {
            let url = "http://127.0.0.1:\(port)/\(path)"
            let (dom, problems) = try HeadlessChromium.load(url)
            #expect(problems.isEmpty, "\(url): \(problems)")
            for text in expected { #expect(dom.contains(text), "\(url) lacks \(text): \(dom.prefix(600))") }
            let file = screenshots + "/dashboard-\(path.isEmpty ? "overview" : path).png"
            let log = try HeadlessChromium.screenshot(url, to: file, width: 1200, height: 1000)
            let png = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(log.suffix(600))")
        }
        #expect(daemon.terminate() == 0)
    }

    @Test func metricsTakeOnlyALoopbackAddress() throws {
        let recd = try #require(Daemon.executable)
        for address in ["0.0.0.0:9464", "192.0.2.1:9464", "9464", "127.0.0.1:99999"] {
            let run = try runTool(recd.path, ["--db", "/nonexistent", "--metrics", address])
            #expect(run.status != 0)
            #expect(run.stderr.contains("--metrics takes a loopback HOST:PORT"), "\(address): \(run.stderr)")
        }
    }
}

extension Daemon {
    /// The HTTP side's port, read from recd's log line `metrics and dashboard on http://HOST:PORT/`.
    func httpPort() throws -> Int {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let range = logText.range(of: #"metrics and dashboard on http://[^ ]+:(\d+)/"#, options: .regularExpression) {
                let match = logText[range]
                let digits = match.dropLast().reversed().prefix { $0.isNumber }
                if let port = Int(String(digits.reversed())) { return port }
            }
            usleep(20_000)
        }
        throw RecDBError(.unavailable, "recd logged no HTTP port: \(logText)")
    }
}
