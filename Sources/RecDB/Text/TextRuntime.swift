import RecKernels
import Synchronization

/// The text and language-model runtimes the engine's text features run on: a sentence encoder (the `text` model,
/// `MATCHING`, profiles from `about`) and a small language model (`EXPLAIN GENERATED`, `ASK`, reading an `about`).
///
/// RecDB itself links no runtime: an app that embeds only the engine builds no encoder and no language model, and
/// its text features answer `not_found` naming what to add. The `RecText` module conforms (MiniLM and SmolLM2 from
/// RecML) and is installed once at start:
///
/// ```swift
/// import RecText
/// RecText.install()   // TextFeatures.install(RecTextRuntime())
/// ```
///
/// The engine loads each runtime once per process, on first use, and always runs it with no transaction open.
public protocol TextRuntime: Sendable {
    /// Loads the sentence encoder; throws `not_found` naming the install command when its files are missing.
    func loadEncoder() throws -> any SentenceEncoder
    /// Loads the language model; throws `not_found` naming the install command when its files are missing.
    func loadLanguageModel() throws -> any GuidedLanguageModel
}

/// A sentence encoder: text in, a unit-length vector out (all-MiniLM-L6-v2 in `RecText`: 384 dimensions).
public protocol SentenceEncoder: Sendable {
    /// Length of every vector the encoder returns.
    var dimension: Int { get }
    /// The vector of one text.
    func encode(_ text: String) -> [Float]
    /// The vectors of `texts`, in order, on up to `threads` threads.
    func encode(_ texts: [String], threads: Int) -> [[Float]]
}

/// A small chat language model as the engine drives it. Not `Sendable`: it owns one workspace, and the engine
/// lends it to one request at a time (``SharedLanguageModel``).
public protocol GuidedLanguageModel: AnyObject {
    /// The token ids of `text`; `special` parses chat markers such as `<|im_start|>`.
    func tokens(of text: String, special: Bool) -> [Int32]
    /// The text of `tokens`, special tokens left out.
    func text(of tokens: [Int32]) -> String
    /// Decodes one continuation of `prefix` per entry of `suffixes`, `choose(sequence, logits)` picking every token
    /// from that sequence's logits (it may overwrite them). The evaluated prefix may be kept between calls, so a
    /// prefix shared by every request is computed once. A sequence ends when `choose` says so or after `maxTokens`;
    /// `shouldStop`, asked often during every pass, stops the batch by throwing. With a `vocabulary` (every token
    /// `choose` may read), the runtime may compute only those logits; the others are then `-infinity`.
    func generateGuidedBatch(
        prefix: [Int32], suffixes: [[Int32]], maxTokens: Int, vocabulary: [Int32]?, shouldStop: () -> Bool,
        choose: (_ sequence: Int, _ logits: UnsafeMutablePointer<Float>) -> GuidedToken
    ) throws -> [[Int32]]
    /// The greedy answer to one chat turn: `system`, worked `examples` (user, assistant pairs), then `user`; at most
    /// `maxTokens` tokens; `shouldStop` stops it by throwing.
    func complete(
        system: String, examples: [(user: String, assistant: String)], user: String, maxTokens: Int,
        shouldStop: () -> Bool
    ) throws -> String
}

extension GuidedLanguageModel {
    /// ``generateGuidedBatch(prefix:suffixes:maxTokens:vocabulary:shouldStop:choose:)`` computing every logit.
    public func generateGuidedBatch(
        prefix: [Int32], suffixes: [[Int32]], maxTokens: Int, shouldStop: () -> Bool,
        choose: (_ sequence: Int, _ logits: UnsafeMutablePointer<Float>) -> GuidedToken
    ) throws -> [[Int32]] {
        try generateGuidedBatch(
            prefix: prefix, suffixes: suffixes, maxTokens: maxTokens, vocabulary: nil, shouldStop: shouldStop,
            choose: choose)
    }
}

/// Where the engine finds its ``TextRuntime``: installed once per process by the app (recd and recctl install
/// `RecText`'s at start).
public enum TextFeatures {
    private static let installed = Mutex<(any TextRuntime)?>(nil)

    /// Makes `runtime` the one the text features use. Install before the first text request: an encoder or
    /// language model already loaded from an earlier runtime stays in use.
    public static func install(_ runtime: any TextRuntime) {
        installed.withLock { $0 = runtime }
    }

    /// Whether a runtime is installed.
    public static var isInstalled: Bool { installed.withLock { $0 != nil } }

    /// The installed runtime; throws `not_found` saying how to install one.
    static func runtime() throws -> any TextRuntime {
        try require(installed.withLock { $0 })
    }

    /// `runtime`, or the `not_found` error that says how to install one when it is nil.
    static func require(_ runtime: (any TextRuntime)?) throws -> any TextRuntime {
        guard let runtime else {
            throw RecDBError(
                .notFound,
                "text features (the text model, MATCHING, EXPLAIN GENERATED, ASK) need a text runtime: link RecText "
                    + "and call RecText.install() at start")
        }
        return runtime
    }
}
