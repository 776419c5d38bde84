import Synchronization

/// The language model of this process (``TextFeatures``' runtime), loaded on first use and used by one request at a
/// time (it has one workspace, so it is not `Sendable`); a request waits for the one before it. This enum is the
/// model's only owner: the mutex is held for as long as `body` uses it.
///
/// The generation API the engine's features call: ``with(_:)`` for guided decoding (explanations) and
/// ``complete(system:examples:user:maxTokens:)`` for one greedy chat answer (`ASK`, profiles from `about`).
package enum SharedLanguageModel {
    private static let model = Mutex<(any GuidedLanguageModel)?>(nil)

    /// Runs `body` with the model; throws `not_found` when no runtime is installed or its model is missing.
    /// `body` is `@Sendable`, so the model cannot leave it: what it returns is `Sendable` and it captures nothing
    /// that another thread could reach the model through.
    package static func with<R: Sendable>(_ body: @Sendable (any GuidedLanguageModel) throws -> R) throws -> R {
        try model.withLock { model in
            if model == nil { model = try TextFeatures.runtime().loadLanguageModel() }
            InferenceProbe.willRun(.languageModel)
            return try body(model!)
        }
    }

    /// Greedy completion of one chat turn after worked examples (user, assistant pairs): the assistant's text.
    /// Stops (throwing) when the current request must stop.
    package static func complete(
        system: String, examples: [(String, String)] = [], user: String, maxTokens: Int
    ) throws -> String {
        let examples = examples.map { (user: $0.0, assistant: $0.1) }
        return try with { model in
            try RequestControl.stoppingCurrent {
                try model.complete(
                    system: system, examples: examples, user: user, maxTokens: maxTokens,
                    shouldStop: { RequestControl.currentShouldStop })
            }
        }
    }
}
