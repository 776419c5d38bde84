import Foundation
import RecDBTestSupport
import RecTestSupport
import Testing

@testable import RecDB

/// Offline evaluation ranks what `RECOMMEND` serves: each held-out user's offline top 10 equals the list a database
/// holding only the training events returns, with the model refreshed there.
///
/// The shop is ``ServingParity``'s (RecDBTestSupport), whose item ids run opposite to time.
@Suite("Offline evaluation equals serving")
struct ServingParityTests {
    static let tastes = ServingParity.tastes, usersPerTaste = ServingParity.usersPerTaste

    /// ALS small enough to train on the fixture in a moment (also a part of ``HyGenRecTests``' blend).
    static var smallALS: ALSModel.Parameters {
        var als = ALSModel.Parameters()
        als.factors = 8
        als.iterations = 8
        return als
    }

    /// The content model on the fixture's short texts (every term kept).
    static var smallContent: ContentModel.Parameters {
        var content = ContentModel.Parameters()
        content.dimensions = 12
        content.minDocumentFrequency = 1
        return content
    }

    /// Each model kind that trains without the text runtime (refreshed in the serving database) with the statement
    /// that serves it, then blends and the default chain over those models. The text kinds are checked in
    /// RecTextTests (`text`) and by their own suites; `hygenrec` by ``HyGenRecTests``.
    static var cases: [(spec: ModelSpec, statement: String, refresh: Bool)] {
        let als = smallALS, content = smallContent
        var sasrec = SASRecModel.Parameters()
        sasrec.dimension = 16
        sasrec.blocks = 1
        sasrec.epochs = 5
        sasrec.negatives = 32
        sasrec.batchSize = 16
        var ncf = NCFModel.Parameters()
        ncf.factors = 4
        ncf.layers = 2
        ncf.epochs = 4
        ncf.batchSize = 64
        var bpr = BPRModel.Parameters()
        bpr.factors = 8
        bpr.iterations = 30
        let singles: [ModelSpec] = [
            .session(SessionKNNModel.Parameters()), .transition, .content(content), .itemKNN(neighbours: 20),
            .popularity(halfLifeDays: 30), .als(als), .sasrec(sasrec), .ease(EASEModel.Parameters()), .ncf(ncf),
            .bpr(bpr), .irgan(IRGANTests.small), .trending(halfLifeDays: 1),
        ]
        let session = singles[0], contentSpec = singles[2], itemKNN = singles[3], popularity = singles[4]
        let using = "RECOMMEND 10 ITEMS FOR USER $u USING "
        // Evaluation measures the named models alone: the served page it equals is the STRICT one (unfilled).
        return singles.map { ($0, using + $0.name + " STRICT", true) } + [
            (.blend([session, contentSpec], weights: [0.5, 0.5]), using + "BLEND(session 0.5, content 0.5) STRICT", false),
            (.blend([.als(als), itemKNN, contentSpec], weights: [0.4, 0.4, 0.2]),
             using + "BLEND(als 0.4, itemknn 0.4, content 0.2) STRICT", false),
            (.blend([.sasrec(sasrec), .als(als)], weights: [0.7, 0.3]), using + "BLEND(sasrec 0.7, als 0.3) STRICT", false),
            (.blend([.ease(EASEModel.Parameters()), session], weights: [0.6, 0.4]),
             using + "BLEND(ease 0.6, session 0.4) STRICT", false),
            // Without USING: the first personalised model (SASRec), then session, content and popularity fill.
            (.chain([.sasrec(sasrec), session, contentSpec, popularity]), "RECOMMEND 10 ITEMS FOR USER $u", false),
        ]
    }

    @Test func offlineTopTenIsTheServedListForEveryModelBlendAndChain() throws {
        try TemporaryDirectory.with { folder in
            let parity = try ServingParity(in: folder)
            let (full, served, split) = (parity.full, parity.served, parity.split)
            #expect(split.test.count == Self.tastes * Self.usersPerTaste && split.skippedUsers == 0)
            let servedLog = try served.read { r in try r.interactionLog() }
            #expect(servedLog.users == split.train.users && servedLog.items == split.train.items)
            #expect(servedLog.times == split.train.times)

            // The fixture does what it says: a user's latest visit ends on its lowest item id.
            let visit = parity.evaluator.history(of: 0).latestVisit
            #expect(visit.count == 4 && visit.last == visit.min() && visit.first == visit.max(), "\(visit)")

            for (spec, statement, refresh) in Self.cases {
                // One thread on both sides: BPR's and IRGAN's lock-free SGD is deterministic only on one.
                if refresh { try served.refresh(spec, threads: 1) }
                let model = spec.train(on: split.train, threads: 1, items: parity.catalog, sessionGap: full.sessionGap)
                try parity.expectOfflineEqualsServed(model, statement: statement, name: spec.name) { items in
                    // Every user has a history: SASRec fills the page (equal empty lists would prove nothing).
                    if spec.kind == .sasrec || spec.kind == .ncf { #expect(items.count == 10, "\(spec.name)") }
                }
            }
        }
    }

    /// The test part's histories hold the validation events (the standard protocol): offline, the models trained on
    /// the training part see them as history; served, they are events written after the refresh. Factor models fold
    /// such users in on both sides; every single kind's list is the same but `popularity`'s and `trending`'s, whose
    /// served counts are live (an event counts as it commits) where offline they count the training part.
    @Test func offlineTestHistoriesAreTheListsServedAfterNewerEvents() throws {
        try TemporaryDirectory.with { folder in
            let parity = try ServingParity(in: folder)
            let singles = Self.cases.filter { $0.refresh && ![.popularity, .trending].contains($0.spec.kind) }
            #expect(singles.count == 10)
            for (spec, _, _) in singles { try parity.served.refresh(spec, threads: 1) }
            try ServingParity.writeEvents(parity.served, parity.validationEvents)
            #expect(parity.evaluator.history(of: 0, from: parity.evaluator.atTest).newSinceTraining)
            for (spec, statement, _) in singles {
                let model = spec.train(
                    on: parity.split.train, threads: 1, items: parity.catalog, sessionGap: parity.full.sessionGap)
                try parity.expectOfflineEqualsServed(model, statement: statement, name: spec.name, atTest: true)
            }
        }
    }
}

