/// How a statement touches the database, so that a server can route it: reads run concurrently on snapshots, writes
/// share group-committed write transactions, admin statements are long jobs that only trusted peers may run.
public enum QueryKind: String, Sendable, Hashable {
    /// `RECOMMEND`, `ASK`, `SHOW`.
    case read
    /// `UPSERT`, `DELETE`, `EVENT`.
    case write
    /// `REFRESH`, `EVALUATE`.
    case admin
}

/// A parsed query with its parameters bound: ready for ``RecDatabase/execute(_:)``.
///
/// ```swift
/// let statement = try db.prepare("SHOW USER $u HISTORY LIMIT 5", parameters: ["u": "u42"])
/// if statement.kind == .read { print(try db.execute(statement).jsonText) }
/// ```
public struct Statement: Sendable {
    public let kind: QueryKind
    /// The query text as given.
    public let text: String
    let body: StatementBody

    init(text: String, body: StatementBody) {
        self.text = text
        self.body = body
        switch body {
        case .recommend, .ask, .showStats, .showModels, .showItem, .showUser: kind = .read
        case .upsertItem, .upsertUser, .deleteItem, .deleteUser, .event: kind = .write
        case .refresh, .evaluate: kind = .admin
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
    /// `ASK 'free text' [LIMIT n]`: a shopper's request read by the language model.
    case ask(String, count: Int)
    case showStats
    case showModels
    case showItem(String)
    case showUser(String, history: Bool, limit: Int?)
    case refresh(model: String)
    case evaluate(model: String, k: Int, split: EvaluationSplit.Kind)
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
    var filter: ItemPredicate?
    var excludeSeen = true
    var exclude: [String] = []
    var diversification: RecommendRequest.Diversification?
    var explain = false
    /// `EXPLAIN GENERATED`: explanations phrased by the language model, guarded.
    var generated = false

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
}
