import Foundation
import Testing
@testable import RecML

/// llama.cpp's greedy reference generations (shared/reference/smollm2 beside the package root) and the installed model.
enum SmolLMReference {
    struct Case: Decodable {
        struct Message: Decodable { let role: String; let content: String }
        struct Top: Decodable { let id: Int32; let logit: Float; let piece: String }
        let id: String
        let messages: [Message]
        let prompt: String
        let prompt_token_ids: [Int32]
        let generated_token_ids: [Int32]
        let first_eos_index: Int
        let top5_logits_first3: [[Top]]
        let top1_top2_margin_per_step: [Float]

        var chatMessages: [ChatMessage] { messages.map { ChatMessage(role: $0.role, content: $0.content) } }

        /// Steps before the first one where llama.cpp's own top-1/top-2 margin is below `threshold`.
        func confidentSteps(threshold: Float = 0.5) -> Int {
            top1_top2_margin_per_step.firstIndex { $0 < threshold } ?? top1_top2_margin_per_step.count
        }
    }

    static let directory: String = {
        // Tests/RecMLTests/LLM/<file> -> package root -> ../shared/reference/smollm2
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/reference/smollm2").path
    }()

    static var available: Bool { FileManager.default.fileExists(atPath: directory + "/greedy_reference.jsonl") }

    static let cases: [Case] = {
        guard let text = try? String(contentsOfFile: directory + "/greedy_reference.jsonl", encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").compactMap {
            try? JSONDecoder().decode(Case.self, from: Data($0.utf8))
        }
    }()

    /// Tests that need the model run when it is installed, and also (to fail loudly) when `CI` is set.
    static var modelTestsEnabled: Bool {
        ModelFiles.smollm2.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil
    }

    nonisolated(unsafe) private static var loaded: SmolLM?

    /// The installed model, loaded once (tests using it are serialised). Throws `missingModel` when absent.
    static func model() throws -> SmolLM {
        if let loaded { return loaded }
        let m = try SmolLM.installed()
        loaded = m
        return m
    }
}
