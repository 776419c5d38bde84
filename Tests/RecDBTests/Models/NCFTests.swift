import Foundation
import Testing

@testable import RecDB

/// NCF as a stored model: trained through refresh on a task with two tastes it must learn, served for users it met
/// (filters, blends, chains, evaluation), falling through for users it did not, and careful with bad input.
@Suite("NCF model")
struct NCFTests {
    static let users = 60, itemsPerTaste = 12

    /// Users of taste t (u mod 2) view 7 of the 12 items of their taste (`a…` or `b…`), chosen by a fixed
    /// pseudo-random order; items `a0…a11` are in category `A`, `b0…b11` in `B`, and every third item is tagged
    /// `sale`. `newcomer` has no events.
    static func makeDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        try db.write { w in
            for taste in ["a", "b"] {
                for k in 0..<itemsPerTaste {
                    try w.upsertItem(
                        "\(taste)\(k)",
                        attributes: [
                            "title": .string("Item \(taste)\(k)"), "category": .string(taste.uppercased()),
                            "tags": .strings(k % 3 == 0 ? ["sale"] : ["plain"]),
                        ])
                }
            }
            var minute: Int64 = 0
            for user in 0..<users {
                for item in seen(user) {
                    try w.addEvent(EventInput("u\(user)", "view", item, at: minute))
                    minute += 1
                }
            }
            try w.upsertUser("newcomer", attributes: [:])
        }
        return db
    }

    static func taste(_ user: Int) -> String { user % 2 == 0 ? "a" : "b" }

    static func seen(_ user: Int) -> [String] {
        (0..<7).map { "\(taste(user))\((user * 5 + $0 * 7) % itemsPerTaste)" }
    }

    static var small: NCFModel.Parameters {
        var p = NCFModel.Parameters()
        p.factors = 8
        p.layers = 2
        p.epochs = 30
        p.patience = 30
        p.batchSize = 64
        p.learningRate = 0.01
        return p
    }

    static func ids(_ answer: QueryValue) -> [String] {
        (answer["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    @Test(arguments: ["gmf", "mlp", "neumf"])
    func learnsTastesThroughRefreshAndReportsEpochs(variant: String) throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            var p = Self.small
            try p.setVariant(named: variant)
            let reports = SASRecTests.Reports()
            let report = try db.refresh(.ncf(p), threads: 1, onEpoch: { reports.add($0) })
            #expect(report.record.kind == .ncf && report.record.space == nil)
            let epochs = reports.all
            #expect(!epochs.isEmpty && epochs.allSatisfy { $0.validationNDCG != nil && $0.loss.isFinite })
            #expect(epochs.first?.model == "ncf/\(variant)")
            // Chance makes 5 in 17 of the recommended items (unseen ones) the user's own taste; the network should make
            // nearly all of them so.
            var right = 0
            for user in 0..<Self.users {
                let top = Self.ids(try db.query(
                    "RECOMMEND 3 ITEMS FOR USER $u USING ncf STRICT", parameters: ["u": .string("u\(user)")]))
                #expect(top.count == 3 && !top.contains { Self.seen(user).contains($0) })
                right += top.filter { $0.hasPrefix(Self.taste(user)) }.count
            }
            #expect(Double(right) / Double(3 * Self.users) >= 0.8, "\(variant): \(right) of \(3 * Self.users)")
        }
    }

    @Test func servesFiltersBlendsChainsAndFallsThroughForUnknownUsers() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.ncf(Self.small), threads: 1)
            try db.refresh(.popularity(halfLifeDays: 30), threads: 1)
            let sale = Self.ids(try db.query("RECOMMEND 4 ITEMS FOR USER u0 USING ncf WHERE tags = 'sale' STRICT"))
            #expect(!sale.isEmpty && sale.allSatisfy { Int($0.dropFirst())! % 3 == 0 }, "\(sale)")
            let b = Self.ids(try db.query("RECOMMEND 3 ITEMS FOR USER u0 USING ncf WHERE category = 'B' STRICT"))
            #expect(b.count == 3 && b.allSatisfy { $0.hasPrefix("b") })
            let blend = Self.ids(try db.query("RECOMMEND 5 ITEMS FOR USER u0 USING BLEND(ncf 0.7, popularity 0.3)"))
            #expect(blend.count == 5 && !blend.contains { Self.seen(0).contains($0) })
            let chain = Self.ids(try db.query("RECOMMEND 17 ITEMS FOR USER u0 USING CHAIN(ncf, popularity)"))
            #expect(chain.count == 17)
            // Without USING, NCF serves the users it met (the only personalising model here).
            let plain = try db.recommend(RecommendRequest(.user("u1"), count: 2))
            #expect(plain.count == 2 && plain.allSatisfy { $0.model == "ncf" })
            // A user the network never met gets nothing from it; the default chain falls through to popularity.
            #expect(Self.ids(try db.query("RECOMMEND 3 ITEMS FOR USER newcomer USING ncf STRICT")).isEmpty)
            let cold = try db.recommend(RecommendRequest(.user("newcomer"), count: 3))
            #expect(cold.count == 3 && cold.allSatisfy { $0.model == "popularity" })
            // Not a sequence model: a basket is left to the others.
            #expect(Self.ids(try db.query("RECOMMEND 3 ITEMS FOR ITEMS ('a1') USING ncf STRICT")).isEmpty)
            let evaluation = try db.query("EVALUATE MODEL ncf K 3")
            #expect(evaluation["model"]?.stringValue == "ncf" && (evaluation["ndcg"]?.numberValue ?? -1) >= 0,
                "\(evaluation)")
        }
    }

    @Test func parametersRoundTripThroughTheRecord() throws {
        var p = Self.small
        p.variant = .mlp
        p.pretrain = true
        p.refit = false
        p.weightDecay = 0.001
        p.seed = 9
        p.epochs = 2
        #expect(StoredNCF(parameterTable: StoredNCF(p).parameterTable) == StoredNCF(p))
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let record = try db.refresh(.ncf(p), threads: 1).record
            #expect(record.parameters["variant"] == 1 && record.parameters["layers"] == 2)
            #expect(ModelSpec(record: record) == .ncf(p))
            #expect(try ModelSpec.named("ncf").kind == .ncf)
            #expect(try ModelSpec.named("neumf").kind == .ncf)
        }
    }

    @Test func pretrainedNeuMFTrainsAndServes() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            var p = Self.small
            p.pretrain = true
            p.epochs = 10
            let reports = SASRecTests.Reports()
            try db.refresh(.ncf(p), threads: 1, onEpoch: { reports.add($0) })
            let runs = Set(reports.all.map(\.model))
            #expect(runs == ["ncf/gmf", "ncf/mlp", "ncf/neumf"])
            #expect(Self.ids(try db.query("RECOMMEND 3 ITEMS FOR USER u0 USING ncf STRICT")).count == 3)
        }
    }

    @Test func badParametersAreRejectedBeforeTraining() throws {
        var p = NCFModel.Parameters()
        expectRecDBError(.invalidArgument) { try p.setVariant(named: "deep") }
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            for change in [{ (p: inout NCFModel.Parameters) in p.factors = 0 }, { $0.layers = 9 },
                { $0.negatives = 0 }, { $0.learningRate = -1 }, { $0.factors = 256; $0.layers = 6 }]
            {
                p = Self.small
                change(&p)
                expectRecDBError(.invalidArgument) { try db.refresh(.ncf(p), threads: 1) }
            }
            #expect(try db.model("ncf") == nil)
            expectRecDBError(.notFound) { _ = try db.query("RECOMMEND 3 ITEMS FOR USER u0 USING ncf") }
        }
    }
}
