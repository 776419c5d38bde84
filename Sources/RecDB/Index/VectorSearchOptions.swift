/// How hard one request's vector searches look: the HNSW walk's candidate list (`ef`) and, in spaces with int8 or
/// float16 codes, how many of its best candidates are re-ranked exactly from the full-precision vectors. Written in a
/// `RECOMMEND` statement as `WITH (EF = 200, RERANK = 50)`; nil fields keep the space's defaults (its `ef`, and
/// ``VectorIndexSnapshot/defaultRerank(k:)``).
///
/// ```swift
/// var request = RecommendRequest(.similarTo("sku-1"), count: 10)
/// request.search = VectorSearchOptions(ef: 200, rerank: 50)
/// ```
public struct VectorSearchOptions: Sendable, Hashable {
    /// The walk's candidate list size; larger finds more of the true nearest neighbours and costs more time.
    public var ef: Int?
    /// Candidates re-ranked exactly over int8 or float16 codes (at least the page, at most `ef`); ignored by float32
    /// spaces, whose walks are exact already.
    public var rerank: Int?

    /// The values `ef` and `rerank` may take.
    public static let range = 1...4096

    /// Options with the given values; nil keeps the space's default.
    public init(ef: Int? = nil, rerank: Int? = nil) {
        self.ef = ef
        self.rerank = rerank
    }

    /// Throws `invalid_argument` naming the setting when a value is outside ``range``.
    public func validate() throws {
        for (name, value) in [("EF", ef), ("RERANK", rerank)] {
            if let value, !Self.range.contains(value) {
                throw RecDBError(
                    .invalidArgument, "WITH (\(name) = \(value)): \(name) must be \(Self.range.lowerBound)…\(Self.range.upperBound)")
            }
        }
    }
}
