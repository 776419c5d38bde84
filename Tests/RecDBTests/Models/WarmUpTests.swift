import Foundation
import Synchronization
import Testing

@testable import RecDB

/// Serving models are loaded before the first request needs them, and each entry once however many ask at once.
@Suite("Warm-up and model loads")
struct WarmUpTests {
    @Test func warmUpAnswersThroughEveryTrainedModel() throws {
        try TemporaryDirectory.with { folder in
            let db = try folder.createDatabase()
            #expect(try db.warmUp().isEmpty)
            try db.write { w in
                for item in 0..<30 { try w.upsertItem("i\(item)", attributes: ["title": .string("item \(item)")]) }
                for user in 0..<20 {
                    for n in 0..<6 {
                        try w.addEvent(EventInput("u\(user)", "view", "i\((user * 3 + n) % 30)", at: Int64(user * 10 + n)))
                    }
                }
            }
            #expect(try db.warmUp().isEmpty, "no model is trained yet")
            var als = ALSModel.Parameters()
            als.factors = 4
            als.iterations = 3
            try db.refresh(.popularity(halfLifeDays: 30), threads: 1)
            try db.refresh(.als(als), threads: 1)
            #expect(Set(try db.warmUp()) == ["popularity", "als"])
        }
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    @Test func anEntryIsLoadedOnceWhileOthersWait() {
        let cache = ModelCache()
        let loads = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let value = cache.value(model: "m", generation: 1, part: "p") { () -> Int in
                loads.value.add(1, ordering: .relaxed)
                usleep(50_000)
                return 42
            }
            #expect(value == 42)
        }
        #expect(loads.value.load(ordering: .relaxed) == 1)
        // A newer generation is loaded again; a failed load leaves the entry to the next asker.
        #expect(cache.value(model: "m", generation: 2, part: "p") { 7 } == 7)
        #expect(throws: RecDBError.self) {
            try cache.value(model: "n", generation: 1, part: "p") { () throws -> Int in
                throw RecDBError(.corrupted, "bad")
            }
        }
        #expect(cache.value(model: "n", generation: 1, part: "p") { 9 } == 9)
    }
}
