import Foundation
import Testing

@testable import RecDB

/// Experiments end to end on the recommend fixture: bucketing, impressions, attribution, ramping, stopping, and
/// `SHOW EXPERIMENT` against an independent count.
@Suite("Experiments")
struct ExperimentTests {
    static let create = "CREATE EXPERIMENT 'ranker' VARIANTS (control: USING popularity, b: USING itemknn) SPLIT 50/50"

    static func items(_ answer: QueryValue) -> [String] {
        (answer["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    @Test func recommendationIDsAre24LowercaseHexDigitsThatParseBack() {
        for (experiment, number) in [(UInt32(0), UInt64(0)), (3, 0x00a4_c9e1_f2b3_7d58), (.max, .max), (0xabc, 1 << 63)] {
            let id = RecommendationID(experiment: experiment, number: number)
            let text = id.description
            #expect(text == String(format: "%08x%016llx", experiment, number))
            #expect(RecommendationID(text) == id)
        }
    }

    @Test func bucketingIsDeterministicAndBalanced() {
        let experiment = Experiment(
            name: "e", number: 1,
            variants: [.init(name: "control", using: "als", share: 50), .init(name: "b", using: "ease", share: 50)],
            allocation: .split, state: .running, attributionWindowSeconds: 60, createdAt: "", changedAt: "")
        var counts = [0, 0]
        for user in 0..<20_000 {
            let variant = experiment.splitVariant(for: "u:\(user)")
            #expect(variant == experiment.splitVariant(for: "u:\(user)"))
            counts[variant] += 1
        }
        #expect(abs(counts[0] - 10_000) < 400, "\(counts)")
        // Ramping the control down moves only control users: nobody leaves b.
        var ramped = experiment
        ramped.variants[0].share = 20
        ramped.variants[1].share = 80
        var moved = 0
        for user in 0..<20_000 {
            let before = experiment.splitVariant(for: "u:\(user)"), after = ramped.splitVariant(for: "u:\(user)")
            #expect(!(before == 1 && after == 0))
            if before != after { moved += 1 }
        }
        #expect(abs(moved - 6_000) < 400, "\(moved) moved")
        // Another experiment buckets independently.
        var other = experiment
        other.name = "f"
        let agree = (0..<20_000).count { experiment.splitVariant(for: "u:\($0)") == other.splitVariant(for: "u:\($0)") }
        #expect(abs(agree - 10_000) < 400, "\(agree)")
    }

    @Test func syntaxAndErrors() throws {
        try RecommendTests.with { db in
            expectRecDBError(.invalidArgument) {
                _ = try db.query("CREATE EXPERIMENT x VARIANTS (a: USING popularity, b: USING als) SPLIT 60/50")
            }
            expectRecDBError(.invalidArgument) {
                _ = try db.query("CREATE EXPERIMENT x VARIANTS (a: USING popularity, b: USING als) SPLIT 100")
            }
            expectRecDBError(.invalidArgument) {
                _ = try db.query("CREATE EXPERIMENT x VARIANTS (a: USING popularity, a: USING als)")
            }
            expectRecDBError(.syntax) { _ = try db.query("CREATE EXPERIMENT x VARIANTS (a USING popularity)") }
            expectRecDBError(.notFound) { _ = try db.query("RECOMMEND 3 ITEMS FOR USER u1 IN EXPERIMENT nope") }
            let created = try db.query(
                "CREATE EXPERIMENT x VARIANTS ('a': USING popularity, b: USING BLEND(als 0.6, itemknn 0.4), c : USING als) ALLOCATION thompson WINDOW 2 HOURS")
            #expect(created["variants"]?[1]?["using"] == "BLEND(als 0.6, itemknn 0.4)")
            #expect(created["variants"]?.arrayValue?.compactMap { $0["share"]?.numberValue } == [34, 33, 33])
            #expect(created["allocation"] == "thompson" && created["attribution_window_s"] == 7200)
            expectRecDBError(.alreadyExists) { _ = try db.query("CREATE EXPERIMENT x VARIANTS (a: USING als, b: USING als)") }
            expectRecDBError(.syntax) { _ = try db.query("RECOMMEND 3 ITEMS FOR USER u1 USING als IN EXPERIMENT x") }
            expectRecDBError(.invalidArgument) { _ = try db.query("RECOMMEND 3 ITEMS SIMILAR TO ITEM t1 IN EXPERIMENT x") }
            expectRecDBError(.invalidArgument) { _ = try db.query("ALTER EXPERIMENT x SPLIT 50/50") }
            expectRecDBError(.invalidArgument) { _ = try db.query("EVENT click USER u1 ITEM t1 FROM RECOMMENDATION 'zz'") }
            expectRecDBError(.notFound) {
                _ = try db.query("EVENT click USER u1 ITEM t1 FROM RECOMMENDATION '000000010000000000000001'")
            }
            #expect(try db.query("SHOW EXPERIMENTS")["experiments"]?.arrayValue?.count == 1)
        }
    }

    /// Every user keeps its variant; impressions, clicks and purchases in SHOW EXPERIMENT equal the test's own count,
    /// whether events name their recommendation or are matched by (user, item) in the window.
    @Test func showExperimentMatchesAnIndependentCount() throws {
        try RecommendTests.with { db in
            _ = try db.query(Self.create)
            struct Expected { var users = Set<String>(), impressions = 0, clicks = 0, conversions = 0, revenue = 0.0 }
            var expected = ["control": Expected(), "b": Expected()]
            var convertedUsers = ["control": Set<String>(), "b": Set<String>()]
            for user in 0..<30 {
                let id = "u\(user)"
                var variantSeen: String?
                for visit in 0..<2 {
                    let answer = try db.query("RECOMMEND 5 ITEMS FOR USER $u IN EXPERIMENT 'ranker'", parameters: ["u": .string(id)])
                    let variant = try #require(answer["variant"]?.stringValue)
                    let rid = try #require(answer["recommendation_id"]?.stringValue)
                    #expect(variantSeen == nil || variantSeen == variant, "user \(id) switched variants")
                    variantSeen = variant
                    let shown = Self.items(answer)
                    #expect(answer["experiment"] == "ranker" && shown.count == 5)
                    expected[variant]!.users.insert(id)
                    expected[variant]!.impressions += 1
                    switch (user + visit) % 4 {
                    case 0:  // a click that names its recommendation
                        _ = try db.query("EVENT click USER $u ITEM $i FROM RECOMMENDATION $r", parameters: ["u": .string(id), "i": .string(shown[1]), "r": .string(rid)])
                        expected[variant]!.clicks += 1
                    case 1:  // a click and a purchase matched by (user, item)
                        _ = try db.query("EVENT click USER $u ITEM $i", parameters: ["u": .string(id), "i": .string(shown[0])])
                        _ = try db.query("EVENT purchase USER $u ITEM $i VALUE 12.5", parameters: ["u": .string(id), "i": .string(shown[0])])
                        expected[variant]!.clicks += 1
                        expected[variant]!.conversions += 1
                        expected[variant]!.revenue += 12.5
                        convertedUsers[variant]!.insert(id)
                    case 2:  // an item the page did not show: not attributed (one per visit: popularity is live,
                        // so an item bought by earlier users could be on this user's page)
                        _ = try db.query(
                            "EVENT purchase USER $u ITEM $i VALUE 3",
                            parameters: ["u": .string(id), "i": .string("zz-never-shown-\(id)-\(visit)")])
                    default:
                        break
                    }
                }
            }
            let report = try db.query("SHOW EXPERIMENT 'ranker'")
            #expect(report["state"] == "running")
            for row in report["variants"]?.arrayValue ?? [] {
                let name = try #require(row["name"]?.stringValue)
                let want = try #require(expected[name])
                #expect(row["users"]?.numberValue == Double(want.users.count), "\(name)")
                #expect(row["impressions"]?.numberValue == Double(want.impressions), "\(name)")
                #expect(row["clicks"]?.numberValue == Double(want.clicks), "\(name)")
                #expect(row["conversions"]?.numberValue == Double(want.conversions), "\(name)")
                #expect(abs((row["revenue"]?.numberValue ?? -1) - want.revenue) < 1e-9, "\(name)")
                #expect(row["converted_users"]?.numberValue == Double(convertedUsers[name]!.count), "\(name)")
                let ctr = Double(want.clicks) / Double(max(want.impressions, 1))
                #expect(abs((row["ctr"]?.numberValue ?? -1) - ctr) < 1e-12)
                let interval = (row["ctr_interval"]?.arrayValue ?? []).compactMap { $0.numberValue }
                try #require(interval.count == 2)
                #expect(interval[0] <= ctr && ctr <= interval[1])
            }
            let comparison = try #require(report["comparisons"]?[0])
            #expect(comparison["variant"] == "b" && comparison["against"] == "control")
            #expect(comparison["metric"] == "conversion_rate" && comparison["always_valid_p"]?.numberValue != nil)
        }
    }

    @Test func rampAndStop() throws {
        try RecommendTests.with { db in
            _ = try db.query(Self.create)
            _ = try db.query("ALTER EXPERIMENT ranker SPLIT 100/0")
            for user in 0..<10 {
                let answer = try db.query("RECOMMEND 3 ITEMS FOR USER 'u\(user)' IN EXPERIMENT ranker")
                #expect(answer["variant"] == "control")
            }
            _ = try db.query("ALTER EXPERIMENT ranker SPLIT 0/100")
            #expect(try db.query("RECOMMEND 3 ITEMS FOR USER 'u1' IN EXPERIMENT ranker")["variant"] == "b")
            let stopped = try db.query("STOP EXPERIMENT ranker")
            #expect(stopped["state"] == "stopped")
            let answer = try db.query("RECOMMEND 3 ITEMS FOR USER 'u1' IN EXPERIMENT ranker")
            #expect(answer["variant"] == "control" && answer["recommendation_id"] == nil)
            let shown = Self.items(answer)
            _ = try db.query("EVENT click USER 'u1' ITEM $i", parameters: ["i": .string(shown[0])])
            let report = try db.query("SHOW EXPERIMENT ranker")
            #expect(report["variants"]?[0]?["impressions"] == 10 && report["variants"]?[1]?["impressions"] == 1)
            #expect(report["variants"]?[0]?["clicks"] == 0 && report["variants"]?[1]?["clicks"] == 0)
        }
    }

    /// Sessions are bucketed by session id; an event carrying the session is credited to the session's impression.
    @Test func sessionsAreBucketedAndCredited() throws {
        try RecommendTests.with { db in
            _ = try db.query(Self.create)
            let answer = try db.query("RECOMMEND 4 ITEMS FOR SESSION 's9' IN EXPERIMENT ranker")
            let shown = Self.items(answer)
            _ = try db.query("EVENT click USER 'u9' ITEM $i SESSION 's9'", parameters: ["i": .string(shown[2])])
            let report = try db.query("SHOW EXPERIMENT ranker")
            let rows = report["variants"]?.arrayValue ?? []
            #expect(rows.compactMap { $0["clicks"]?.numberValue }.reduce(0, +) == 1)
        }
    }

    /// The bandit moves traffic to the variant that converts: with true rates 0.1 and 0.6, b gets most of it.
    @Test func thompsonShiftsTrafficToTheWinner() throws {
        try RecommendTests.with { db in
            _ = try db.query(
                "CREATE EXPERIMENT bandit VARIANTS (control: USING popularity, b: USING itemknn) ALLOCATION thompson")
            try db.write { w in for shopper in 0..<200 { _ = try w.upsertUser("shopper\(shopper)") } }
            var generator = SplitMix(seed: 7)
            var shownB = 0
            for shopper in 0..<200 {
                let answer = try db.query("RECOMMEND 3 ITEMS FOR USER 'shopper\(shopper)' IN EXPERIMENT bandit")
                let isB = answer["variant"] == "b"
                if shopper >= 100 && isB { shownB += 1 }
                if Double.random(in: 0..<1, using: &generator) < (isB ? 0.6 : 0.1) {
                    _ = try db.query(
                        "EVENT purchase USER 'shopper\(shopper)' ITEM $i VALUE 1 FROM RECOMMENDATION $r",
                        parameters: ["i": .string(Self.items(answer)[0]), "r": answer["recommendation_id"] ?? .null])
                }
            }
            #expect(shownB > 75, "b served \(shownB) of the last 100")
        }
    }

    /// Items an impression showed and the user ignored reach refresh as weak negatives; BPR with
    /// `ignoredNegatives` pushes them down for that user.
    @Test func ignoredImpressionsAreWeakNegatives() throws {
        try RecommendTests.with { db in
            _ = try db.query(Self.create)
            var shownTo: [String: [String]] = [:]
            for user in 0..<30 {
                let answer = try db.query("RECOMMEND 5 ITEMS FOR USER 'u\(user)' IN EXPERIMENT ranker")
                let shown = Self.items(answer)
                shownTo["u\(user)"] = shown
                _ = try db.query(
                    "EVENT click USER 'u\(user)' ITEM $i FROM RECOMMENDATION $r",
                    parameters: ["i": .string(shown[0]), "r": answer["recommendation_id"] ?? .null])
            }
            let log = try db.read { r in try r.interactionLog() }
            #expect(log.ignoredUsers.count == log.ignoredItems.count && !log.ignoredUsers.isEmpty)
            #expect(log.ignoredUsers == log.ignoredUsers.sorted())
            var ignored: [UInt32: Set<UInt32>] = [:]
            for (user, item) in zip(log.ignoredUsers, log.ignoredItems) { ignored[user, default: []].insert(item) }
            for (name, shown) in shownTo {
                let user = try #require(try db.read { r in try r.userID(for: name) })
                let clicked = try #require(try db.read { r in try r.itemID(for: shown[0]) })
                #expect(!(ignored[user]?.contains(clicked) ?? false), "the clicked item is not ignored")
                #expect((ignored[user]?.count ?? 0) == 4, "\(name): \(ignored[user] ?? [])")
            }
            var plain = BPRModel.Parameters()
            plain.factors = 8
            plain.iterations = 60
            plain.learningRate = 0.05
            var weak = plain
            weak.ignoredNegatives = 1
            func meanIgnoredScore(_ parameters: BPRModel.Parameters) -> Double {
                let model = BPRModel(log: log, parameters: parameters, threads: 1)
                var total = 0.0, count = 0
                var scores = [Float](repeating: 0, count: log.itemLimit)
                for (user, items) in ignored {
                    scores.withUnsafeMutableBufferPointer { model.score(user: user, history: UserHistory(), into: $0) }
                    let mean = scores.reduce(0, +) / Float(scores.count)
                    for item in items { total += Double(scores[Int(item)] - mean); count += 1 }
                }
                return total / Double(max(count, 1))
            }
            #expect(meanIgnoredScore(weak) < meanIgnoredScore(plain))
        }
    }

    /// The fixed-horizon intervals cover the true difference in about 95 % of simulated experiments, the
    /// always-valid ones in at least that many.
    @Test func intervalsCoverTheTrueDifference() {
        var generator = SplitMix(seed: 42)
        var covered = 0, coveredAlways = 0
        let runs = 400, users = 800
        let (pa, pb) = (0.10, 0.14)
        for _ in 0..<runs {
            let a = (0..<users).map { _ in Double.random(in: 0..<1, using: &generator) < pa ? 1.0 : 0 }
            let b = (0..<users).map { _ in Double.random(in: 0..<1, using: &generator) < pb ? 1.0 : 0 }
            let comparison = ExperimentReport.Comparison(control: .init(a), treatment: .init(b))
            let half = ExperimentReport.z * comparison.variance.squareRoot()
            if abs(comparison.difference - (pb - pa)) <= half { covered += 1 }
            let always = comparison.alwaysValidInterval
            if always.0 <= pb - pa && pb - pa <= always.1 { coveredAlways += 1 }
            #expect(always.1 - always.0 >= 2 * half)
        }
        #expect(Double(covered) / Double(runs) >= 0.92, "\(covered) of \(runs)")
        #expect(Double(coveredAlways) / Double(runs) >= 0.95, "\(coveredAlways) of \(runs)")
        #expect(ExperimentReport.wilson(0, 10).0 == 0 && abs(ExperimentReport.wilson(10, 10).1 - 1) < 1e-12)
    }
}

extension SplitMix: RandomNumberGenerator {}
