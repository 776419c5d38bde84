/// How a statement touches the database, so that a server can route it: reads run concurrently on snapshots, writes
/// share group-committed write transactions, admin statements are long jobs that only trusted peers may run.
public enum QueryKind: String, Sendable, Hashable {
    /// `RECOMMEND`, `ASK`, `SHOW` (`SHOW EXPERIMENT` too).
    case read
    /// `UPSERT`, `DELETE`, `EVENT`, `CREATE`/`ALTER`/`STOP EXPERIMENT`.
    case write
    /// `REFRESH`, `EVALUATE`.
    case admin
}

/// How much work a read asks for, so that a server can keep quick reads apart from slow ones: heavy reads run a
/// language model or the text encoder, or ask for a big blend, basket, filter or page.
public enum QueryCost: String, Sendable, Hashable {
    /// Milliseconds at most: plain recommendations, similar items, `SHOW`.
    case light
    /// Up to seconds: `EXPLAIN GENERATED`, `ASK`, `MATCHING`, blends or chains of more than two models, pages deeper
    /// than 200, baskets of more than 20 items, filters of more than 64 terms. Servers run these on their own bounded
    /// queue.
    case heavy
}

/// A parsed query with its parameters bound: ready for ``RecDatabase/execute(_:)``.
///
/// ```swift
/// let statement = try db.prepare("SHOW USER $u HISTORY LIMIT 5", parameters: ["u": "u42"])
/// if statement.kind == .read { print(try db.execute(statement).jsonText) }
/// ```
public struct Statement: Sendable {
    /// Whether the statement reads, writes or administers: how a server routes it and which roles may run it.
    public let kind: QueryKind
    /// Whether the statement is quick or slow to answer (reads; writes and admin statements are `light` and
    /// `heavy` by their nature).
    public let cost: QueryCost
    /// The query text as given.
    public let text: String
    let body: StatementBody

    init(text: String, body: StatementBody) {
        self.text = text
        self.body = body
        switch body {
        case .recommend, .ask, .showStats, .showModels, .showItem, .showUser, .showExperiment, .showExperiments:
            kind = .read
        case .upsertItem, .upsertUser, .deleteItem, .deleteUser, .event, .defineEventType, .createExperiment,
            .alterExperiment,
            .stopExperiment:
            kind = .write
        case .refresh, .evaluate: kind = .admin
        }
        cost = Self.cost(of: body)
    }

    /// The statement's verb in snake case (`recommend`, `event`, `show_experiment`, …): what metrics and logs
    /// count requests by. Its values are ``Statement/verbs``.
    public var verb: String {
        switch body {
        case .recommend: "recommend"
        case .upsertItem: "upsert_item"
        case .upsertUser: "upsert_user"
        case .deleteItem: "delete_item"
        case .deleteUser: "delete_user"
        case .event: "event"
        case .defineEventType: "define_event_type"
        case .ask: "ask"
        case .showStats: "show_stats"
        case .showModels: "show_models"
        case .showItem: "show_item"
        case .showUser: "show_user"
        case .refresh: "refresh"
        case .evaluate: "evaluate"
        case .createExperiment: "create_experiment"
        case .alterExperiment: "alter_experiment"
        case .stopExperiment: "stop_experiment"
        case .showExperiment: "show_experiment"
        case .showExperiments: "show_experiments"
        }
    }

    /// Every value ``verb`` takes.
    public static let verbs = [
        "recommend", "upsert_item", "upsert_user", "delete_item", "delete_user", "event", "ask", "show_stats",
        "show_models", "show_item", "show_user", "refresh", "evaluate", "create_experiment", "alter_experiment",
        "stop_experiment", "show_experiment", "show_experiments",
    ]

    /// Whether it is `REFRESH MODEL …`: a replicated cluster runs it through its log, so that every node trains at
    /// the same point of the log and at the same time.
    public var isRefresh: Bool {
        if case .refresh = body { return true }
        return false
    }

    /// The model `REFRESH MODEL name` names, as written; nil for every other statement.
    public var refreshedModel: String? {
        if case .refresh(let name) = body { return name }
        return nil
    }

    /// Whether ``RecDatabase/prepareModelInputs(for:)`` may run a model for it (`ASK`, `UPSERT ITEM`): a server runs
    /// that step off its event loops and before its writer's transaction.
    public var needsModelInputs: Bool {
        switch body {
        case .ask, .upsertItem: return true
        default: return false
        }
    }

    private static func cost(of body: StatementBody) -> QueryCost {
        switch body {
        case .ask, .refresh, .evaluate, .showExperiment:
            return .heavy
        case .recommend(let query):
            if query.generated || query.models.count > 2 || query.offset + query.count > 200 { return .heavy }
            if let filter = query.filter, RequestLimits.terms(of: filter) > 64 { return .heavy }
            switch query.target {
            case .matching: return .heavy
            case .standard(.items(let ids)) where ids.count > 20: return .heavy
            default: return .light
            }
        default:
            return .light
        }
    }
}

/// The parsed form of a statement, parameters already replaced by their values.
enum StatementBody: Sendable, Hashable {
    case recommend(RecommendQuery)
    case upsertItem(id: String, attributes: Attributes)
    case upsertUser(id: String, attributes: Attributes)
    case deleteItem(String)
    case deleteUser(String)
    /// An event; a nil timestamp means the time of execution.
    case event(EventQuery)
    /// `DEFINE EVENT TYPE name WEIGHT w` (or `WEIGHT VALUE`): adds or reweights an event type.
    case defineEventType(EventType)
    /// `ASK 'free text' [LIMIT n]`: a shopper's request read by the language model.
    case ask(String, count: Int)
    case showStats
    case showModels
    case showItem(String)
    case showUser(String, history: Bool, limit: Int?)
    case refresh(model: String)
    case evaluate(model: ModelExpression, k: Int, split: EvaluationSplit.Kind)
    case createExperiment(ExperimentDefinition)
    case alterExperiment(name: String, shares: [Int]?, allocation: Experiment.Allocation?)
    case stopExperiment(String)
    case showExperiment(String)
    case showExperiments
}

/// `RECOMMEND …` after parsing.
struct RecommendQuery: Sendable, Hashable {
    enum Target: Sendable, Hashable {
        /// Any target the recommend API serves.
        case standard(RecommendRequest.Target)
        /// `MATCHING 'text'`: items whose text is like the phrase.
        case matching(String)
    }

    var target: Target
    var count: Int
    var offset = 0
    var models: [ModelWeight] = []
    /// `USING CHAIN(…)`: the models fill the page one after another instead of blending.
    var chain = false
    var filter: ItemPredicate?
    var excludeSeen = true
    var exclude: [String] = []
    var diversification: RecommendRequest.Diversification?
    var explain = false
    /// `STRICT`: only the `USING` models serve; a short page is not filled from the default chain.
    var strict = false
    /// `EXPLAIN GENERATED`: explanations phrased by the language model, guarded.
    var generated = false
    /// `IN EXPERIMENT name`: the experiment's variant for this user or session chooses the models.
    var experiment: String?
    /// The variant given, once the read has bucketed the request (``CatalogReading/assignVariant(_:)``).
    var assignment: ExperimentAssignment?
    /// `WITH (EF = n, RERANK = m)`: how hard vector searches look.
    var search = VectorSearchOptions()

    var returnsUsers: Bool {
        if case .standard(.usersForItem) = target { return true }
        return false
    }

    /// The recommend API request for a standard target.
    func request(_ target: RecommendRequest.Target) -> RecommendRequest {
        var request = RecommendRequest(
            target, count: count, offset: offset, models: models, filter: filter, excludeSeen: excludeSeen,
            exclude: exclude, diversification: diversification)
        request.explain = explain
        request.search = search
        request.strict = strict
        request.chain = chain
        return request
    }
}

/// `EVENT …` after parsing.
struct EventQuery: Sendable, Hashable {
    var type: String
    var user: String
    var item: String
    var value: Double = 1
    var session: String?
    var timestamp: Timestamp?
    var text: String?
    /// `FROM RECOMMENDATION 'id'`: the experiment's recommendation this event answers.
    var recommendation: String?
}
