import Foundation
import Testing

@testable import RecML

/// The reference vectors in `../shared/reference/minilm/reference.jsonl` (beside the package root) and the
/// installed model, shared by the MiniLM tests.
enum MiniLMFixtures {
    struct Reference {
        let index: Int
        let text: String
        let ids: [Int32]
        let tokens: [String]
        let embedding: [Float]
    }

    /// The package root, three folders above this file's folder.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let referencePath = packageRoot + "/../shared/reference/minilm/reference.jsonl"

    static var hasReference: Bool { FileManager.default.fileExists(atPath: referencePath) }

    /// Under CI the model tests run (and fail when the model is absent); elsewhere they are skipped without it.
    static var modelTestsEnabled: Bool {
        ModelFiles.minilm.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil
    }

    static let skipMessage: Comment = "MiniLM is not installed; run: recctl models install minilm"

    static func references() throws -> [Reference] {
        let text = try String(contentsOfFile: referencePath, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return Reference(
                index: try #require(object["index"] as? Int),
                text: try #require(object["text"] as? String),
                ids: try #require(object["input_ids"] as? [Int]).map { Int32($0) },
                tokens: try #require(object["tokens"] as? [String]),
                embedding: try #require(object["embedding"] as? [Double]).map { Float($0) }
            )
        }
    }

    /// The installed encoder, loaded once for all tests. Throws `missingModel` when it is not installed.
    static func encoder() throws -> MiniLMEncoder {
        try loaded.get()
    }

    private static let loaded = Result { try MiniLMEncoder.installed() }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0
        var na = 0.0
        var nb = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            na += Double(x) * Double(x)
            nb += Double(y) * Double(y)
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// A fresh temporary folder, removed by `body`'s end.
    static func withTemporaryFolder<R>(_ body: (String) throws -> R) throws -> R {
        let path = NSTemporaryDirectory() + "recml-minilm-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }
}
