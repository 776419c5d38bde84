import Foundation
import Testing

@testable import RecDB

/// `importSimilarities`: the item similarities `spark/train_als.py --similar-items K` writes become the `itemknn`
/// model's next generation through the refresh's own path, serve like a refreshed one, and bad input fails before
/// anything changes.
@Suite("Item similarities imported from Spark")
struct SimilarityImportTests {
    /// Writes `folder/item_similarities` (one part file and `_SUCCESS`, or `lines` as the part's text) and
    /// `folder/model.json`, as the Spark job does.
    static func writeSimilarities(
        to folder: String, _ rows: [(id: String, similar: [(id: String, score: Float)])], lines: String? = nil
    ) throws {
        let files = FileManager.default
        let side = folder + "/item_similarities"
        try files.createDirectory(atPath: side, withIntermediateDirectories: true)
        let meta: [String: Any] = ["format": "recdb-spark-als", "rank": 2, "training_seconds": 2.5, "events": 46]
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: folder + "/model.json"))
        let text = try lines ?? rows.map { row in
            let similar = row.similar.map { ["score": Double($0.score), "id": $0.id] as [String: Any] }
            let object: [String: Any] = ["id": row.id, "similar": similar]
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: side + "/part-00000-5e1f.json"))
        _ = files.createFile(atPath: side + "/_SUCCESS", contents: Data())
    }

    @Test func importedSimilaritiesServeAsTheNextGeneration() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(.itemKNN(neighbours: 5), threads: 1)
            let users = (0..<12).map { "u\($0)" }
            let before = try db.read { r in try users.map { try r.recommend(model: "itemknn", user: $0, k: 10) } }
            // RecDB's own lists, written with external ids and shuffled, as an external trainer would hand them over.
            let log = try db.read { r in try r.interactionLog() }
            let lists = ItemKNNModel(log: log, neighbours: 5, threads: 1).lists
            let rows = try db.read { r in
                try lists.indices.map { item in
                    (id: try #require(try r.externalItemID(UInt32(item))),
                     similar: try lists[item].reversed().map { (id: try #require(try r.externalItemID($0.item)), score: $0.similarity) })
                }
            }
            let out = folder.appending("spark-out")
            try Self.writeSimilarities(to: out, rows)
            let similarities = try ImportedSimilarities.read(from: out)
            #expect(similarities.itemCount == 8 && similarities.neighbours == lists.map(\.count).max())
            let report = try db.importSimilarities(similarities)
            #expect(report.record.kind == .itemKNN && report.record.generation == 2)
            #expect(report.record.trainingSeconds == 2.5 && report.record.events == 46)
            let after = try db.read { r in try users.map { try r.recommend(model: "itemknn", user: $0, k: 10) } }
            #expect(after.map { $0.map(\.item) } == before.map { $0.map(\.item) })
            #expect(after.map { $0.map(\.score) } == before.map { $0.map(\.score) })
            #expect(after.contains { !$0.isEmpty })
        }
    }

    @Test func badSimilarityFilesNameFileAndLineAndChangeNothing() throws {
        try TemporaryDirectory.with { folder in
            let db = try RefreshTests.makeDatabase(folder)
            try db.refresh(.itemKNN(neighbours: 5), threads: 1)
            let cases: [(String, RecDBError.Code, String)] = [
                ("{\"id\":\"i0\",\"similar\":[{\"id\":\"i1\",\"score\":0.5}]}\n{\"id\":\"i1\",\"similar\":[{\"id\":\"nope\",\"score\":0.5}]}\n",
                 .notFound, ":2"),
                ("{\"id\":\"i0\",\"similar\":[{\"id\":\"i1\",\"score\":\"x\"}]}\n", .malformedInput, ":1"),
                ("{\"id\":\"i0\"}\n", .malformedInput, ":1"),
                ("{\"id\":\"i0\",\"similar\":[]}\n{\"id\":\"i0\",\"similar\":[]}\n", .malformedInput, ":2"),
                ("{\"id\":\"i0\",\"similar\":[\n", .malformedInput, ":1"),
            ]
            for (index, (text, code, line)) in cases.enumerated() {
                let out = folder.appending("bad\(index)")
                try Self.writeSimilarities(to: out, [], lines: text)
                let error = #expect(throws: RecDBError.self) {
                    try db.importSimilarities(try ImportedSimilarities.read(from: out))
                }
                #expect(error?.code == code, "\(String(describing: error))")
                #expect(
                    error?.location == out + "/item_similarities/part-00000-5e1f.json" + line,
                    "\(String(describing: error))")
            }
            expectRecDBError(.notFound) { _ = try ImportedSimilarities.read(from: folder.appending("missing")) }
            // Nothing changed: generation 1 still serves.
            #expect(try db.model("itemknn")?.generation == 1)
            #expect(try db.read { r in try r.recommend(model: "itemknn", user: "u0", k: 3) }.count > 0)
        }
    }
}
