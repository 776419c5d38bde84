import Foundation
import RecDBTestSupport
import Testing

@testable import RecDB

/// The engine alone (this target never installs a text runtime): text features answer `not_found` naming RecText,
/// and everything else serves as before.
@Suite("Engine without a text runtime")
struct TextRuntimeAbsentTests {
    @Test func textFeaturesNameTheMissingModule() throws {
        #expect(!TextFeatures.isInstalled)
        do {
            _ = try SharedTextEncoder.get()
            Issue.record("the encoder loaded with no runtime installed")
        } catch let error as RecDBError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("RecText.install()"))
        }
        try ShopFixture.with { db in
            expectRecDBError(.notFound) { _ = try db.query("RECOMMEND 3 ITEMS FOR USER 'u1' EXPLAIN GENERATED") }
            // ASK falls back to a keyword search when no language model can read the request.
            let answer = try db.query("ASK 'murder detective'")
            #expect(answer["interpreted"]?["source"]?.stringValue == "fallback")
            #expect(try db.query("RECOMMEND 3 ITEMS FOR USER 'u1'")["items"]?.arrayValue?.count == 3)
        }
    }
}
