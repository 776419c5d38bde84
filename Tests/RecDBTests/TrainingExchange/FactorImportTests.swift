import Foundation
import Testing

@testable import RecDB

/// `importFactors`: factors trained elsewhere become the `als` model's next generation through the refresh's own
/// path, serve like a refreshed one, and bad input fails before anything changes.
@Suite("ALS factors imported from Spark")
struct FactorImportTests {
    /// RecDB's ALS trained in memory on the fixture, written as the Spark job would write it (external ids).
    static func writeTrainedFactors(_ db: RecDatabase, to folder: String) throws -> ALSModel {
        let log = try db.read { r in try r.interactionLog() }
        let model = ALSModel(log: log, parameters: RefreshTests.als.alsParameters, threads: 1)
        let f = model.parameters.factors
        let (users, items) = try db.read { r -> ([(id: String, vector: [Float])], [(id: String, vector: [Float])]) in
            let users = try (0..<log.userLimit).compactMap { u -> (id: String, vector: [Float])? in
                guard let id = try r.externalUserID(UInt32(u)) else { return nil }
                return (id, Array(model.userFactors[u * f..<(u + 1) * f]))
            }
            let items = try (0..<log.itemLimit).compactMap { i -> (id: String, vector: [Float])? in
                guard let id = try r.externalItemID(UInt32(i)) else { return nil }
                return (id, Array(model.itemFactors[i * f..<(i + 1) * f]))
            }
            return (users, items)
        }
        try SparkFactorsFixture.write(
            to: folder, rank: f, users: users, items: items, lastEventSequence: try db.read { r in try r.lastEventSequence() })
        return model
    }

    @Test func importedFactorsServeAsTheNextGeneration() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als, threads: 1)
            let out = folder.appending("spark-out")
            let trained = try Self.writeTrainedFactors(db, to: out)
            let factors = try ImportedFactors.read(from: out)
            #expect(factors.rank == 2 && factors.userCount == 12 && factors.itemCount == 8)
            let report = try db.importFactors(factors, threads: 1)
            #expect(report.record.generation == 2 && report.record.space == "als@2")
            #expect(report.record.trainingSeconds == 1.5 && report.record.events == 46)
            #expect(report.record.parameters["factors"] == 2 && report.record.parameters["regularization"] == 0.05)
            #expect(report.record.parameters["alpha"] == 2 && report.record.parameters["iterations"] == 7)
            #expect(try db.spaces().map(\.name) == ["als@2"])
            #expect(try db.read { r in try r.vectorCount(space: "als@2", .items) } == 8)
            try db.read { r in
                // The refresh test's expectations hold for the same factors installed from files.
                let u0 = try r.recommend(model: "als", user: "u0", k: 10)
                let (seen, ids) = try RefreshTests.check(u0, for: "u0", in: r)
                #expect(u0.allSatisfy { !seen.contains($0.item) } && ids.first == "i3", "\(ids)")
            }
            // Scored as stored, the generation is the model that was written.
            let stored = try db.storedFactorModel("als")
            #expect(stored.name == "als@2 (stored)")
            #expect(stored.itemFactors == trained.itemFactors && stored.userFactors == trained.userFactors)
        }
    }

    @Test func badFactorFilesNameFileAndLineAndChangeNothing() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(RefreshTests.als, threads: 1)
            let users = [(id: "u0", vector: [Float](repeating: 0.5, count: 2))]
            let items = [(id: "i0", vector: [Float](repeating: 0.5, count: 2))]
            let cases: [(String, RecDBError.Code, String)] = [
                ("{\"id\":\"i0\",\"features\":[1,2]}\n{\"id\":\"nope\",\"features\":[1,2]}\n", .notFound, ":2"),
                ("{\"id\":\"i0\",\"features\":[1,2,3]}\n", .malformedInput, ":1"),
                ("{\"id\":\"i0\",\"features\":[1,2]}\n\n{\"id\":\"i1\",\"features\":[1,\"x\"]}\n", .malformedInput, ":3"),
                ("{\"id\":\"i0\",\"features\":[1,2]}\n{\"id\":\"i0\",\"features\":[1,2]}\n", .malformedInput, ":2"),
                ("{\"id\":\"i0\",\"features\":[1,2]\n", .malformedInput, ":1"),
            ]
            for (index, (text, code, line)) in cases.enumerated() {
                let out = folder.appending("bad\(index)")
                try SparkFactorsFixture.write(to: out, rank: 2, users: users, items: items, itemLines: text)
                let error = #expect(throws: RecDBError.self) {
                    try db.importFactors(try ImportedFactors.read(from: out), threads: 1)
                }
                #expect(error?.code == code, "\(String(describing: error))")
                #expect(error?.location == out + "/item_factors/part-00000-0c1d.json" + line, "\(String(describing: error))")
            }
            let unfinished = folder.appending("unfinished")
            try SparkFactorsFixture.write(to: unfinished, rank: 2, users: users, items: items, success: false)
            expectRecDBError(.truncatedInput) { _ = try ImportedFactors.read(from: unfinished) }
            expectRecDBError(.notFound) { _ = try ImportedFactors.read(from: folder.appending("missing")) }
            // Nothing changed: generation 1 still serves.
            #expect(try db.model("als")?.generation == 1 && db.spaces().map(\.name) == ["als@1"])
            #expect(try db.read { r in try r.recommend(model: "als", user: "u0", k: 3) }.count == 3)
        }
    }
}

extension ModelSpec {
    /// The ALS parameters of an `.als(…)` spec.
    var alsParameters: ALSModel.Parameters { (stored as? StoredALS)?.parameters ?? ALSModel.Parameters() }
}
