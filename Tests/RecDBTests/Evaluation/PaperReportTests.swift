import Foundation
import Testing

@testable import RecDB

/// The paper protocol's parts: the per-user split, the k-core, the recall curve, HyGenRec's learned blender and
/// the report's rendering, then a whole report on a small database.
@Suite("Paper report")
struct PaperReportTests {
    @Test func perUserSplitHoldsOutEachUsersLastTenthForTestAndTheTenthBefore() {
        var events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)] = []
        // user 0: 20 events on items 0…19 → 16 train, 2 validation (16, 17), 2 test (18, 19)
        for n in 0..<20 { events.append((0, UInt32(n), 1, Int64(n))) }
        // user 1: 5 events → 3 train, 1 validation, 1 test
        for n in 0..<5 { events.append((1, UInt32(n), 1, Int64(100 + n))) }
        // user 2: 2 events → training only
        events += [(2, 1, 1, 200), (2, 2, 1, 201)]
        let split = EvaluationSplit(.of(events, users: 3, items: 20), kind: .perUser)
        #expect(split.test == [0: [18, 19], 1: [4]])
        #expect(split.validation == [0: [16, 17], 1: [3]])
        #expect(split.train.count == 16 + 3 + 2)
        #expect(EvaluationSplit.Kind(rawValue: "per-user-80-10-10") == .perUser)
    }

    @Test func coreRemovesUsersAndItemsBelowTheThresholdUntilStable() {
        // Users 0–2 meet items 0–2 (3 each); user 3 meets items 0 and 3: item 3 has one user, so it goes, then user 3
        // has one item left and goes too.
        var pairs: [(UInt32, UInt32)] = []
        for user in UInt32(0)..<3 { for item in UInt32(0)..<3 { pairs.append((user, item)) } }
        pairs += [(3, 0), (3, 3)]
        let cored = InteractionLog.pairs(pairs, users: 4, items: 4).core(3)
        #expect(Set(cored.users) == [0, 1, 2])
        #expect(Set(cored.items) == [0, 1, 2])
        #expect(cored.count == 9)
    }

    @Test func pairwiseRankerWeighsTheFeatureThatSeparatesPositives() {
        var ranker = PairwiseRanker(features: 2)
        for user in 0..<50 {
            // Feature 0 ranks the positive first; feature 1 is noise that favours negatives half the time.
            let noise: Float = user % 2 == 0 ? 0.9 : 0.1
            ranker.add(positives: [[1, 1 - noise]], negatives: [[0.3, noise], [0.2, 0.5]])
        }
        let weights = ranker.fit()
        #expect(weights.count == 2 && abs(weights.reduce(0, +) - 1) < 1e-5)
        #expect(weights[0] > 0.7, "\(weights)")
    }

    /// A learned blend's list is the list of `BLEND` with the weights of the user's group: one scorer.
    @Test func learnedBlendScoresAsTheBlendOfItsGroupsWeights() throws {
        let log = InteractionLog.pairs(
            [(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (2, 3), (2, 4), (2, 5), (3, 0), (3, 5)], users: 4, items: 6)
        let parts = [try ModelSpec.named("itemknn").train(on: log), try ModelSpec.named("popularity").train(on: log)]
        let learned = LearnedBlendModel(
            name: "hygenrec", parts: parts, partNames: ["itemknn", "popularity"], warmWeights: [0.8, 0.2],
            coldWeights: [0.1, 0.9])
        let warm = BlendModel(name: "b", parts: parts, weights: [0.8, 0.2])
        let cold = BlendModel(name: "b", parts: parts, weights: [0.1, 0.9])
        #expect(learned.scores(for: 0, in: log, items: 6) == warm.scores(for: 0, in: log, items: 6))
        #expect(learned.scores(for: 1, in: log, items: 6) == cold.scores(for: 1, in: log, items: 6))
        #expect(learned.expression(cold: false) == "BLEND(itemknn 0.800, popularity 0.200)")
    }

    @Test func recallCurveGrowsWithKAndMatchesRecallAtK() throws {
        var events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)] = []
        for user in UInt32(0)..<30 {
            for n in 0..<10 { events.append((user, (user * 3 + UInt32(n) * 7) % 40, 1, Int64(n))) }
        }
        let split = EvaluationSplit(.of(events, users: 30, items: 40), kind: .perUser)
        let evaluator = Evaluator(split: split, k: 10, catalogItems: 40, recallCurve: [1, 5, 10, 20, 10])
        #expect(evaluator.recallCurve == [1, 5, 10, 20])
        let model = try ModelSpec.named("popularity").train(on: split.train)
        let result = evaluator.evaluate(model, threads: 1)
        let curve = try #require(result.recallAt)
        #expect(curve[1]! <= curve[5]! && curve[5]! <= curve[10]! && curve[10]! <= curve[20]!)
        #expect(abs(curve[10]! - result.recall) < 1e-12)
    }

    @Test func svgChartsAreWellFormedAndEscapeLabels() throws {
        let charts = [
            SVGChart.bars(title: "NDCG <@10>", labels: ["a&b", "c"], means: [0.1, 0.2], sds: [0.01, 0]),
            SVGChart.lines(title: "Recall", xLabels: ["1", "10"], series: [("a", [0.1, 0.3])], xTitle: "K", yTitle: "R"),
            SVGChart.scatter(title: "x", points: [("a", 0.1, 3), ("b'", 0.2, 4)], xTitle: "c", yTitle: "n"),
        ]
        for svg in charts { #expect(Self.tagsBalance(svg), "\(svg)") }
        #expect(charts[0].contains("a&amp;b") && charts[0].contains("NDCG &lt;@10&gt;"))
    }

    /// The whole protocol on a small shop: every known model gets a row per seed, unknown kinds a note, HyGenRec and
    /// its ablation rows, and the three renderings.
    @Test func paperReportRunsEveryModelAndTheHybridOnASmallShop() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeShop(folder)
            var settings = PaperProtocol.quick
            settings.models = ["popularity", "itemknn", "als", "nosuchkind"]
            settings.hybridParts = ["als", "itemknn", "popularity"]
            settings.seeds = 2
            settings.threads = 1
            let report = try db.paperReport(settings, dataset: "shop")
            #expect(report.rows.map(\.model) == [
                "popularity", "itemknn", "als", "hygenrec", "hygenrec without als", "hygenrec without itemknn",
                "hygenrec without popularity", "hygenrec with equal weights",
            ])
            #expect(report.row("als")?.runs.count == 2)
            #expect(report.row("popularity")?.runs.count == 1)  // no seed: deterministic, one run
            #expect(report.row("hygenrec")?.runs.count == 2)
            #expect(report.notes.contains { $0.hasPrefix("nosuchkind: skipped") })
            #expect(report.counts["test_users"]! > 0)
            let summary = report.summary
            #expect(summary["ndcg10_hygenrec"] is Double && summary["ndcg10_best_single"] is Double)
            #expect(summary["ndcg10_hygenrec_without_gan"] is NSNull)
            let json = try JSONSerialization.jsonObject(with: report.json()) as? [String: Any]
            #expect((json?["rows"] as? [Any])?.count == 8)
            let html = report.html()
            let charts = html.components(separatedBy: "<svg ").count - 1
            #expect(html.hasPrefix("<!DOCTYPE html>") && charts >= 10)
            // Nothing to fetch: no scripts, and the only URL is each chart's SVG namespace.
            #expect(!html.contains("<script"))
            #expect(html.components(separatedBy: "http").count - 1 == charts)
            #expect(report.markdown().contains("| hygenrec | 2 |"))
        }
    }

    /// A kind with its own parameters is its own row; an augmented HyGenRec part adds `hygenrec without gan`, the
    /// blend over the same parts with that one trained without CFGAN's interactions, keyed `ndcg10_hygenrec_without_gan`.
    @Test func augmentedPartGivesTheWithoutGanRow() throws {
        #expect(try PaperProtocol.variant("als:augment_weight=0.3:factors=8") == ("als", ["augment_weight": 0.3, "factors": 8]))
        #expect(PaperProtocol.variantName(kind: "als", parameters: ["factors": 8, "augment_weight": 0.5]) == "als:augment_weight=0.5:factors=8")
        #expect(throws: RecDBError.self) { try PaperProtocol.variant("als:augment_weight") }
        try TemporaryDirectory.with { folder in
            let db = try Self.makeShop(folder)
            var settings = PaperProtocol.quick
            settings.models = ["als", "als:augment_weight=0.3:augment_sparse_users=20", "als:no_such_parameter=1"]
            settings.hybridParts = ["als:augment_weight=0.3:augment_sparse_users=20", "itemknn"]
            settings.parameters = ["als": ["factors": 8, "iterations": 3]]
            settings.threads = 1
            let report = try db.paperReport(settings, dataset: "shop")
            #expect(report.rows.map(\.model) == [
                "als", "als:augment_weight=0.3:augment_sparse_users=20", "hygenrec",
                "hygenrec without als:augment_weight=0.3:augment_sparse_users=20", "hygenrec without itemknn",
                "hygenrec without gan", "hygenrec with equal weights",
            ])
            #expect(report.notes.contains { $0.hasPrefix("als:no_such_parameter=1: skipped") && $0.contains("augment_weight") })
            #expect(report.row("hygenrec without gan")?.expressions.first?.contains("BLEND(als") == true)
            // The augmented ALS differs from plain ALS (synthetic positives change its factors).
            #expect(report.row("als")?.runs.first?.ndcg != nil)
            #expect(report.summary["ndcg10_hygenrec_without_gan"] is Double)
            #expect(report.summary["ndcg10_hygenrec_without_llm"] is NSNull)
        }
    }

    /// Whether every element of `markup` is closed in order (`<a>…</a>` or `<a/>`), with no stray `<` or `&` in
    /// text: the well-formedness an SVG needs, checked without an XML library.
    static func tagsBalance(_ markup: String) -> Bool {
        var open: [Substring] = []
        var rest = Substring(markup)
        while let start = rest.firstIndex(where: { $0 == "<" || $0 == "&" }) {
            if rest[start] == "&" {
                let entity = rest[start...].prefix { $0 != ";" }
                guard ["&amp", "&lt", "&gt", "&quot", "&#39"].contains(String(entity)) else { return false }
                rest = rest[rest.index(start, offsetBy: entity.count)...]
                continue
            }
            guard let end = rest[start...].firstIndex(of: ">") else { return false }
            let tag = rest[rest.index(after: start)..<end]
            if tag.hasPrefix("/") {
                guard open.popLast() == tag.dropFirst() else { return false }
            } else if !tag.hasSuffix("/") {
                open.append(tag.prefix { $0 != " " })
            }
            rest = rest[rest.index(after: end)...]
        }
        return open.isEmpty
    }

    /// 60 users in three taste groups over 30 items with categories, 12 events each, one minute apart.
    static func makeShop(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        try db.write { w in
            for item in 0..<30 {
                try w.upsertItem(
                    "i\(item)", attributes: ["title": .string("Item \(item)"), "category": .string("C\(item % 3)")])
            }
            var random = SplitMix(seed: 11)
            for user in 0..<60 {
                for n in 0..<12 {
                    let item = (user % 3) + 3 * Int(random.next() % 10)
                    let time = Timestamp(milliseconds: 1_700_000_000_000 + Int64(user * 100 + n) * 60_000)
                    try w.addEvent(EventInput(user: "u\(user)", item: "i\(item)", type: "view", timestamp: time))
                }
            }
        }
        return db
    }
}
