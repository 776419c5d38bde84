/// What to recommend, for whom, with which models and constraints: the request behind `RECOMMEND …`.
///
/// ```swift
/// var request = RecommendRequest(.user("u42"), count: 10)
/// request.filter = .and([.category("Books"), .compare(attribute: "price", .less, .number(20))])
/// request.diversification = .maximalMarginalRelevance(lambda: 0.7)
/// let page = try db.recommend(request)
/// ```
public struct RecommendRequest: Sendable, Hashable {
    /// Whom or what the recommendations are for.
    public enum Target: Sendable, Hashable {
        /// A known user (or an anonymous visitor stored as a user): personalised.
        case user(String)
        /// The next item in a visit, by the session's explicit id.
        case session(String)
        /// An anonymous basket or visit: the items in time order.
        case items([String])
        /// Items like one item.
        case similarTo(String)
        /// Users likely to want an item (a campaign audience).
        case usersForItem(String)
        /// Items whose text is like a phrase (`MATCHING 'waterproof hiking boots'`): the text model, else content.
        case matching(String)
    }

    /// How the list is made varied.
    public enum Diversification: Sendable, Hashable {
        /// Maximal marginal relevance: each pick maximises `lambda × relevance − (1 − lambda) × max similarity to the
        /// picks so far` (lambda 1 = no diversification).
        case maximalMarginalRelevance(lambda: Float)
        /// At most this many items of one category (path) on each page; items over the cap move to later pages.
        case perCategory(Int)
    }

    /// Whom or what the list is for; decides the models that can serve it and what is left out as already met.
    public var target: Target
    /// How many results (one page).
    public var count: Int
    /// Results to skip (earlier pages). Pages of the same snapshot never repeat an item.
    public var offset: Int
    /// Models and weights; empty means the default fallback chain. Several models are blended with their scores
    /// normalised per model, or chained when ``chain`` is set (``ModelExpression/weights`` gives them from
    /// `BLEND(…)` or `CHAIN(…)` text). When they yield fewer results than the page asks for, the default chain (without
    /// them) fills the rest, each filled result marked in ``Provenance/filledBy``, unless ``strict`` is set.
    public var models: [ModelWeight]
    /// Only items that meet this predicate.
    public var filter: ItemPredicate?
    /// Leave out items the user has interacted with (user targets; basket and session items are always left out).
    public var excludeSeen: Bool
    /// Items never to return.
    public var exclude: [String]
    /// How the list is made varied; ``Diversification/diversity(_:)`` gives the meaning of `DIVERSIFY amount`.
    public var diversification: Diversification?
    /// The ``models`` form a chain (`USING CHAIN(…)`): each fills the page after the ones before it, in order, as the
    /// default fallback chain does; false blends several models.
    public var chain = false
    /// Only the requested ``models`` serve (`STRICT`): a page they cannot fill stays short instead of being filled
    /// from the default chain.
    public var strict = false
    /// Whether to find each result's source items and render its explanation (a few vector reads per result);
    /// without it, results carry only the reason of their provenance.
    public var explain = true
    /// How hard the request's vector searches look (`WITH (EF = n, RERANK = m)`); the spaces' defaults when empty.
    public var search = VectorSearchOptions()

    /// A request for the `count` results after the first `offset` of `target`'s list. Defaults: 10 results from the
    /// fallback chain, no filter, the user's met items excluded, no diversification, not strict, explained.
    public init(
        _ target: Target, count: Int = 10, offset: Int = 0, models: [ModelWeight] = [], filter: ItemPredicate? = nil,
        excludeSeen: Bool = true, exclude: [String] = [], diversification: Diversification? = nil
    ) {
        self.target = target
        self.count = count
        self.offset = offset
        self.models = models
        self.filter = filter
        self.excludeSeen = excludeSeen
        self.exclude = exclude
        self.diversification = diversification
    }
}

/// A model in a request, with its weight in a blend.
public struct ModelWeight: Sendable, Hashable {
    /// A model's name as stored (`als`, `session`, …), not its kind; an untrained one fails with `notFound`.
    public var model: String
    /// Multiplier on the model's min–max-normalised scores in a blend (default 1); ignored in a chain or alone.
    public var weight: Float
    /// Names `model`, with `weight` 1 unless given (what `USING model` and `BLEND(model weight, …)` build).
    public init(_ model: String, weight: Float = 1) {
        self.model = model
        self.weight = weight
    }
}

/// One recommended item (or user, for ``RecommendRequest/Target/usersForItem(_:)``).
public struct Recommendation: Sendable, Hashable {
    /// The external id of the item (or user).
    public var id: String
    /// The dense id the database gave the item (or user) in this catalog; not stable across databases.
    public var internalID: UInt32
    /// The item's title, when it has one (nil for users).
    public var title: String?
    /// The score that ranked it: the model's own score, or the blended normalised score.
    public var score: Float
    /// The model that produced it (`als`, `session`, `popularity`, or `blend` for a blend).
    public var model: String
    /// What drove it.
    public var provenance: Provenance
    /// A sentence a shopper can read, rendered from the provenance.
    public var explanation: String
    /// Who wrote ``explanation``: the template, or the language model (`EXPLAIN GENERATED`, check passed).
    public var explanationSource: ExplanationSource = .template
    /// With `EXPLAIN GENERATED`, why the template was shown (`unsupported_statement`, `busy`, `deadline`,
    /// `no_facts`, `no_fact_cited`, `model_unavailable`); nil otherwise.
    public var fallbackReason: String?
    /// With `EXPLAIN GENERATED`: the facts the sentence could cite, read in the request's transaction.
    public var facts: ExplanationFacts?

    /// Who wrote an explanation.
    public enum ExplanationSource: String, Sendable, Hashable {
        /// The template sentence of the provenance.
        case template
        /// The language model, from the facts, accepted by the faithfulness check.
        case generated
    }
}

/// Why an item was recommended: the kind of evidence and the items (or neighbours) behind it.
public struct Provenance: Sendable, Hashable {
    /// The kind of evidence; the raw value is the name in the wire form (`"reason": "similar_item"`).
    public enum Reason: String, Sendable, Hashable {
        /// Items in the user's history (collaborative or content similarity to them).
        case history
        /// The current visit's items (what tends to come next).
        case session
        /// The basket's items (bought together).
        case basket
        /// The item asked about (similar items).
        case similarItem = "similar_item"
        /// Text and category likeness to the items named.
        case content
        /// Popularity, optionally within a category.
        case popularity
        /// Users whose tastes match the item (users for an item).
        case audience
        /// The item's text is like the phrase asked for.
        case matching
        /// A new user's own description of their interests (`about`).
        case profile
    }

    /// The kind of evidence, which picks the explanation's wording.
    public var reason: Reason
    /// The items behind it, most influential first: external id, title when known, and for history items the
    /// event type (`purchase`, `view`).
    public var items: [SourceItem]
    /// For popularity: the category it is popular in.
    public var category: String?
    /// For matching: the phrase.
    public var phrase: String?
    /// Neighbour sessions or users that voted, when the model has them (count only).
    public var neighbours: Int
    /// The default-chain model that filled this place because the requested models had too few results
    /// (`"filled_by": "popularity"`); nil for the requested models' own results.
    public var filledBy: String?

    /// An item behind a recommendation, as read from the catalog (never a name the models made up).
    public struct SourceItem: Sendable, Hashable {
        /// The item's external id.
        public var id: String
        /// The item's title; nil when it has none (the explanation then names the id).
        public var title: String?
        /// For `history` and `content`: the type of the user's newest event with the item that counted in its favour
        /// (a positive-weight or valued type, e.g. `purchase`); nil for other reasons.
        public var eventType: String?
    }
}
