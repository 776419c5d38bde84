import Foundation
import Testing

@testable import RecDB

/// The engine without a text runtime: the text features answer `not_found` naming RecText. (Every test target runs
/// in one process and the text suites install RecText, so this checks the lookup itself, not the process's state.)
@Suite("Engine without a text runtime")
struct TextRuntimeAbsentTests {
    @Test func textFeaturesNameTheMissingModule() throws {
        expectRecDBError(.notFound) { _ = try TextFeatures.require(nil) }
        do {
            _ = try TextFeatures.require(nil)
        } catch let error as RecDBError {
            #expect(error.message.contains("RecText.install()"), "\(error)")
        }
    }
}
