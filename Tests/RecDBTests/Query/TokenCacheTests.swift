import Foundation
import Testing

@testable import RecDB

/// The lexer's token cache and its byte-level keyword comparison: cached texts lex as before, parameters are bound
/// afresh on every parse, the cache stays bounded, and keyword case folding is ASCII-only.
@Suite("Token cache and keywords")
struct TokenCacheTests {
    @Test func aCachedTextGivesTheSameTokensAndFreshParameters() throws {
        let text = "RECOMMEND 10 ITEMS FOR USER $u EXCLUDE SEEN -- token cache test \(UInt64.random(in: 0 ... .max))"
        let first = try Lexer.tokens(text)
        let second = try Lexer.tokens(text)
        #expect(first == second)
        #expect(TokenCache.shared.tokens(of: text) == first)
        for user in ["u1", "u2"] {
            guard case .recommend(let query) = try Parser.parse(text, parameters: ["u": .string(user)]) else {
                Issue.record("not a RECOMMEND")
                return
            }
            #expect(query.target == .standard(.user(user)), "the cached tokens carry no parameter value")
        }
    }

    @Test func theCacheIsBounded() throws {
        let cache = TokenCache()
        for i in 0..<(TokenCache.capacity * 2 + 7) {
            let text = "SHOW ITEM 'i\(i)'"
            cache.remember(try Lexer.tokens(text), of: text)
            #expect(cache.count <= TokenCache.capacity)
        }
        let long = "SHOW ITEM '" + String(repeating: "x", count: TokenCache.maxTextLength) + "'"
        cache.remember(try Lexer.tokens(long), of: long)
        #expect(cache.tokens(of: long) == nil, "a text over the length limit is not kept")
    }

    @Test func aTextThatFailsToLexIsNotCached() {
        let text = "RECOMMEND 10 ITEMS FOR USER 'unterminated \(UInt64.random(in: 0 ... .max))"
        #expect(throws: RecDBError.self) { try Lexer.tokens(text) }
        #expect(TokenCache.shared.tokens(of: text) == nil)
    }

    @Test(arguments: ["recommend 3 items for user 'u'", "Recommend 3 Items For User 'u'", "RECOMMEND 3 ITEMS FOR USER 'u'"])
    func keywordsMatchInAnyASCIICase(_ text: String) throws {
        guard case .recommend(let query) = try Parser.parse(text, parameters: [:]) else {
            Issue.record("not a RECOMMEND: \(text)")
            return
        }
        #expect(query.count == 3 && query.target == .standard(.user("u")))
    }

    @Test func keywordCaseFoldingIsASCIIOnly() {
        // Unicode upper-cases the dotless ı to I and ſ to S; keywords compare ASCII letters only.
        for word in ["ıtems", "ITEMſ"] {
            let token = Token(kind: .word, text: word, offset: 0)
            #expect(!token.isKeyword("ITEMS"), "\(word)")
        }
        #expect(Token(kind: .word, text: "iTeMs", offset: 0).isKeyword("ITEMS"))
        #expect(!Token(kind: .word, text: "ITEM", offset: 0).isKeyword("ITEMS"))
        #expect(!Token(kind: .word, text: "ITEMSS", offset: 0).isKeyword("ITEMS"))
        #expect(!Token(kind: .string, text: "ITEMS", offset: 0).isKeyword("ITEMS"))
        #expect(throws: RecDBError.self) { try Parser.parse("RECOMMEND 3 ıtems FOR USER 'u'", parameters: [:]) }
    }
}
