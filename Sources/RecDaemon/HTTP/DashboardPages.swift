import Foundation
import RecDB

/// The dashboard's pages: plain HTML with inline SVG charts (``SVGChart``, the paper report's), one stylesheet and one
/// script, all served by recd itself (``DashboardAssets``), nothing from the network. Each page reads the database
/// through the query language (`SHOW STATS`, `SHOW MODELS`, `SHOW EXPERIMENTS`, `SHOW EXPERIMENT`) and
/// ``RecDatabase/experimentTimeline(_:points:)``, on the reader pool, and only with at least the `read` role.
struct DashboardPages: Sendable {
    let server: ServerContext
    let role: Role

    /// Runs `page` on the reader pool (pages read the database; the HTTP loop never waits on it).
    func run(_ page: @escaping @Sendable () throws -> String) async throws -> String {
        try await server.readers.runIfActive(page)
    }

    // MARK: - Pages

    /// `/`: the daemon's counters, the catalogue and the events by type.
    func overview() throws -> String {
        let status = server.status(role: role)
        var body = "<h1>Overview</h1>"
        body += "<section><h2>Daemon</h2>" + Self.table(
            ["uptime (s)", "connections", "requests served", "in flight", "writes committed", "write batches"],
            [[status["uptime_s"], status["connections"], status["requests_served"], status["requests_in_flight"],
              status["writes_committed"], status["write_batches"]].map(Self.text)]) + "</section>"
        guard role >= .read else { return Self.layout("Overview", body + Self.noAccess) }
        let stats = try query("SHOW STATS")
        body += "<section><h2>Catalogue</h2>" + Self.table(
            ["users", "items", "events", "sessions"],
            [[stats["users"], stats["items"], stats["events"], stats["sessions"]].map(Self.text)]) + "</section>"
        let environment = server.database.environment
        body += "<section><h2>Storage</h2>" + Self.table(
            ["file", "map", "map in use", "reader slots used"],
            [[Self.bytes(environment.fileSize), Self.bytes(environment.mapSize), Self.bytes(environment.usedBytes),
              "\(environment.readerTable.slotsUsed) of \(environment.readerTable.capacity)"]]) + "</section>"
        if case .object(let byType)? = stats["events_by_type"], !byType.isEmpty {
            let sorted = byType.sorted { $0.key < $1.key }
            body += "<section><h2>Events by type</h2>" + SVGChart.bars(
                title: "Events by type", labels: sorted.map(\.key), means: sorted.map { $0.value.numberValue ?? 0 },
                sds: Array(repeating: 0, count: sorted.count)) + "</section>"
        }
        return Self.layout("Overview", body)
    }

    /// `/models`: every stored model, its generation, training and last evaluation.
    func models() throws -> String {
        guard role >= .read else { return Self.layout("Models", "<h1>Models</h1>" + Self.noAccess) }
        let models = try query("SHOW MODELS")["models"]?.arrayValue ?? []
        let rows = models.map { model -> [String] in
            var evaluation = "—"
            if case .object(let metrics)? = model["evaluation"] {
                evaluation = metrics.sorted { $0.key < $1.key }.map { "\($0.key) \(Self.text($0.value))" }
                    .joined(separator: ", ")
            }
            return [
                Self.text(model["name"]), Self.text(model["kind"]), Self.text(model["generation"]),
                Self.text(model["trained_at"]), Self.text(model["training_seconds"]), Self.text(model["events"]),
                evaluation,
            ]
        }
        let body =
            "<h1>Models</h1>"
            + (rows.isEmpty
                ? "<p>No models yet: <code>REFRESH popularity</code> trains one.</p>"
                : Self.table(["name", "kind", "generation", "trained at", "seconds", "events", "last evaluation"], rows))
        return Self.layout("Models", body)
    }

    /// `/experiments`: each experiment's variants (impressions, clicks, click-through with its interval,
    /// conversion, revenue per user) and its click-through over time with 95 % intervals.
    func experiments() throws -> String {
        guard role >= .read else { return Self.layout("Experiments", "<h1>Experiments</h1>" + Self.noAccess) }
        let list = try query("SHOW EXPERIMENTS")["experiments"]?.arrayValue ?? []
        var body = "<h1>Experiments</h1>"
        if list.isEmpty { body += "<p>No experiments yet: see <code>CREATE EXPERIMENT</code> in the README.</p>" }
        for entry in list {
            guard let name = entry["name"]?.stringValue else { continue }
            let report = try query("SHOW EXPERIMENT $name", parameters: ["name": .string(name)])
            body += "<section class=\"experiment\"><h2>\(SVGChart.escape(name)) <small>\(Self.text(report["state"])), "
                + "\(Self.text(report["allocation"]))</small></h2>"
            let rows = (report["variants"]?.arrayValue ?? []).map { variant -> [String] in
                [
                    Self.text(variant["name"]), Self.text(variant["using"]), Self.text(variant["share"]),
                    Self.text(variant["users"]), Self.text(variant["impressions"]), Self.text(variant["clicks"]),
                    Self.percent(variant["ctr"]) + " " + Self.interval(variant["ctr_interval"]),
                    Self.percent(variant["conversion_rate"]) + " " + Self.interval(variant["conversion_interval"]),
                    Self.text(variant["revenue_per_user"]),
                ]
            }
            body += Self.table(
                ["variant", "using", "share", "users", "impressions", "clicks", "CTR [95 %]", "conversion [95 %]",
                 "revenue / user"], rows)
            body += Self.ctrChart(try server.database.experimentTimeline(name, points: 8))
            body += "</section>"
        }
        return Self.layout("Experiments", body)
    }

    /// `/console`: a statement box whose answers come from `POST /api/query` with the HTTP side's role.
    func console() -> String {
        let body = """
            <h1>Query console</h1>
            <p>Statements run with the <strong>\(role)</strong> role (<code>recd --http-role</code>): \
            \(role >= .write ? "reads and writes" : role >= .read ? "reads only" : "nothing but STATUS").</p>
            <form id="console"><textarea id="query" name="query" rows="4" spellcheck="false">SHOW STATS</textarea>
            <button type="submit">Run</button></form>
            <pre id="answer" aria-live="polite"></pre>
            <script src="/assets/console.js"></script>
            """
        return Self.layout("Console", body)
    }

    // MARK: - Pieces

    private func query(_ text: String, parameters: [String: QueryValue] = [:]) throws -> QueryValue {
        let statement = try server.database.prepare(text, parameters: parameters, limits: server.policy.limits)
        return try server.database.execute(statement, control: RequestControl(timeout: server.policy.readDeadline))
    }

    static let noAccess = "<p>The HTTP side has the <code>none</code> role (<code>recd --http-role</code>).</p>"

    /// Each variant's cumulative click-through rate with a shaded 95 % band.
    static func ctrChart(_ timeline: ExperimentTimeline) -> String {
        guard let first = timeline.variants.first?.points, let start = first.first?.time, let end = first.last?.time,
            timeline.variants.contains(where: { ($0.points.last?.impressions ?? 0) > 0 })
        else { return "<p>No impressions yet.</p>" }
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let span = end - start
        formatter.dateFormat = span > 2 * 86_400_000 ? "MM-dd" : span > 3_600_000 ? "HH:mm" : "HH:mm:ss"
        let labels = first.map { formatter.string(from: Date(timeIntervalSince1970: Double($0.time) / 1000)) }
        return SVGChart.lines(
            title: "Click-through over time (cumulative, 95 % intervals)", xLabels: labels,
            series: timeline.variants.map { ($0.name, $0.points.map(\.ctr)) }, xTitle: "time (UTC)", yTitle: "CTR",
            bands: timeline.variants.map { ($0.points.map(\.low), $0.points.map(\.high)) })
    }

    static func layout(_ title: String, _ body: String) -> String {
        let links = [("/", "Overview"), ("/models", "Models"), ("/experiments", "Experiments"), ("/console", "Console"),
                     ("/metrics", "Metrics")]
        let navigation = links.map { "<a href=\"\($0.0)\"\($0.1 == title ? " aria-current=\"page\"" : "")>\($0.1)</a>" }
            .joined()
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(SVGChart.escape(title)) · recd</title><link rel="icon" href="data:,">
            <link rel="stylesheet" href="/assets/dashboard.css"></head>
            <body><header><span class="brand">RecDB</span><nav>\(navigation)</nav></header>
            <main>\(body)</main></body></html>
            """
    }

    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let head = headers.map { "<th>\(SVGChart.escape($0))</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\(SVGChart.escape($0))</td>" }.joined() + "</tr>" }.joined()
        return "<table><thead><tr>\(head)</tr></thead><tbody>\(body)</tbody></table>"
    }

    /// A value as short text: whole numbers without decimals, others with up to four.
    static func text(_ value: QueryValue?) -> String {
        switch value {
        case .number(let number)?:
            if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
            return String(format: "%.4g", number)
        case .string(let text)?: return text
        case .bool(let flag)?: return flag ? "yes" : "no"
        case nil, .null?: return "—"
        case let other?: return other.jsonText
        }
    }

    static func percent(_ value: QueryValue?) -> String {
        guard let number = value?.numberValue else { return "—" }
        return String(format: "%.2f %%", number * 100)
    }

    static func interval(_ value: QueryValue?) -> String {
        guard let low = value?[0]?.numberValue, let high = value?[1]?.numberValue else { return "" }
        return String(format: "[%.2f, %.2f]", low * 100, high * 100)
    }

    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count), unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
