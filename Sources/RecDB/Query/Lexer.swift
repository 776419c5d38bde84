/// One token of a query: a bare word (keyword, identifier or id), a quoted string, a number, a `$parameter` or a
/// symbol, with the 0-based character offset where it starts.
struct Token: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case word, string, number, parameter, symbol, end
    }

    var kind: Kind
    /// Words and numbers as written; strings unquoted and unescaped; parameters without the `$`.
    var text: String
    var offset: Int
    /// The value of a number token.
    var number: Double = 0

    /// Whether this is the keyword `keyword` (given in upper case ASCII), in any case.
    ///
    /// Case folding is ASCII-only: `limit`, `Limit` and `LIMIT` are the keyword, a word with non-ASCII letters never
    /// is (not even `lımıt`, whose dotless `ı` Unicode upper-cases to `I`). Compared byte by byte, with no new string.
    func isKeyword(_ keyword: String) -> Bool {
        guard kind == .word else { return false }
        var word = text.utf8.makeIterator()
        for expected in keyword.utf8 {
            guard let byte = word.next() else { return false }
            let folded = byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte
            guard folded == expected else { return false }
        }
        return word.next() == nil
    }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol && text == symbol }

    /// How the token reads in an error message.
    var quoted: String {
        switch kind {
        case .end: "the end of the query"
        case .string: "'" + String(text.prefix(40)) + "'"
        case .parameter: "$" + text
        default: "'" + String(text.prefix(40)) + "'"
        }
    }
}

/// Splits query text into tokens. Keywords are not told apart from identifiers here: the parser decides by position.
///
/// - Bare words: a letter or `_`, then letters, digits and `_ - . : / @` (`leave-last-out`, `i7`, `Books/Thriller`).
/// - Numbers: `12`, `-3.5`, `1e6`; a number run straight into letters is a bare word (`85123A`).
/// - Strings: `'…'` or `"…"`, the quote doubled inside (`'it''s'`).
/// - Parameters: `$name`. Comments: `--` to the end of the line.
struct Lexer {
    /// Queries longer than this many bytes of UTF-8 are refused.
    static let maxLength = 64 * 1024

    private let characters: [Character]
    private var index = 0

    init(_ text: String) {
        characters = Array(text)
    }

    /// The tokens of `text`; those of a short statement seen recently come from ``TokenCache`` (a client sends
    /// the same text again and again, with new parameter values).
    static func tokens(_ text: String) throws -> [Token] {
        guard text.utf8.count <= maxLength else {
            throw RecDBError(
                .syntax, "the query has \(text.utf8.count) bytes; at most \(maxLength) are allowed at 0", position: 0)
        }
        if let cached = TokenCache.shared.tokens(of: text) { return cached }
        var lexer = Lexer(text)
        var tokens: [Token] = []
        while let token = try lexer.next() { tokens.append(token) }
        tokens.append(Token(kind: .end, text: "", offset: lexer.characters.count))
        TokenCache.shared.remember(tokens, of: text)
        return tokens
    }

    private func peek(_ ahead: Int = 0) -> Character? {
        index + ahead < characters.count ? characters[index + ahead] : nil
    }

    private static func isWordStart(_ c: Character) -> Bool { c.isLetter || c == "_" }

    private static func isDigit(_ c: Character?) -> Bool {
        guard let c, let ascii = c.asciiValue else { return false }
        return ascii >= 48 && ascii <= 57
    }

    /// Whether `c` continues a bare word at the current position (a `-` only when not starting a `--` comment).
    private func continuesWord(_ offset: Int) -> Bool {
        guard let c = peek(offset) else { return false }
        if c.isLetter || c.isNumber || c == "_" || c == "." || c == ":" || c == "/" || c == "@" { return true }
        if c == "-" { return peek(offset + 1) != "-" }
        return false
    }

    private mutating func next() throws -> Token? {
        // Whitespace and comments.
        while let c = peek() {
            if c.isWhitespace {
                index += 1
            } else if c == "-", peek(1) == "-" {
                while let d = peek(), !d.isNewline { index += 1 }
            } else {
                break
            }
        }
        guard let c = peek() else { return nil }
        let start = index
        if c == "'" || c == "\"" { return try string(quote: c) }
        if c == "$" {
            index += 1
            while let d = peek(), d.isLetter || d.isNumber || d == "_" { index += 1 }
            guard index > start + 1 else {
                throw RecDBError(.syntax, "expected a parameter name after '$' at \(start)", position: start)
            }
            return Token(kind: .parameter, text: String(characters[start + 1..<index]), offset: start)
        }
        if Self.isDigit(c) || (c == "-" || c == "+" || c == ".") && Self.isDigit(peek(1))
            || (c == "-" || c == "+") && peek(1) == "." && Self.isDigit(peek(2))
        {
            return number()
        }
        if Self.isWordStart(c) {
            index += 1
            while continuesWord(0) { index += 1 }
            return Token(kind: .word, text: String(characters[start..<index]), offset: start)
        }
        for symbol in ["<=", ">=", "!=", "<>"] where c == symbol.first && peek(1) == symbol.last {
            index += 2
            return Token(kind: .symbol, text: symbol == "<>" ? "!=" : symbol, offset: start)
        }
        if "(),[]=<>;/:".contains(c) {
            index += 1
            return Token(kind: .symbol, text: String(c), offset: start)
        }
        let shown =
            c.unicodeScalars.first.map {
                $0.isASCII && $0.value >= 32 ? String(c) : "U+" + String($0.value, radix: 16, uppercase: true)
            } ?? "?"
        throw RecDBError(.syntax, "unexpected character '\(shown)' at \(start)", position: start)
    }

    private mutating func string(quote: Character) throws -> Token {
        let start = index
        index += 1
        var text = ""
        while true {
            guard let c = peek() else {
                throw RecDBError(.syntax, "unterminated string starting at \(start)", position: start)
            }
            index += 1
            if c == quote {
                if peek() == quote {
                    text.append(quote)
                    index += 1
                    continue
                }
                return Token(kind: .string, text: text, offset: start)
            }
            text.append(c)
        }
    }

    private mutating func number() -> Token {
        let start = index
        if peek() == "-" || peek() == "+" { index += 1 }
        while Self.isDigit(peek()) { index += 1 }
        if peek() == ".", Self.isDigit(peek(1)) {
            index += 1
            while Self.isDigit(peek()) { index += 1 }
        }
        if peek() == "e" || peek() == "E" {
            let signed = peek(1) == "-" || peek(1) == "+"
            if Self.isDigit(peek(signed ? 2 : 1)) {
                index += signed ? 2 : 1
                while Self.isDigit(peek()) { index += 1 }
            }
        }
        // A number run straight into letters is an id such as 85123A.
        if let c = peek(), c.isLetter || c == "_" || c == "-" && peek(1) != "-" && continuesWord(1) {
            while continuesWord(0) { index += 1 }
            return Token(kind: .word, text: String(characters[start..<index]), offset: start)
        }
        let text = String(characters[start..<index])
        guard let value = Double(text) else { return Token(kind: .word, text: text, offset: start) }
        return Token(kind: .number, text: text, offset: start, number: value)
    }
}
