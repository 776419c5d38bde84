/// One message of a chat, rendered by the model's chat template.
public struct ChatMessage: Sendable, Equatable {
    /// `system`, `user` or `assistant`.
    public var role: String
    /// The message's text, without template markup; the chat template adds the role markers.
    public var content: String

    /// Creates a message; `role` should be one the model's chat template knows (`system`, `user`, `assistant`).
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    /// Instructions that frame the conversation, rendered before the first user turn.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    /// What the person (or RecDB on their behalf) asks.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    /// An earlier answer of the model, for multi-turn prompts.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
}

/// How tokens are chosen during generation.
///
/// The defaults are greedy decoding (temperature 0) up to 128 tokens, stopping at end-of-turn/EOS.
/// ```swift
/// var options = GenerationOptions(maxTokens: 48)
/// options.temperature = 0.7; options.topP = 0.9; options.seed = 42     // sampling
/// options.beamWidth = 4; options.lengthPenalty = 1.0                      // or beam search
/// ```
public struct GenerationOptions: Sendable, Equatable {
    /// Token budget: at most this many new tokens.
    public var maxTokens: Int
    /// 0 (or below) picks the most likely token (greedy, ties to the lowest id); otherwise logits are divided by it.
    public var temperature: Float
    /// Keep only the k most likely tokens before sampling (0 = no limit).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches p (1 = no limit).
    public var topP: Float
    /// Penalty for tokens among the last `repetitionWindow` tokens (1 = none): positive logits are divided by it,
    /// negative ones multiplied (llama.cpp's rule).
    public var repetitionPenalty: Float
    /// How many of the most recent tokens (prompt included) the repetition penalty looks at.
    public var repetitionWindow: Int
    /// Seed of the random generator used by sampling; equal seeds give equal outputs.
    public var seed: UInt64
    /// Beam search width; 1 disables beam search.
    public var beamWidth: Int
    /// Beam scores are the summed log-probabilities divided by length^lengthPenalty.
    public var lengthPenalty: Float
    /// Generation stops after emitting one of these (included in the output). Defaults to the model's EOS and
    /// end-of-turn ids when nil.
    public var stopTokens: Set<Int32>?

    /// Creates options; every argument defaults to greedy decoding of up to 128 tokens without penalties.
    public init(
        maxTokens: Int = 128, temperature: Float = 0, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1,
        repetitionWindow: Int = 64, seed: UInt64 = 0, beamWidth: Int = 1, lengthPenalty: Float = 1,
        stopTokens: Set<Int32>? = nil
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.seed = seed
        self.beamWidth = beamWidth
        self.lengthPenalty = lengthPenalty
        self.stopTokens = stopTokens
    }

    /// Greedy decoding up to `maxTokens`.
    public static func greedy(maxTokens: Int = 128) -> GenerationOptions { GenerationOptions(maxTokens: maxTokens) }
}

/// A small, fast, seedable random generator (SplitMix64).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Starts the sequence at `seed`; equal seeds give equal sequences on every platform.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits (SplitMix64: add the golden-ratio increment, then mix).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
