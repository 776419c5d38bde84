import Foundation
import Synchronization
import Testing

@testable import RecDB

/// EASE: the closed form against a numeric inverse, refresh and serving through item-kNN's neighbour lists, the
/// item limit, `refresh --tune`.
@Suite("EASE")
struct EASETests {
    /// `B = −P / diag(P)` with `P = (XᵀX + λI)⁻¹` by Gauss–Jordan elimination in doubles: the reference.
    static func referenceWeights(_ rows: [[Int]], items n: Int, lambda: Double) -> [[Double]] {
        var g = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for row in rows { for a in row { for b in row { g[a][b] += 1 } } }
        for i in 0..<n { g[i][i] += lambda }
        var p = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }
        for column in 0..<n {
            let pivot = (column..<n).max { abs(g[$0][column]) < abs(g[$1][column]) }!
            g.swapAt(column, pivot)
            p.swapAt(column, pivot)
            let scale = g[column][column]
            for k in 0..<n {
                g[column][k] /= scale
                p[column][k] /= scale
            }
            for r in 0..<n where r != column {
                let factor = g[r][column]
                for k in 0..<n {
                    g[r][k] -= factor * g[column][k]
                    p[r][k] -= factor * p[column][k]
                }
            }
        }
        return (0..<n).map { i in (0..<n).map { j in i == j ? 0 : -p[i][j] / p[j][j] } }
    }

    /// Five users over five items, one item (4) that nobody met.
    static let histories: [[Int]] = [[0, 1, 2], [0, 1], [1, 2, 3], [0, 3], [2, 3]]

    static var log: InteractionLog {
        var pairs: [(UInt32, UInt32)] = []
        for (user, items) in histories.enumerated() { for item in items { pairs.append((UInt32(user), UInt32(item))) } }
        return .pairs(pairs, users: histories.count, items: 5)
    }

    @Test(arguments: [Float(0.5), 10])
    func closedFormMatchesANumericInverse(lambda: Float) throws {
        var parameters = EASEModel.Parameters()
        parameters.lambda = lambda
        let model = EASEModel(log: Self.log, parameters: parameters, threads: 2)
        let reference = Self.referenceWeights(Self.histories, items: 4, lambda: Double(lambda))
        #expect(model.lists.count == 5)
        #expect(model.lists[4].isEmpty, "an item without events has no list")
        for i in 0..<4 {
            let list = model.lists[i]
            // All three other items are kept, largest weight first, the item itself left out.
            #expect(list.count == 3 && !list.contains { $0.item == UInt32(i) })
            #expect(zip(list, list.dropFirst()).allSatisfy { $0.similarity >= $1.similarity })
            for entry in list {
                let expected = reference[i][Int(entry.item)]
                let error = abs(Double(entry.similarity) - expected)
                #expect(error < 1e-4 * max(1, abs(expected)), "B[\(i), \(entry.item)]")
            }
        }
        // A user's scores are the sums of B's rows over the history; items met by nobody are no candidates.
        let scores = model.scores(for: 1, in: Self.log, items: 5)
        #expect(abs(Double(scores[2]) - (reference[0][2] + reference[1][2])) < 1e-4)
        #expect(scores[4] == -.infinity)
    }

    @Test func neighboursKeepsTheLargestWeights() {
        var parameters = EASEModel.Parameters()
        parameters.neighbours = 1
        let model = EASEModel(log: Self.log, parameters: parameters, threads: 1)
        let all = EASEModel(log: Self.log, threads: 1)
        for i in 0..<4 { #expect(model.lists[i].map(\.item) == [all.lists[i][0].item]) }
    }

    @Test func refreshStoresNeighbourListsThatServeRecommend() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            let report = try db.refresh(.ease(EASEModel.Parameters()), threads: 1)
            #expect(report.record.kind == .ease && report.record.parameters["lambda"] == 100)
            let answer = try db.query("RECOMMEND 3 ITEMS FOR USER 'u0' USING ease STRICT")
            let ids = try #require(answer["items"]?.arrayValue).compactMap { $0["id"]?.stringValue }
            // u0 met i0…i2 of the first block: its missing item leads.
            #expect(ids.first == "i3")
            // Blends and the default chain take it too.
            let blended = try db.query("RECOMMEND 3 ITEMS FOR USER 'u0' USING BLEND(ease 0.5, ease 0.5) STRICT")
            #expect(try #require(blended["items"]?.arrayValue).first?["id"]?.stringValue == "i3")
            let basket = try db.query("RECOMMEND 2 ITEMS FOR ITEMS ('i4', 'i5') USING ease STRICT")
            #expect(Set(try #require(basket["items"]?.arrayValue).compactMap { $0["id"]?.stringValue }) == ["i6", "i7"])
            // EVALUATE runs it.
            _ = try db.query("EVALUATE MODEL ease K 3")
        }
    }

    @Test func badParametersAndTooManyItemsAreRefused() throws {
        var parameters = EASEModel.Parameters()
        parameters.lambda = 0
        expectRecDBError(.invalidArgument) { try ModelSpec.ease(parameters).checkTrainable(on: Self.log) }
        var wide = InteractionLog()
        wide.userLimit = 1
        wide.itemLimit = EASEModel.maximumItems + 1
        for item in 0...EASEModel.maximumItems {
            wide.append(user: 0, item: UInt32(item), weight: 1, time: Int64(item))
        }
        expectRecDBError(.limitExceeded) { try ModelSpec.ease(EASEModel.Parameters()).checkTrainable(on: wide) }
        // In a blend too, and through refresh, which names the limit.
        expectRecDBError(.limitExceeded) {
            try ModelSpec.blend([.ease(EASEModel.Parameters()), .popularity(halfLifeDays: 30)], weights: [0.5, 0.5])
                .checkTrainable(on: wide)
        }
        try TemporaryDirectory.with { folder in
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try folder.createDatabase(options: options)
            try db.write { w in
                for item in 0...EASEModel.maximumItems {
                    try w.addEvent(EventInput("u\(item % 7)", "view", "i\(item)", at: Int64(item)))
                }
            }
            let error = #expect(throws: RecDBError.self) { try db.refresh(.ease(EASEModel.Parameters()), threads: 1) }
            #expect(error?.code == .limitExceeded)
            #expect(error?.message.contains("30000") == true, "\(String(describing: error))")
            #expect(try db.model("ease") == nil)
        }
    }

    @Test func refreshTunedScoresTheGridOnValidationAndStoresTheBest() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            let seen = SettingLog()
            let report = try db.refreshTuned(.ease(EASEModel.Parameters()), threads: 1) { seen.add($0.spec.name) }
            #expect(report.settings.count == 7 && report.untried == 0)
            #expect(seen.names == Array(repeating: "ease", count: 7))
            let best = report.settings.map(\.result.ndcg).max()!
            #expect(report.settings.first { $0.spec == report.chosen }?.result.ndcg == best)
            #expect(try db.model("ease")?.parameters == report.chosen.parameterTable)

            // A spent budget stops after the first setting; the first is still refreshed.
            let short = try db.refreshTuned(.itemKNN(neighbours: 10), budgetSeconds: 1e-9, threads: 1)
            #expect(short.settings.count == 1 && short.untried == 7)
            #expect(try db.model("itemknn")?.generation == 1)
            expectRecDBError(.invalidArgument) {
                try db.refreshTuned(.ease(EASEModel.Parameters()), budgetSeconds: 0, threads: 1)
            }
        }
    }
}

/// The settings a tuned refresh reported, collected across its callback.
private final class SettingLog: Sendable {
    private let storage = Mutex<[String]>([])
    var names: [String] { storage.withLock { $0 } }
    func add(_ name: String) { storage.withLock { $0.append(name) } }
}
