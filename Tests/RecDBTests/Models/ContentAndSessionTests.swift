import Foundation
import Testing

@testable import RecDB

@Suite("Content, session and fold-in models")
struct ContentAndSessionTests {
    static func item(_ id: UInt32, _ title: String, category: String? = nil, brand: String? = nil) -> Item {
        var attributes: Attributes = ["title": .string(title)]
        if let category { attributes["category"] = .string(category) }
        if let brand { attributes["brand"] = .string(brand) }
        return Item(id: "i\(id)", internalID: id, attributes: attributes)
    }

    @Test func analyzerLowercasesDropsStopWordsAndStemsPlurals() {
        let analyzer = TextAnalyzer()
        #expect(analyzer.words("The Batteries, and BOXES of Boots!") == ["battery", "box", "boot"])
        #expect(TextAnalyzer(stemming: false).words("Boots for the rain") == ["boots", "rain"])
        #expect(analyzer.words("glass class bus") == ["glass", "class", "bus"])
        let terms = analyzer.terms(of: Self.item(0, "Hiking boots", category: "Shoes/Outdoor", brand: "Acme"))
        #expect(terms["hiking"] == 2 && terms["boot"] == 2)
        #expect(terms["category:shoes"] == 1 && terms["category:shoes/outdoor"] == 1 && terms["brand:acme"] == 1)
        #expect(terms["outdoor"] == 1, "the leaf category's words match free text")
    }

    /// With as many dimensions as the TF-IDF matrix has rank, the SVD coordinates keep every cosine exactly.
    @Test func fullRankSVDKeepsTFIDFCosines() throws {
        let titles = [
            "red wool winter hat", "blue wool winter scarf", "red cotton summer hat", "garden hose green",
            "green garden shovel", "winter garden gloves", "blue summer dress", "cotton dress red",
        ]
        let items = titles.enumerated().map { Self.item(UInt32($0.offset), $0.element) }
        var parameters = ContentModel.Parameters()
        parameters.minDocumentFrequency = 1
        parameters.dimensions = 64
        parameters.powerIterations = 4
        let model = ContentModel(items: items, itemLimit: items.count, parameters: parameters)
        let projection = model.projection
        for a in 0..<items.count {
            for b in 0..<items.count {
                let rowA = ContentProjection.tfidf(TextAnalyzer().terms(of: items[a]), terms: projection.terms, idf: projection.idf)
                let rowB = ContentProjection.tfidf(TextAnalyzer().terms(of: items[b]), terms: projection.terms, idf: projection.idf)
                let sparse = Dictionary(uniqueKeysWithValues: rowB)
                let exact = rowA.reduce(Float(0)) { $0 + $1.1 * (sparse[$1.0] ?? 0) }
                let va = try #require(model.itemVector(UInt32(a))), vb = try #require(model.itemVector(UInt32(b)))
                let approx = zip(va, vb).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(abs(exact - approx) < 1e-3, "\(titles[a]) ~ \(titles[b]): \(exact) vs \(approx)")
            }
        }
        // A new item's vector comes from the stored projection alone.
        let fresh = try #require(projection.vector(for: Self.item(99, "red wool hat")))
        let hat = try #require(model.itemVector(0)), hose = try #require(model.itemVector(3))
        #expect(zip(fresh, hat).reduce(0) { $0 + $1.0 * $1.1 } > zip(fresh, hose).reduce(0) { $0 + $1.0 * $1.1 })
        #expect(projection.vector(for: Self.item(100, "zzz qqq")) == nil)
    }

    @Test func sessionsSplitByExplicitIdOrInactivityGap() {
        var log = InteractionLog()
        log.itemLimit = 10
        log.userLimit = 3
        // User 0: no session ids, a 2-hour pause. User 1: explicit sessions 7 and 8 a minute apart.
        for (user, item, minute, session) in [
            (0, 1, 0, 0), (0, 2, 5, 0), (0, 3, 125, 0), (1, 4, 0, 7), (1, 5, 1, 7), (1, 6, 2, 8),
        ] as [(UInt32, UInt32, Int64, UInt32)] {
            log.append(user: user, item: item, weight: 1, time: minute * 60_000, session: session)
        }
        let sessions = SessionLog(log, gap: 30 * 60_000)
        #expect(sessions.sessions == [[1, 2], [3], [4, 5], [6]])
    }

    /// Visits A→B→C→X and D→B→C→Y: the transition from C alone cannot tell X from Y; the visit's earlier items can.
    @Test func sessionKNNUsesTheWholeVisitWhereTransitionsCannot() {
        var log = SessionLog()
        log.itemLimit = 6
        for n in 0..<20 {
            log.sessions.append(n % 2 == 0 ? [0, 1, 2, 4] : [3, 1, 2, 5])
            log.ends.append(Int64(n))
        }
        let knn = SessionKNNModel(sessions: log)
        let transition = TransitionModel(sessions: log)
        for (visit, expected) in [([UInt32(0), 1, 2], UInt32(4)), ([3, 1, 2], 5)] {
            var scores = [Float](repeating: 0, count: 6)
            scores.withUnsafeMutableBufferPointer { _ = knn.scoreNext(after: visit, into: $0) }
            for item in visit { scores[Int(item)] = 0 }
            #expect(scores.indices.max { scores[$0] < scores[$1] } == Int(expected), "\(visit): \(scores)")
            var plain = [Float](repeating: 0, count: 6)
            plain.withUnsafeMutableBufferPointer { _ = transition.scoreNext(after: visit, into: $0) }
            #expect(plain[4] == plain[5], "the transition baseline sees only C")
        }
    }

    @Test func foldInMatchesTheTrainedUserVectors() throws {
        var events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)] = []
        for user in 0..<40 {
            for step in 0..<8 { events.append((UInt32(user), UInt32((user % 4) * 10 + (user + step * 3) % 10), 1, Int64(step))) }
        }
        let log = InteractionLog.of(events, users: 40, items: 40)
        var parameters = ALSModel.Parameters()
        parameters.factors = 8
        parameters.iterations = 20
        parameters.conjugateGradientSteps = 8
        parameters.regularization = 0.1
        let model = ALSModel(log: log, parameters: parameters, threads: 1)
        let gram = FoldIn.gram(model.itemFactors, dimension: 8, solved: 8)
        let matrix = InteractionMatrix(log)
        for user in 0..<40 {
            let row = matrix.row(user)
            let history = zip(row.indices, row.values).map { (Array(model.itemFactors[Int($0) * 8..<Int($0) * 8 + 8]), $1) }
            let folded = try #require(
                FoldIn.solve(history: history, gram: gram, dimension: 8, solved: 8, regularization: 0.1, alpha: 1))
            let trained = Array(model.userFactors[user * 8..<user * 8 + 8])
            let dot = zip(folded, trained).reduce(0) { $0 + $1.0 * $1.1 }
            let norms = folded.reduce(0) { $0 + $1 * $1 }.squareRoot() * trained.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(dot / norms > 0.95, "user \(user): fold-in and trained vectors differ (cosine \(dot / norms))")
        }
    }

    @Test func blendAndChainSpecsParseAndName() throws {
        let blend = try ModelSpec.named("BLEND(als 0.7, content 0.3)")
        #expect(blend.name == "BLEND(als 0.7, content 0.3)")
        guard case .blend(let parts, let weights) = blend.shape else { return #expect(Bool(false), "\(blend)") }
        #expect(parts.map(\.name) == ["als", "content"] && weights == [0.7, 0.3])
        let chain = try ModelSpec.named("chain( als ,content, popularity )")
        #expect(chain.name == "CHAIN(als, content, popularity)")
        #expect(try ModelSpec.named(chain.name) == chain)
        expectRecDBError(.syntax) { _ = try ModelSpec.named("BLEND(als x)") }
        expectRecDBError(.syntax) { _ = try ModelSpec.named("BLEND()") }
        expectRecDBError(.invalidArgument) { _ = try ModelSpec.named("CHAIN(als, nope)") }
    }

    /// The spellings `recctl eval` took before the query language's fail and name the expression to write.
    @Test func retiredBlendAndChainSpellingsNameTheNewOnes() throws {
        for (old, new) in [
            ("blend:als=0.7+content=0.3", "BLEND(als 0.7, content 0.3)"),
            ("chain:als>content>popularity", "CHAIN(als, content, popularity)"),
            ("chain:als/content", "CHAIN(als, content)"),
        ] {
            let named = #expect(throws: RecDBError.self) { _ = try ModelSpec.named(old) }
            #expect(named?.code == .invalidArgument && named?.message.contains("write \(new)") == true, "\(String(describing: named))")
            let listed = #expect(throws: RecDBError.self) { _ = try ModelExpression.parseList("als, " + old) }
            #expect(listed?.message.contains("write \(new)") == true, "\(String(describing: listed))")
        }
    }

    /// Items held out entirely: collaborative models cannot rank them by what they learned; content can. (ALS gives a
    /// never-trained item its near-zero row, so on this small catalog such an item still reaches a folded-in user's
    /// list when the warm candidates left score below zero — by chance, far below content.)
    @Test func contentRecommendsColdItemsWhereCollaborativeModelsCannot() throws {
        try TemporaryDirectory.with { folder in
            let db = try RecommendTests.makeDatabase(folder)
            var content = ContentModel.Parameters()
            content.dimensions = 12
            var als = ALSModel.Parameters()
            als.factors = 8
            let (split, rows) = try db.evaluate([.content(content), .als(als), .itemKNN(neighbours: 20)], split: .coldItems, k: 10)
            #expect(!split.test.isEmpty)
            let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0.spec.name, $0.result) })
            let contentCold = try #require(byName["content"]?.coldItems)
            #expect(contentCold.users > 0 && contentCold.hitRate > 0.3, "\(contentCold)")
            #expect((byName["als"]?.coldItems?.hitRate ?? 0) < contentCold.hitRate)
            #expect(byName["itemknn"]?.coldItems?.hitRate == 0)
        }
    }
}

@Suite("Stored model specs")
struct StoredModelSpecTests {
    @Test func aStoredModelsSpecRoundTripsThroughItsRecord() throws {
        var als = ALSModel.Parameters()
        als.factors = 12
        als.alpha = 5
        als.regularization = 0.5
        var content = ContentModel.Parameters()
        content.dimensions = 24
        content.stemming = false
        var session = SessionKNNModel.Parameters()
        session.ruleWeight = 2
        for spec in [ModelSpec.als(als), .bpr(BPRModel.Parameters()), .itemKNN(neighbours: 30, similarity: .conditionalProbability),
                     .popularity(halfLifeDays: 7), .content(content), .session(session), .transition] {
            let record = ModelRecord(
                name: spec.name, kind: spec.kind, parameters: spec.parameterTable, generation: 1, space: nil, trainedAt: "",
                trainingSeconds: 0, events: 0, lastEvaluation: nil)
            #expect(ModelSpec(record: record) == spec, "\(spec.name)")
        }
    }
}
