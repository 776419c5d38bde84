import Foundation

extension PaperReport {
    /// The columns of the main table: name, and how a run gives the value.
    static let columns: [(name: String, metric: @Sendable (PaperMetrics) -> Double?)] = [
        ("P", { $0.precision }), ("R", { $0.recall }), ("NDCG", { $0.ndcg }), ("HR", { $0.hitRate }),
        ("diversity", { $0.diversity }), ("novelty", { $0.novelty }), ("coverage", { $0.coverage }),
        ("cold-user NDCG", { $0.coldUserNDCG }), ("cold-user HR", { $0.coldUserHitRate }),
        ("cold-item HR", { $0.coldItemHitRate }), ("train s", { $0.trainingSeconds }),
    ]

    /// The headline numbers keyed as the issue names them (`ndcg10_hygenrec`, `ndcg10_best_single`,
    /// `ndcg10_hygenrec_without_text`, `cold_user_ndcg10_hygenrec`, …) with `_sd` companions; nil values for
    /// models that did not run.
    public var summary: [String: Any] {
        var out: [String: Any] = ["dataset": dataset, "k": k, "seconds": seconds]
        func put(_ key: String, _ spread: Spread?) {
            out[key] = spread?.mean ?? NSNull()
            out[key + "_sd"] = spread?.sd ?? NSNull()
        }
        for row in rows {
            let key = row.model.replacingOccurrences(of: "hygenrec without ", with: "hygenrec_without_")
                .replacingOccurrences(of: "hygenrec with equal weights", with: "hygenrec_equal_weights")
                .replacingOccurrences(of: " ", with: "_")
            put("ndcg\(k)_\(key)", row.spread(\.ndcg))
            put("p\(k)_\(key)", row.spread(\.precision))
            put("r\(k)_\(key)", row.spread(\.recall))
            put("cold_user_ndcg\(k)_\(key)", row.spread(\.coldUserNDCG))
            put("cold_item_hr\(k)_\(key)", row.spread(\.coldItemHitRate))
            put("train_seconds_\(key)", row.spread(\.trainingSeconds))
        }
        let singles = rows.filter { $0.group == "model" }
        if let best = bestSingle {
            out["best_single"] = best.model
            put("ndcg\(k)_best_single", best.spread(\.ndcg))
        }
        if let bestCold = singles.max(by: {
            ($0.spread(\.coldUserNDCG)?.mean ?? -1) < ($1.spread(\.coldUserNDCG)?.mean ?? -1)
        }), bestCold.spread(\.coldUserNDCG) != nil {
            out["cold_user_best_single"] = bestCold.model
            put("cold_user_ndcg\(k)_best_single", bestCold.spread(\.coldUserNDCG))
        }
        // The issue's names for dropping a generative part: its row under the part's model name.
        let generative = [("llm", "llmprofile"), ("finetune", "textadapter")]
        for (alias, part) in generative {
            // The part's row, also when the part carries parameters (`llmprofile:guided=0`).
            guard let row = rows.first(where: {
                $0.model == "hygenrec without \(part)" || $0.model.hasPrefix("hygenrec without \(part):")
            }) else { continue }
            let name = row.model.replacingOccurrences(of: "hygenrec without ", with: "")
                .replacingOccurrences(of: " ", with: "_")
            for prefix in ["ndcg\(k)", "cold_user_ndcg\(k)"] {
                out["\(prefix)_hygenrec_without_\(alias)"] = out["\(prefix)_hygenrec_without_\(name)"]
                out["\(prefix)_hygenrec_without_\(alias)_sd"] = out["\(prefix)_hygenrec_without_\(name)_sd"]
            }
        }
        for missing in ["gan", "llm", "finetune"] where out["ndcg\(k)_hygenrec_without_\(missing)"] == nil {
            out["ndcg\(k)_hygenrec_without_\(missing)"] = NSNull()
        }
        return out
    }

    /// The report as pretty-printed JSON: the protocol, counts, every run of every row, the notes and ``summary``.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var object = try JSONSerialization.jsonObject(with: encoder.encode(self)) as? [String: Any] ?? [:]
        object["summary"] = summary
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    }

    private static func cell(_ spread: Spread?) -> String {
        guard let spread else { return "–" }
        return spread.sd > 0 ? String(format: "%.4f ± %.4f", spread.mean, spread.sd) : String(format: "%.4f", spread.mean)
    }

    /// The tables as Markdown: main table, HyGenRec and ablation, recall-vs-K, notes.
    public func markdown() -> String {
        var out = "# Paper report: \(dataset)\n\n\(protocolDescription)\n\n"
        out += counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n\n"
        for (title, groups) in [("Models", ["model", "hybrid"]), ("Ablation", ["hybrid", "ablation"])] {
            out += "## \(title) (mean ± sd over seeds, @\(k))\n\n| model | runs | "
                + Self.columns.map(\.name).joined(separator: " | ") + " |\n|---|---|"
                + Self.columns.map { _ in "---" }.joined(separator: "|") + "|\n"
            for row in rows where groups.contains(row.group) {
                out += "| \(row.model) | \(row.runs.count) | "
                    + Self.columns.map { Self.cell(row.spread($0.metric)) }.joined(separator: " | ") + " |\n"
            }
            out += "\n"
        }
        out += "## Recall vs K (mean over seeds)\n\n| model | " + recallCurve.map { "R@\($0)" }.joined(separator: " | ")
            + " |\n|---|" + recallCurve.map { _ in "---" }.joined(separator: "|") + "|\n"
        for row in rows where row.group != "ablation" {
            out += "| \(row.model) | "
                + recallCurve.map { cut in Self.cell(row.spread { $0.recallAt[cut] }) }.joined(separator: " | ") + " |\n"
        }
        if let hybrid = row("hygenrec"), !hybrid.expressions.isEmpty {
            out += "\n## HyGenRec's learned blends (served with `RECOMMEND … USING`)\n\n"
                + hybrid.expressions.map { "- `\($0)`" }.joined(separator: "\n") + "\n"
        }
        if !notes.isEmpty { out += "\n## Notes\n\n" + notes.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        return out
    }

    /// A self-contained HTML page: the tables and inline SVG plots (a bar chart per metric with ±sd error bars, the
    /// ablation, recall-vs-K curves, coverage against novelty). No scripts, no external fonts, images or styles.
    public func html() -> String {
        let e = SVGChart.escape
        var body = "<h1>Paper report: \(e(dataset))</h1><p>\(e(protocolDescription))</p><p>"
            + e(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "</p>"
        let main = rows.filter { $0.group != "ablation" }
        let highlight: Set<String> = ["hygenrec"]
        body += "<h2>Metrics at \(k) (mean ± sd over seeds)</h2><div class=\"grid\">"
        for (name, metric) in Self.columns.prefix(7) {
            let shown = main.filter { $0.spread(metric) != nil }
            body += "<figure>" + SVGChart.bars(
                title: "\(name)\(name == "diversity" || name == "novelty" || name == "coverage" ? "" : "@\(k)")",
                labels: shown.map(\.model), means: shown.map { $0.spread(metric)!.mean },
                sds: shown.map { $0.spread(metric)!.sd }, highlight: highlight) + "</figure>"
        }
        body += "</div><h2>Cold start</h2><div class=\"grid\">"
        for (name, metric) in Self.columns.dropFirst(7).prefix(3) {
            let shown = main.filter { $0.spread(metric) != nil }
            guard !shown.isEmpty else { continue }
            body += "<figure>" + SVGChart.bars(
                title: "\(name)@\(k)", labels: shown.map(\.model), means: shown.map { $0.spread(metric)!.mean },
                sds: shown.map { $0.spread(metric)!.sd }, highlight: highlight) + "</figure>"
        }
        let ablation = rows.filter { $0.group != "model" }
        body += "</div><h2>Ablation</h2><div class=\"grid\"><figure>" + SVGChart.bars(
            title: "HyGenRec ablation, NDCG@\(k)", labels: ablation.map(\.model),
            means: ablation.map { $0.spread(\.ndcg)?.mean ?? 0 }, sds: ablation.map { $0.spread(\.ndcg)?.sd ?? 0 },
            highlight: highlight) + "</figure>"
        body += "<figure>" + SVGChart.lines(
            title: "Recall vs K", xLabels: recallCurve.map(String.init),
            series: main.map { row in (row.model, recallCurve.map { cut in row.spread { $0.recallAt[cut] }?.mean ?? 0 }) },
            xTitle: "K", yTitle: "recall") + "</figure>"
        body += "<figure>" + SVGChart.scatter(
            title: "Coverage and novelty", points: main.map {
                ($0.model, $0.spread(\.coverage)?.mean ?? 0, $0.spread(\.novelty)?.mean ?? 0)
            }, xTitle: "catalog coverage", yTitle: "novelty (bits)") + "</figure></div>"
        body += "<h2>Tables</h2>" + htmlTable(rows)
        if let hybrid = row("hygenrec"), !hybrid.expressions.isEmpty {
            body += "<h2>HyGenRec's learned blends</h2><ul>"
                + hybrid.expressions.map { "<li><code>\(e($0))</code></li>" }.joined() + "</ul>"
        }
        if !notes.isEmpty { body += "<h2>Notes</h2><ul>" + notes.map { "<li>\(e($0))</li>" }.joined() + "</ul>" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Paper report: \(e(dataset))</title>
            <style>body{font-family:sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse;font-size:13px}\
            td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child{text-align:left}\
            .grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}</style></head>
            <body>\(body)</body></html>

            """
    }

    private func htmlTable(_ rows: [PaperRow]) -> String {
        var out = "<table><tr><th>model</th><th>runs</th>"
            + Self.columns.map { "<th>\(SVGChart.escape($0.name))</th>" }.joined() + "</tr>"
        for row in rows {
            out += "<tr><td>\(SVGChart.escape(row.model))</td><td>\(row.runs.count)</td>"
                + Self.columns.map { "<td>\(Self.cell(row.spread($0.metric)))</td>" }.joined() + "</tr>"
        }
        return out + "</table>"
    }
}
