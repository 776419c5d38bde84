import Foundation
import Testing
@testable import RecML

@Suite struct MappedFileTests {
    @Test func mapsFileBytes() throws {
        let path = NSTemporaryDirectory() + "recml-mapped-\(getpid())"
        try Data([1, 2, 3, 4]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try MappedFile(path: path)
        #expect(Array(file.bytes) == [1, 2, 3, 4])
    }

    @Test func missingFileIsMissingModel() {
        #expect(throws: RecMLError.self) { try MappedFile(path: "/nonexistent/recml-model.bin") }
        do {
            _ = try MappedFile(path: "/nonexistent/recml-model.bin")
        } catch let error as RecMLError {
            #expect(error.code == .missingModel)
            #expect(error.description.contains("/nonexistent/recml-model.bin"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
