import Synchronization

/// The tokens of recently lexed statement texts, so that a statement sent again (a client's fixed text with new
/// `$parameter` values) is not split into characters and tokens again. Parameters are bound by the parser after
/// this step, so a text's tokens do not depend on its values.
///
/// Bounded: texts of at most ``maxTextLength`` bytes, at most ``capacity`` of them; when full, the cache starts
/// over (a workload of more distinct texts than that lexes as before).
final class TokenCache: Sendable {
    /// The cache `Lexer.tokens(_:)` uses.
    static let shared = TokenCache()
    /// Texts kept at most.
    static let capacity = 512
    /// Longest text kept, in bytes of UTF-8.
    static let maxTextLength = 2048

    private let entries = Mutex([String: [Token]]())

    /// The cached tokens of `text`, if any.
    func tokens(of text: String) -> [Token]? {
        guard text.utf8.count <= Self.maxTextLength else { return nil }
        return entries.withLock { $0[text] }
    }

    /// Keeps `tokens` as the tokens of `text` (a text too long to keep is ignored).
    func remember(_ tokens: [Token], of text: String) {
        guard text.utf8.count <= Self.maxTextLength else { return }
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[text] = tokens
        }
    }

    /// Texts cached now.
    var count: Int { entries.withLock { $0.count } }
}
