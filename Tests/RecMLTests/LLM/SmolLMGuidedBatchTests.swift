import Testing
import RecKernels
@testable import RecML

/// Guided batches: the head restricted to a vocabulary, and suffixes kept evaluated between calls (in the serialized
/// ``SmolLMTests`` suite, which owns the shared model).
extension SmolLMTests {
    /// The tokens a toy grammar may choose: a few runs and lone ids across the vocabulary.
    static let someTokens = LogitSubset(Array(Int32(0)..<40) + [198, 1_000, 1_001, 1_002, 30_000, 49_151])

    @Test func restrictedHeadComputesTheSameLogitsForItsTokensOnly() throws {
        let model = try SmolLMReference.model().model
        let prompt = SmolLMReference.cases[1].prompt_token_ids
        let vocab = model.config.vocab
        var full = [Float](repeating: 0, count: 2 * vocab), some = [Float](repeating: 0, count: 2 * vocab)
        let lists = [prompt, Array(prompt.prefix(7))]
        try full.withUnsafeMutableBufferPointer {
            let caches = lists.map { model.makeCache(capacity: $0.count) }
            try model.evaluateBatch(lists, caches: caches, logits: $0.baseAddress!)
        }
        try some.withUnsafeMutableBufferPointer {
            let caches = lists.map { model.makeCache(capacity: $0.count) }
            try model.evaluateBatch(lists, caches: caches, logits: $0.baseAddress!, vocabulary: Self.someTokens)
        }
        let chosen = Set(Self.someTokens.tokens.map(Int.init))
        for row in 0..<2 {
            for token in 0..<vocab {
                let (a, b) = (full[row * vocab + token], some[row * vocab + token])
                if chosen.contains(token) { #expect(a == b, "row \(row) token \(token)") } else { #expect(b == -.infinity) }
            }
        }
        #expect(throws: RecMLError.self) {
            try some.withUnsafeMutableBufferPointer {
                try model.evaluateBatch(
                    [prompt], caches: [model.makeCache(capacity: prompt.count)], logits: $0.baseAddress!,
                    vocabulary: LogitSubset([Int32(vocab)]))
            }
        }
    }

    /// Greedy over `someTokens`: restricted head or not, first call or suffixes kept from it, same sentences.
    @Test func keptSuffixesAndRestrictedHeadDecodeTheSameTokens() throws {
        let model = try SmolLMReference.model()
        let prompt = SmolLMReference.cases[2].prompt_token_ids
        let split = prompt.count - 4
        let prefix = Array(prompt[..<split])
        let suffixes = [Array(prompt[split...]), Array(prompt[(split + 2)...]), Array(prompt[split...]), []]
        func run(_ vocabulary: LogitSubset?) throws -> [[Int32]] {
            try model.generateGuidedBatch(prefix: prefix, suffixes: suffixes, maxTokens: 6, vocabulary: vocabulary) {
                _, logits in
                let best = Self.someTokens.tokens.max { logits[Int($0)] < logits[Int($1)] }!
                return GuidedToken(token: best, isLast: false)
            }
        }
        let plain = try run(nil)
        let first = try run(Self.someTokens)
        #expect(model.keptSuffixes.entries.count == 2)
        let again = try run(Self.someTokens)
        #expect(first == plain)
        #expect(again == plain)
        #expect(plain[0] == plain[2])
        #expect(plain.allSatisfy { $0.count == 6 })
    }
}
