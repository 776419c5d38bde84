import Foundation
import Testing

@testable import RecDB

// A model kind defined entirely in this file and registered at run time: the planner, refresh, SHOW MODELS and
// evaluation reach it through the registry with no edit anywhere else.

extension ModelPart {
    /// The toy kind's events per item.
    static let eventCounts = ModelPart(rawValue: 200)
}

/// Items by how many events they have (ties by lower id), counting only items with at least `minimumEvents`.
struct StoredBusiest: StoredModel {
    var minimumEvents = 1

    static var kind: ModelKind { "busiest" }
    static var aliases: [String] { ["busy"] }
    static var storedParameters: [ModelParameter<Self>] { [.count("minimum_events", \.minimumEvents)] }

    init() {}

    func train(_ input: TrainingInput) -> any Recommender { BusiestItems(log: input.log, minimum: minimumEvents) }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        guard let busiest = trained as? BusiestItems else { return }
        try generation.writeFloats(.eventCounts, busiest.counts)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? { nil }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        let counts = try reader.modelFloats(record, part: .eventCounts)
        var ranked: [Candidate] = []
        for (item, count) in counts.enumerated() where count > 0 && resolved.accepts(UInt32(item)) {
            ranked.append(Candidate(item: UInt32(item), score: count, model: record.name, reason: .popularity))
        }
        return try reader.bestLive(ranked, pool: pool)
    }
}

/// The trained toy model: events per item id.
struct BusiestItems: Recommender {
    let name = "busiest"
    let counts: [Float]

    init(log: InteractionLog, minimum: Int) {
        var counts = [Float](repeating: 0, count: log.itemLimit)
        for item in log.items { counts[Int(item)] += 1 }
        self.counts = counts.map { $0 >= Float(minimum) ? $0 : 0 }
    }

    func score(user: UInt32, history: UserHistory, into scores: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<scores.count { scores[i] = i < counts.count && counts[i] > 0 ? counts[i] : -.infinity }
    }
}

@Suite struct ToyModelKindTests {
    /// User `uK` views `b0` … `b(4−K)` in order: `b0` has 5 events, `b1` 4, … `b4` 1, `b5` none.
    static func fill(_ db: RecDatabase) throws {
        try db.write { w in
            for i in 0..<6 { try w.upsertItem("b\(i)", attributes: ["title": .string("Box \(i)")]) }
            var minute: Int64 = 0
            for user in 0..<5 {
                for item in 0...(4 - user) {
                    _ = try w.addEvent(EventInput("u\(user)", "view", "b\(item)", at: minute))
                    minute += 1
                }
            }
        }
    }

    @Test func aKindRegisteredInOneFileTrainsRefreshesServesAndEvaluates() throws {
        ModelRegistry.register(StoredBusiest.self)
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            try Self.fill(db)

            let refreshed = try db.query("REFRESH MODEL busy")
            #expect(refreshed["model"]?.stringValue == "busiest")
            let record = try #require(try db.model("busiest"))
            #expect(record.kind == "busiest" && record.generation == 1 && record.parameters == ["minimum_events": 1])
            #expect(ModelSpec(record: record) == (try ModelSpec.named("busiest")))

            let served = try db.query("RECOMMEND 3 ITEMS FOR USER 'u4' USING busiest STRICT")
            let ids = try #require(served["items"]?.arrayValue).compactMap { $0["id"]?.stringValue }
            #expect(ids == ["b1", "b2", "b3"])

            // Offline, the trained model ranks the same list for the same user.
            let log = try db.read { try $0.interactionLog() }
            let model = try ModelSpec.named("busiest").train(on: log)
            var scores = [Float](repeating: 0, count: log.itemLimit)
            let user = try #require(try db.read { try $0.userID(for: "u4") })
            let offline = scores.withUnsafeMutableBufferPointer { buffer in
                model.score(user: user, history: UserHistory(), into: buffer)
                buffer[0] = -.infinity  // b0, the item u4 met
                return Evaluator.topK(buffer, k: 3)
            }
            #expect(offline.map { "b\($0)" } == ids)

            let evaluated = try db.query("EVALUATE MODEL busiest K 3")
            #expect(evaluated["model"]?.stringValue == "busiest")
            #expect((evaluated["users"]?.numberValue ?? 0) > 0)
            let models = try #require(try db.query("SHOW MODELS")["models"]?.arrayValue)
            #expect(models.contains { $0["kind"]?.stringValue == "busiest" })
        }
    }
}
