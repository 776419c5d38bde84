import Testing

@testable import RecML

/// The tokenizer's rules on a tiny made-up vocabulary (no model needed).
@Suite struct WordPieceTokenizerTests {
    static let vocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "cr", "##eme", "un", "##aff", "##able", ",", "!", "日",
        "本", "a", "b", "##b", "st", "##raße", "'", "s",
    ]

    static func make(maxTokens: Int = 256) throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabulary: vocabulary, maxTokens: maxTokens)
    }

    @Test func lowercasesStripsAccentsAndSplitsPieces() throws {
        let tokenizer = try Self.make()
        #expect(tokenizer.tokens("Café CRÈME") == ["[CLS]", "cafe", "cr", "##eme", "[SEP]"])
        #expect(
            tokenizer.tokens("unaffable, Straße!")
                == ["[CLS]", "un", "##aff", "##able", ",", "st", "##raße", "!", "[SEP]"])
    }

    @Test func unknownWordsAndCJK() throws {
        let tokenizer = try Self.make()
        #expect(tokenizer.tokens("日本語") == ["[CLS]", "日", "本", "[UNK]", "[SEP]"])
        #expect(tokenizer.tokens("unx a") == ["[CLS]", "[UNK]", "a", "[SEP]"])
        #expect(tokenizer.tokens(String(repeating: "b", count: 101)) == ["[CLS]", "[UNK]", "[SEP]"])
        #expect(tokenizer.tokenize(String(repeating: "b", count: 100)).count == 102)
    }

    @Test func cleansControlsAndWhitespace() throws {
        let tokenizer = try Self.make()
        #expect(
            tokenizer.tokens("\u{0}a\u{FFFD}\t\u{200B}b\n\u{00A0}s's") == ["[CLS]", "a", "b", "s", "'", "s", "[SEP]"])
        #expect(tokenizer.tokens("") == ["[CLS]", "[SEP]"])
        #expect(tokenizer.tokens("   ") == ["[CLS]", "[SEP]"])
    }

    /// The reference's category tables are Unicode 8.0: later characters are neither split off nor dropped.
    @Test func charactersNewerThanUnicode8StayInTheirWord() throws {
        let tokenizer = try Self.make()
        #expect(tokenizer.tokens("a\u{2E42}b") == ["[CLS]", "a", "[UNK]", "b", "[SEP]"])  // Ps, Unicode 8.0
        #expect(tokenizer.tokens("a\u{2E43}b") == ["[CLS]", "[UNK]", "[SEP]"])  // Po, Unicode 9.0
        #expect(tokenizer.tokens("a\u{061C}b") == ["[CLS]", "a", "##b", "[SEP]"])  // Cf, Unicode 6.3: dropped
        #expect(tokenizer.tokens("a\u{08E2}b") == ["[CLS]", "[UNK]", "[SEP]"])  // Cf, Unicode 9.0: kept
    }

    @Test func literalSpecialTokensStayWhole() throws {
        let tokenizer = try Self.make()
        #expect(tokenizer.tokens("a[SEP]b [mask]") == ["[CLS]", "a", "[SEP]", "b", "[UNK]", "[UNK]", "[UNK]", "[SEP]"])
        // Matched on scalars: a combining mark after the token does not hide it.
        #expect(tokenizer.tokens("[SEP]\u{301}a") == ["[CLS]", "[SEP]", "a", "[SEP]"])
    }

    @Test func truncatesToMaxTokens() throws {
        let tokenizer = try Self.make(maxTokens: 5)
        #expect(tokenizer.tokens("a a a a a a") == ["[CLS]", "a", "a", "a", "[SEP]"])
        #expect(tokenizer.tokens("unaffable a") == ["[CLS]", "un", "##aff", "##able", "[SEP]"])
    }

    @Test func vocabularyWithoutSpecialTokensIsRejected() {
        #expect(throws: RecMLError.self) { try WordPieceTokenizer(vocabulary: ["a", "b"], maxTokens: 10) }
    }
}
