/// The token ids whose logits a pass computes when the caller will read no others: the LM head multiplies only these
/// rows of its matrix (every other logit is written as `-infinity`). A guided decoder whose grammar allows a few
/// hundred of SmolLM2's 49,152 tokens passes its grammar's whole vocabulary and skips most of the head's work.
///
/// ```swift
/// let allowed = LogitSubset([period, comma] + wordTokens)
/// try model.generateGuidedBatch(prefix: p, suffixes: s, maxTokens: 24, vocabulary: allowed) { … }
/// ```
public struct LogitSubset: Sendable, Hashable {
    /// The ids, sorted and without repeats.
    public let tokens: [Int32]
    /// Runs of consecutive ids, each at most ``runLength`` long (the head's unit of work, split across threads).
    let runs: [Range<Int>]
    static let runLength = 16

    /// The subset of `tokens` (any order, repeats ignored).
    public init(_ tokens: some Sequence<Int32>) {
        let sorted = Array(Set(tokens)).sorted()
        self.tokens = sorted
        var runs: [Range<Int>] = []
        var index = 0
        while index < sorted.count {
            let start = Int(sorted[index])
            var end = start + 1
            index += 1
            while index < sorted.count, Int(sorted[index]) == end, end - start < Self.runLength {
                end += 1
                index += 1
            }
            runs.append(start..<end)
        }
        self.runs = runs
    }
}
