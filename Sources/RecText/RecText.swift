import RecDB
import RecKernels
import RecML

/// RecDB's text features on RecML: the MiniLM sentence encoder and the SmolLM2 language model, installed into the
/// engine as its ``RecDB/TextRuntime``, and the `text` model kind. An app that wants `USING text`, `MATCHING`,
/// `EXPLAIN GENERATED` or `ASK` links this module and calls ``install()`` once at start; `recd` and `recctl` do.
public enum RecText {
    /// Installs ``RecTextRuntime`` as the engine's text runtime and registers the kinds built on it (`text`,
    /// `llmprofile`, `textadapter`, `pseudoreview`) with the engine's model registry (idempotent).
    public static func install() {
        TextFeatures.install(RecTextRuntime())
        ModelRegistry.register(StoredText.self)
        ModelRegistry.register(StoredLLMProfiles.self)
        ModelRegistry.register(StoredTextAdapter.self)
        ModelRegistry.register(StoredPseudoReviews.self)
    }
}

/// The ``RecDB/TextRuntime`` backed by RecML: all-MiniLM-L6-v2 (`recctl models install minilm`) and
/// SmolLM2-135M-Instruct (`recctl models install smollm2`), each loaded from the installed model files.
public struct RecTextRuntime: TextRuntime {
    /// Threads the language model decodes with.
    public var threads: Int

    /// A runtime whose language model decodes on `threads` threads.
    public init(threads: Int = 2) {
        self.threads = threads
    }

    /// The installed MiniLM encoder; `not_found` naming `recctl models install minilm` when it is absent.
    public func loadEncoder() throws -> any SentenceEncoder {
        try Self.translatingMissingModel { try MiniLMSentenceEncoder(encoder: MiniLMEncoder.installed()) }
    }

    /// The installed SmolLM2; `not_found` naming `recctl models install smollm2` when it is absent.
    public func loadLanguageModel() throws -> any GuidedLanguageModel {
        try Self.translatingMissingModel { try SmolLMDriver(model: SmolLM.installed(threads: threads)) }
    }

    /// RecML's errors as the engine's `not_found` (the message names the install command).
    private static func translatingMissingModel<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as RecMLError {
            throw RecDBError(.notFound, error.description, cause: error)
        }
    }
}

/// MiniLM as the engine's ``RecDB/SentenceEncoder``.
struct MiniLMSentenceEncoder: SentenceEncoder {
    let encoder: MiniLMEncoder

    var dimension: Int { encoder.dimension }

    func encode(_ text: String) -> [Float] { encoder.encode(text) }

    func encode(_ texts: [String], threads: Int) -> [[Float]] { encoder.encode(texts, threads: threads) }
}

/// SmolLM2 as the engine drives it: tokens, guided batches (the kept prefix makes the shared prompt free after the
/// first page) and greedy chat answers in the model's ChatML format.
final class SmolLMDriver: GuidedLanguageModel {
    let model: SmolLM

    init(model: SmolLM) {
        self.model = model
    }

    func tokens(of text: String, special: Bool) -> [Int32] {
        model.tokenizer.encode(text, parseSpecial: special)
    }

    func text(of tokens: [Int32]) -> String {
        model.tokenizer.decode(tokens, skipSpecial: true)
    }

    func generateGuidedBatch(
        prefix: [Int32], suffixes: [[Int32]], maxTokens: Int, vocabulary: [Int32]?, shouldStop: () -> Bool,
        choose: (_ sequence: Int, _ logits: UnsafeMutablePointer<Float>) -> GuidedToken
    ) throws -> [[Int32]] {
        try model.generateGuidedBatch(
            prefix: prefix, suffixes: suffixes, maxTokens: maxTokens, vocabulary: vocabulary.map(LogitSubset.init),
            shouldStop: shouldStop, choose: choose)
    }

    func complete(
        system: String, examples: [(user: String, assistant: String)], user: String, maxTokens: Int,
        shouldStop: () -> Bool
    ) throws -> String {
        var text = "<|im_start|>system\n\(system)<|im_end|>\n"
        for example in examples {
            text += "<|im_start|>user\n\(example.user)<|im_end|>\n<|im_start|>assistant\n\(example.assistant)<|im_end|>\n"
        }
        text += "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
        let prompt = model.tokenizer.encode(text, parseSpecial: true)
        let tokens = try model.generateThrowing(
            prompt: prompt, options: .greedy(maxTokens: maxTokens), shouldStop: shouldStop
        ) { _ in true }
        return model.tokenizer.decode(tokens, skipSpecial: true)
    }
}
