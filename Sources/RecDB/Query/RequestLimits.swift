/// How much work one statement may ask for. Checked when a statement is prepared, before any work: a statement over a
/// limit fails with ``RecDBError/Code/limitExceeded`` naming the limit, so no client can make the server spend
/// minutes on one request. `Schemas/query-language.md` lists the defaults.
///
/// ```swift
/// var limits = RequestLimits.standard
/// limits.maxResults = 5_000                       // deeper pages for a batch job
/// let statement = try db.prepare(text, limits: limits)
/// ```
public struct RequestLimits: Sendable, Hashable {
    /// `OFFSET` + count of one `RECOMMEND` page: deeper pages rank more candidates.
    public var maxResults = 1_000
    /// Models in one `USING BLEND(…)` or `CHAIN(…)`: each is asked for a full candidate pool.
    public var maxBlendModels = 8
    /// Items of a `FOR ITEMS (…)` basket.
    public var maxBasketItems = 100
    /// Items of an `EXCLUDE (…)` list.
    public var maxExcludedItems = 1_000
    /// Bytes of the text of `MATCHING '…'` and `ASK '…'` (the encoder and the language model read it).
    public var maxTextBytes = 1_000
    /// Conditions and listed values of one `WHERE` (every `IN` value counts).
    public var maxFilterTerms = 1_000
    /// Rows of `SHOW USER … LIMIT n`.
    public var maxHistoryRows = 1_000
    /// Attributes set by one `UPSERT`, and values of one list attribute.
    public var maxAttributes = 256

    /// The defaults, the same as ``standard``: change the fields that a caller needs raised or lowered.
    public init() {}

    /// The defaults.
    public static let standard = RequestLimits()

    /// Checks a parsed statement against the limits.
    func check(_ body: StatementBody) throws {
        switch body {
        case .recommend(let query):
            try limit(query.offset + query.count, maxResults, "OFFSET + count of RECOMMEND")
            try limit(query.models.count, maxBlendModels, "models in BLEND or CHAIN")
            try limit(query.exclude.count, maxExcludedItems, "items in EXCLUDE")
            if let filter = query.filter { try limit(Self.terms(of: filter), maxFilterTerms, "conditions and values in WHERE") }
            switch query.target {
            case .standard(.items(let ids)): try limit(ids.count, maxBasketItems, "items in FOR ITEMS")
            case .matching(let text): try limit(text.utf8.count, maxTextBytes, "bytes of the MATCHING text")
            default: break
            }
        case .ask(let text, _):
            try limit(text.utf8.count, maxTextBytes, "bytes of the ASK text")
        case .showUser(_, _, let rows?):
            try limit(rows, maxHistoryRows, "rows of SHOW USER … LIMIT")
        case .upsertItem(_, let attributes), .upsertUser(_, let attributes):
            try limit(attributes.count, maxAttributes, "attributes in UPSERT")
            for (name, value) in attributes {
                if case .strings(let values) = value { try limit(values.count, maxAttributes, "values of '\(name)'") }
            }
        default:
            break
        }
    }

    private func limit(_ value: Int, _ maximum: Int, _ what: String) throws {
        guard value <= maximum else {
            throw RecDBError(.limitExceeded, "\(what) is \(value); the limit is \(maximum)")
        }
    }

    /// Conditions and listed values of a predicate.
    static func terms(of predicate: ItemPredicate) -> Int {
        switch predicate {
        case .category, .tag, .compare, .available: 1
        case .oneOf(_, let values): 1 + values.count
        case .and(let parts), .or(let parts): parts.reduce(1) { $0 + terms(of: $1) }
        case .not(let inner): 1 + terms(of: inner)
        }
    }
}
