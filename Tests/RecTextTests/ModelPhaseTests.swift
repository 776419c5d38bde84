import Foundation
import RecDBTestSupport
import RecML
import RecTestSupport
import RecText
import Testing

@testable import RecDB

/// The language model and the text encoder run with no LMDB transaction open: a read waits for none of them, and a
/// writer is never held while an item's text is encoded.
@Suite("Models run outside transactions")
struct ModelPhaseTests {
    init() { RecText.install() }

    /// What the probe saw at each inference on this test's thread.
    final class Sightings: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: [(InferenceProbe.Model, Int)] = []
        func add(_ model: InferenceProbe.Model, _ value: Int) {
            lock.lock()
            seen.append((model, value))
            lock.unlock()
        }
        func values(_ model: InferenceProbe.Model) -> [Int] {
            lock.lock()
            defer { lock.unlock() }
            return seen.filter { $0.0 == model }.map(\.1)
        }
    }

    /// Runs `body` and records `measure()` at every inference that runs on this thread (tests run in parallel:
    /// other threads' inferences are not this test's).
    static func observeInferences(
        _ measure: @escaping @Sendable () -> Int, _ body: () throws -> Void
    ) rethrows -> Sightings {
        let sightings = Sightings()
        let thread = pthread_self()
        try InferenceProbe.observing({ model in
            if pthread_equal(pthread_self(), thread) != 0 { sightings.add(model, measure()) }
        }, body)
        return sightings
    }

    @Test func theReaderProbeCountsOpenReadTransactions() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            #expect(db.environment.openReadTransactions == 0)
            let inside = try db.read { _ in db.environment.openReadTransactions }
            #expect(inside == 1)
            #expect(db.environment.openReadTransactions == 0)
        }
    }

    @Test(
        .enabled(
            if: (ModelFiles.smollm2.isInstalled && ModelFiles.minilm.isInstalled)
                || ProcessInfo.processInfo.environment["CI"] != nil,
            "SmolLM2 or MiniLM is not installed; run: recctl models install minilm smollm2"))
    func generationAskAndProfilesRunWithNoReadOpen() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            try db.refresh(.text)
            // Texts no other test uses, so no cached sentence or profile skips the models.
            _ = try db.query("UPSERT USER 'phase-newcomer' SET about = 'I restore old bicycles and brew coffee at home'")
            let sightings = try Self.observeInferences({ db.environment.openReadTransactions }) {
                let page = try db.query("RECOMMEND 4 ITEMS FOR USER 'u17' EXPLAIN GENERATED")
                #expect(page["generated"]?["sentences"] != nil, "\(page)")
                _ = try db.query("ASK 'a warm blanket for my grandmother, under 25 pounds' LIMIT 3")
                let cold = try db.query("RECOMMEND 3 ITEMS FOR USER 'phase-newcomer' USING text STRICT EXPLAIN")
                #expect(cold["items"]?.arrayValue?.isEmpty == false, "\(cold)")
                // The embedded entry point too: the profile is encoded between two reads.
                #expect(try db.recommend(RecommendRequest(.user("phase-newcomer"), count: 3)).first?.model == "text")
            }
            #expect(!sightings.values(.languageModel).isEmpty, "the language model ran")
            #expect(!sightings.values(.textEncoder).isEmpty, "the encoder ran")
            #expect(sightings.values(.languageModel).allSatisfy { $0 == 0 }, "\(sightings.values(.languageModel))")
            #expect(sightings.values(.textEncoder).allSatisfy { $0 == 0 }, "\(sightings.values(.textEncoder))")
        }
    }

    @Test(
        .enabled(
            if: ModelFiles.minilm.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil,
            "MiniLM is not installed; run: recctl models install minilm"))
    func upsertEncodesItsTextBeforeTheWriteTransaction() throws {
        try TemporaryDirectory.with { folder in
            let db = try ShopFixture.makeDatabase(folder)
            try db.refresh(.text)
            // While the encoder runs, another thread's EVENT must commit: it could not if a writer were held.
            let sightings = try Self.observeInferences({
                let committed = DispatchSemaphore(value: 0)
                Thread.detachNewThread {
                    _ = try? db.query("EVENT 'u1' view 'g3'")
                    committed.signal()
                }
                return committed.wait(timeout: .now() + 10) == .success ? 1 : 0
            }) {
                _ = try db.query("UPSERT ITEM 'phase-item' SET title = 'Copper watering can', category = 'garden/tools'")
            }
            #expect(sightings.values(.textEncoder) == [1], "an EVENT commits while the item's text is encoded")
            // The vector is the one the encoder gives the item's text (as stored by the space, which may normalise it).
            let space = try #require(try db.model(TextModel.storedName)?.space)
            let stored = try #require(try db.read { r in try r.vector(space: space, id: "phase-item") })
            let item = try #require(try db.read { r in try r.item("phase-item") })
            let encoded = try SharedTextEncoder.encode(ItemText.of(item))
            let dot = zip(stored, encoded).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let norms = (stored.reduce(Float(0)) { $0 + $1 * $1 } * encoded.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
            #expect(stored.count == encoded.count && dot / norms > 0.9999, "cosine \(dot / norms)")
        }
    }
}
