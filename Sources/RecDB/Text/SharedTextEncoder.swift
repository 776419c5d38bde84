import Synchronization

/// The sentence encoder of this process (``TextFeatures``' runtime), loaded once on first use.
package enum SharedTextEncoder {
    private static let loaded = Mutex<(any SentenceEncoder)?>(nil)

    /// The encoder; throws `not_found` when no runtime is installed or its files are missing (naming the fix).
    package static func get() throws -> any SentenceEncoder {
        try loaded.withLock { loaded in
            if let loaded { return loaded }
            let encoder = try TextFeatures.runtime().loadEncoder()
            loaded = encoder
            return encoder
        }
    }

    /// The vector of `text` from the encoder (an inference: keep transactions closed while it runs).
    package static func encode(_ text: String) throws -> [Float] {
        let encoder = try get()
        InferenceProbe.willRun(.textEncoder)
        return encoder.encode(text)
    }
}
