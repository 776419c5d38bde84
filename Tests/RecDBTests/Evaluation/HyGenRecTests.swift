import Foundation
import RecDBTestSupport
import Testing

@testable import RecDB

/// The stored `hygenrec` kind: refreshed after its parts, it stores the learned blender, serves through the
/// planner's blend, and offline evaluation ranks what `RECOMMEND … USING hygenrec` serves.
@Suite("HyGenRec stored kind")
struct HyGenRecTests {
    typealias Fixture = ServingParityTests

    /// The parts HyGenRec blends in these tests, small enough to train in a moment.
    static var parts: [ModelSpec] {
        let als = Fixture.smallALS, content = Fixture.smallContent
        return [
            .session(SessionKNNModel.Parameters()), .content(content), .itemKNN(neighbours: 20),
            .popularity(halfLifeDays: 30), .als(als),
        ]
    }

    @Test func offlineTopTenIsTheServedHyGenRecList() throws {
        try TemporaryDirectory.with { folder in
            let parity = try ServingParity(in: folder)
            let (full, served, split, catalog) = (parity.full, parity.served, parity.split, parity.catalog)

            // Before its parts are trained there is nothing to blend.
            #expect(throws: RecDBError.self) { try served.refresh(try ModelSpec.named("hygenrec")) }
            for part in Self.parts { try served.refresh(part) }
            let report = try served.refresh(try ModelSpec.named("hygenrec"))
            #expect(report.record.kind == .hygenrec && report.record.generation == 1)

            let spec = try served.composedSpec(try ModelSpec.named("hygenrec"))
            let model = try #require(
                spec.train(on: split.train, items: catalog, sessionGap: full.sessionGap) as? LearnedBlendModel)
            #expect(model.partNames == ["als", "session", "content", "itemknn", "popularity"])
            let stored = try served.read { r in try r.hygenrecBlender(report.record) }
            #expect(stored.parts == model.partNames)
            #expect(stored.warmWeights == model.warmWeights && stored.coldWeights == model.coldWeights)
            #expect(abs(stored.warmWeights.reduce(0, +) - 1) < 1e-4 && stored.validationUsers > 0)

            try parity.expectOfflineEqualsServed(
                model, statement: "RECOMMEND 10 ITEMS FOR USER $u USING hygenrec STRICT", name: "hygenrec"
            ) { items in
                #expect(items.count == 10 && items.allSatisfy { $0["model"]?.stringValue == "hygenrec" })
            }

            // The same list as the BLEND its warm weights spell (every fixture user is warm).
            let terms = zip(stored.parts, stored.warmWeights).map { "\($0) \($1)" }.joined(separator: ", ")
            let id = try #require(try full.read { r in try r.externalUserID(0) })
            let viaBlend = try served.query(
                "RECOMMEND 10 ITEMS FOR USER $u USING BLEND(\(terms)) STRICT", parameters: ["u": .string(id)])
            let viaKind = try served.query(
                "RECOMMEND 10 ITEMS FOR USER $u USING hygenrec STRICT", parameters: ["u": .string(id)])
            #expect(viaBlend["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
                == viaKind["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue })

            // Evaluation trains the stored parts' specs and learns the weights the same way.
            let (_, rows) = try served.evaluate([try ModelSpec.named("hygenrec")], split: .leaveLastOut)
            #expect(rows.count == 1 && rows[0].result.ndcg > 0)
        }
    }

    @Test func aRequestForAUserWithAFewItemsTakesTheColdWeights() {
        func resolved(_ items: [UInt32]) -> ResolvedRequest {
            var request = ResolvedRequest(request: RecommendRequest(.user("u"), count: 10))
            request.history = items.enumerated().map { index, item in
                HistoryEntry(timestamp: Timestamp(milliseconds: Int64(index)), sequence: UInt64(index), itemID: item, sessionID: 0)
            }
            return request
        }
        #expect(StoredHyGenRec.isCold(resolved([]), limit: 3))
        #expect(StoredHyGenRec.isCold(resolved([4, 4, 5, 6, 6]), limit: 3))
        #expect(!StoredHyGenRec.isCold(resolved([1, 2, 3, 4]), limit: 3))
        #expect(!StoredHyGenRec.isCold(ResolvedRequest(request: RecommendRequest(.session("s"), count: 10)), limit: 3))
    }
}
