/// One token chosen by the caller of a guided decoder: the engine's explanation grammar picks it, the language model
/// runtime (`SmolLM.generateGuidedBatch` in RecML, driven through RecDB's `GuidedLanguageModel`) appends it. Kept
/// here, below both, so that the two share one type without depending on each other.
public struct GuidedToken: Sendable, Hashable {
    /// The token to append.
    public var token: Int32
    /// Whether the sequence ends with this token (it is returned but not evaluated).
    public var isLast: Bool
    /// Tokens that follow `token` with no choice (the rest of a placeholder): appended and evaluated in the same pass,
    /// so a forced span costs one step instead of one per token.
    public var continuation: [Int32]

    /// Appends `token` and then `continuation`; `isLast` ends the sequence with them.
    public init(token: Int32, isLast: Bool, continuation: [Int32] = []) {
        self.token = token
        self.isLast = isLast
        self.continuation = continuation
    }
}
