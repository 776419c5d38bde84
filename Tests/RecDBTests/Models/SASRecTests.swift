import Foundation
import Testing

@testable import RecDB

/// SASRec as a stored model: trained through refresh on a sequence task it must learn, served by encoding the
/// target's latest items, changed by a new event without a refresh, and careful with bad input.
@Suite("SASRec model")
struct SASRecTests {
    static let items = 20, users = 60, steps = 8

    /// Users walk a cycle of 20 items: user u starts at item (7u mod 20) and views the next 8 in turn, one minute
    /// apart; odd users' events carry the session `s<u>`. Items of even ids are in category `Even`, odd in `Odd`.
    static func makeDatabase(_ folder: TemporaryDirectory) throws -> RecDatabase {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        let db = try folder.createDatabase(options: options)
        try db.write { w in
            for item in 0..<items {
                try w.upsertItem(
                    "i\(item)",
                    attributes: [
                        "title": .string("Item \(item)"), "category": .string(item % 2 == 0 ? "Even" : "Odd"),
                    ])
            }
            var minute: Int64 = 0
            for user in 0..<users {
                for step in 0..<steps {
                    let item = (Self.start(user) + step) % items
                    let session = user % 2 == 1 ? "s\(user)" : nil
                    try w.addEvent(EventInput("u\(user)", "view", "i\(item)", at: minute, session: session))
                    minute += 1
                }
                minute += 1000
            }
            try w.upsertUser("newcomer", attributes: [:])
        }
        return db
    }

    static func start(_ user: Int) -> Int { (user * 7) % items }

    /// The item after a user's last one on the cycle.
    static func next(_ user: Int) -> String { "i\((start(user) + steps) % items)" }

    static var small: SASRecModel.Parameters {
        var p = SASRecModel.Parameters()
        p.dimension = 16
        p.blocks = 1
        p.maxLength = 10
        p.dropout = 0
        p.negatives = 0
        p.epochs = 40
        p.patience = 40
        p.batchSize = 16
        p.learningRate = 0.01
        return p
    }

    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var _all: [TrainingEpochReport] = []
        var all: [TrainingEpochReport] {
            lock.lock()
            defer { lock.unlock() }
            return _all
        }
        func add(_ report: TrainingEpochReport) {
            lock.lock()
            _all.append(report)
            lock.unlock()
        }
    }

    static func ids(_ answer: QueryValue) -> [String] {
        (answer["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    @Test func learnsASequenceTaskThroughRefreshAndReportsEpochs() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let reports = Reports()
            let report = try db.refresh(.sasrec(Self.small), threads: 1, onEpoch: { reports.add($0) })
            #expect(report.record.kind == .sasrec && report.record.space == "sasrec@1")
            let epochs = reports.all
            #expect(!epochs.isEmpty && epochs.map(\.epoch) == Array(1...epochs.count))
            #expect(epochs.allSatisfy { $0.validationNDCG != nil && $0.loss.isFinite && $0.etaSeconds >= 0 })
            #expect(epochs.last!.line.contains("val NDCG@10"))
            // Top-1 for every user is the next item on the cycle: chance is 1 in 12 unseen items.
            var correct = 0
            for user in 0..<Self.users {
                let top = try db.query(
                    "RECOMMEND 1 ITEMS FOR USER $u USING sasrec STRICT", parameters: ["u": .string("u\(user)")])
                if Self.ids(top) == [Self.next(user)] { correct += 1 }
            }
            #expect(Double(correct) / Double(Self.users) >= 0.8, "\(correct) of \(Self.users) right")
            // A basket and a session are sequences too.
            let basket = try db.query("RECOMMEND 1 ITEMS FOR ITEMS ('i3', 'i4', 'i5') USING sasrec STRICT")
            #expect(Self.ids(basket) == ["i6"])
            let session = try db.query("RECOMMEND 1 ITEMS FOR SESSION 's1' USING sasrec STRICT")
            #expect(Self.ids(session) == [Self.next(1)])
        }
    }

    @Test func servesFiltersExplanationsBlendsAndChains() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.sasrec(Self.small), threads: 1)
            try db.refresh(.popularity(halfLifeDays: 30), threads: 1)
            let odd = try db.query("RECOMMEND 5 ITEMS FOR USER u0 USING sasrec WHERE category = 'Odd' STRICT")
            #expect(Self.ids(odd).count == 5)
            #expect(Self.ids(odd).allSatisfy { Int($0.dropFirst())! % 2 == 1 }, "\(Self.ids(odd))")
            // EXPLAIN: the attention of the final position names items of the user's history.
            let history = Set((0..<Self.steps).map { "i\((Self.start(0) + $0) % Self.items)" })
            let explained = try db.recommend(RecommendRequest(.user("u0"), count: 3, models: [ModelWeight("sasrec")]))
            for result in explained {
                #expect(result.model == "sasrec" && result.provenance.reason == .history)
                let sources = result.provenance.items.map(\.id)
                #expect(!sources.isEmpty && sources.allSatisfy { history.contains($0) }, "\(sources)")
                #expect(result.explanation.hasPrefix("Because you viewed"), "\(result.explanation)")
            }
            let blend = try db.query("RECOMMEND 5 ITEMS FOR USER u0 USING BLEND(sasrec 0.7, popularity 0.3)")
            #expect(Self.ids(blend).count == 5 && !Self.ids(blend).contains { history.contains($0) })
            let chain = try db.query("RECOMMEND 12 ITEMS FOR USER u0 USING CHAIN(sasrec, popularity)")
            #expect(Self.ids(chain).count == 12 && Self.ids(chain).first == Self.next(0))
            // Without USING, SASRec leads a user's default chain.
            let plain = try db.recommend(RecommendRequest(.user("u0"), count: 1))
            #expect(plain.first?.model == "sasrec" && plain.first?.id == Self.next(0))
            let diverse = try db.query("RECOMMEND 5 ITEMS FOR USER u0 USING sasrec DIVERSIFY 0.5")
            #expect(Self.ids(diverse).count == 5)
        }
    }

    @Test func aNewEventChangesTheNextRecommendationWithoutRetraining() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            try db.refresh(.sasrec(Self.small), threads: 1)
            let statement = "RECOMMEND 1 ITEMS FOR USER u0 USING sasrec STRICT"
            #expect(Self.ids(try db.query(statement)) == [Self.next(0)])
            // u0 walked i0…i7; a view of i14 now makes i15 the next item.
            try db.write { w in _ = try w.addEvent(EventInput("u0", "view", "i14", at: 1_000_000)) }
            #expect(Self.ids(try db.query(statement)) == ["i15"])
            #expect(try db.model("sasrec")?.generation == 1)
        }
    }

    @Test func parametersRoundTripThroughTheRecord() throws {
        var p = Self.small
        p.heads = 2
        p.weightDecay = 0.01
        p.finalPass = true
        p.seed = 7
        p.epochs = 3
        p.attentionDropout = 0.3
        p.cosineDecay = true
        let spec = ModelSpec.sasrec(p)
        #expect(StoredSASRec(parameterTable: StoredSASRec(p).parameterTable) == StoredSASRec(p))
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            let record = try db.refresh(spec, threads: 1).record
            #expect(record.parameters["max_length"] == 10 && record.parameters["final_pass"] == 1)
            #expect(record.parameters["attention_dropout"] == 0.3 && record.parameters["cosine_decay"] == 1)
            #expect(ModelSpec(record: record) == spec)
            #expect(try ModelSpec.named("sasrec").kind == .sasrec)
        }
    }

    @Test func badInputGivesClearErrorsOrSensibleResults() throws {
        try TemporaryDirectory.with { folder in
            let db = try Self.makeDatabase(folder)
            var wrong = Self.small
            wrong.heads = 3
            expectRecDBError(.invalidArgument) { try db.refresh(.sasrec(wrong), threads: 1) }
            wrong = Self.small
            wrong.attentionDropout = 1
            expectRecDBError(.invalidArgument) { try db.refresh(.sasrec(wrong), threads: 1) }
            wrong = Self.small
            wrong.maxLength = 100_000
            expectRecDBError(.invalidArgument) { try db.refresh(.sasrec(wrong), threads: 1) }
            #expect(try db.model("sasrec") == nil)
            expectRecDBError(.notFound) { _ = try db.query("RECOMMEND 3 ITEMS FOR USER u0 USING sasrec") }

            try db.refresh(.sasrec(Self.small), threads: 1)
            expectRecDBError(.notFound) { _ = try db.query("RECOMMEND 3 ITEMS FOR USER nobody USING sasrec") }
            // A cold user gets nothing from SASRec; the default chain falls through to popularity.
            #expect(Self.ids(try db.query("RECOMMEND 3 ITEMS FOR USER newcomer USING sasrec STRICT")).isEmpty)
            try db.refresh(.popularity(halfLifeDays: 30), threads: 1)
            let cold = try db.recommend(RecommendRequest(.user("newcomer"), count: 3))
            #expect(cold.count == 3 && cold.allSatisfy { $0.model == "popularity" })
            // A history far longer than max_length: only the newest 10 events are read; the next item still wins.
            try db.write { w in
                for k in 0..<150 { _ = try w.addEvent(EventInput("long", "view", "i\(k % Self.items)", at: Int64(k))) }
            }
            let long = try db.query("RECOMMEND 1 ITEMS FOR USER long USING sasrec INCLUDE SEEN STRICT")
            #expect(Self.ids(long) == ["i10"])
        }
    }
}
