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
    public var model: String
    public var weight: Float
    public init(_ model: String, weight: Float = 1) {
        self.model = model
        self.weight = weight
    }
}

/// One recommended item (or user, for ``RecommendRequest/Target/usersForItem(_:)``).
public struct Recommendation: Sendable, Hashable {
    /// The external id of the item (or user).
    public var id: String
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
}

/// Why an item was recommended: the kind of evidence and the items (or neighbours) behind it.
public struct Provenance: Sendable, Hashable {
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

    public struct SourceItem: Sendable, Hashable {
        public var id: String
        public var title: String?
        public var eventType: String?
    }
}
