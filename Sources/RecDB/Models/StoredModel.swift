import Foundation

/// One model kind with its typed parameters: how it trains from a snapshot, writes and reads a generation, and
/// scores candidates for `RECOMMEND` and for offline evaluation.
///
/// A value is the kind's parameters (`StoredALS(parameters:)`); the statics describe the kind. Adding a kind is one
/// file with a conforming type plus one line in ``ModelRegistry/builtIn``: the planner, ``ModelSpec``, refresh and
/// evaluation reach it only through the registry.
package protocol StoredModel: Sendable, Hashable {
    /// The kind written in the model's record; also the name a refresh stores it under by default.
    static var kind: ModelKind { get }
    /// Other names `ModelSpec.named` accepts for the kind (`pop`, `knn`).
    static var aliases: [String] { get }
    /// The typed parameters as `name → number`, for the record and `SHOW MODELS`: the one list both directions are
    /// derived from (``parameterTable`` and ``init(parameterTable:)``).
    static var storedParameters: [ModelParameter<Self>] { get }
    /// Whether training reads the catalog's items (content, text) rather than only events.
    static var trainsOnItems: Bool { get }
    /// Whether training needs the text encoder (`recctl models install minilm`).
    static var needsTextEncoder: Bool { get }
    /// Whether the kind personalises from a user's history: the first such trained model leads a user's default
    /// chain and the others follow only if it cannot serve.
    static var personalises: Bool { get }

    /// The default parameters.
    init()

    /// A small grid around these parameters, for `recctl tune`.
    var tuningGrid: [Self] { get }

    /// Throws `invalidArgument` naming a parameter out of range, before a refresh trains.
    func validateParameters() throws

    /// Throws `limitExceeded` when `log` is larger than the kind can train on (EASE's dense Gram matrix), before
    /// refresh or evaluation trains.
    func checkFits(_ log: InteractionLog) throws

    /// Trains on `input`'s snapshot, in memory: what refresh stores and evaluation scores.
    func train(_ input: TrainingInput) -> any Recommender

    /// Writes what `trained` (made by ``train(_:)``) serves from into the new generation.
    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws

    /// Vectors for items written while `trained` trained, given in the transaction that switches to the new
    /// generation; nil when the kind keeps no item vectors.
    func vectorsForNewItems(_ trained: any Recommender) -> ((Item) -> [Float]?)?

    /// Where the kind stands in the default fallback chain for `target` (lower first; ties in registry order), or
    /// nil when it is not in that chain.
    static func chainPosition(for target: RecommendRequest.Target) -> Int?

    /// A stored generation's best `pool` candidates for the request that it accepts, best first.
    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate]

    /// Whether an item write keeps the kind's item vectors current (``currentItemVector(for:record:inputs:in:)``).
    static var keepsItemVectorsCurrent: Bool { get }

    /// The vector an item written now gets in a stored generation's space (nil: none). `inputs` holds what models
    /// computed before the write transaction (``RecDatabase/prepareModelInputs(for:)``), when the statement was
    /// prepared.
    static func currentItemVector<Reader: CatalogReading & ~Copyable>(
        for item: Item, record: ModelRecord, inputs: ModelInputs?, in reader: borrowing Reader
    ) throws -> [Float]?

    /// What `SHOW USER` shows of the user from the kind's active model, under ``userFactName`` (the `llmprofile`
    /// kind's generated profile); nil when the kind keeps nothing about users to show.
    static func userFact<Reader: CatalogReading & ~Copyable>(
        ofUserID user: UInt32, in reader: borrowing Reader
    ) throws -> QueryValue?

    /// The member of `SHOW USER`'s answer that ``userFact(ofUserID:in:)`` fills.
    static var userFactName: String { get }

    /// What `SHOW ITEM` shows of the item from the kind's active model, under ``itemFactName`` (the `pseudoreview`
    /// kind's generated sentence); nil when the kind keeps nothing about items to show.
    static func itemFact<Reader: CatalogReading & ~Copyable>(
        ofItemID item: UInt32, in reader: borrowing Reader
    ) throws -> QueryValue?

    /// The member of `SHOW ITEM`'s answer that ``itemFact(ofItemID:in:)`` fills.
    static var itemFactName: String { get }
}

extension StoredModel {
    package static var aliases: [String] { [] }
    package static var storedParameters: [ModelParameter<Self>] { [] }
    package static var trainsOnItems: Bool { false }
    package static var needsTextEncoder: Bool { false }
    package static var personalises: Bool { false }
    package static var keepsItemVectorsCurrent: Bool { false }
    package var tuningGrid: [Self] { [self] }
    package func validateParameters() throws {}
    package func checkFits(_ log: InteractionLog) throws {}
    package func vectorsForNewItems(_ trained: any Recommender) -> ((Item) -> [Float]?)? { nil }

    package static func currentItemVector<Reader: CatalogReading & ~Copyable>(
        for item: Item, record: ModelRecord, inputs: ModelInputs?, in reader: borrowing Reader
    ) throws -> [Float]? { nil }

    package static func userFact<Reader: CatalogReading & ~Copyable>(
        ofUserID user: UInt32, in reader: borrowing Reader
    ) throws -> QueryValue? { nil }

    package static var userFactName: String { kind.rawValue }

    package static func itemFact<Reader: CatalogReading & ~Copyable>(
        ofItemID item: UInt32, in reader: borrowing Reader
    ) throws -> QueryValue? { nil }

    package static var itemFactName: String { kind.rawValue }

    /// The parameters as stored in the record, from ``parameters``.
    var parameterTable: [String: Double] {
        Dictionary(uniqueKeysWithValues: Self.storedParameters.map { ($0.name, $0.read(self)) })
    }

    /// A spec of this kind with the parameters a record holds (defaults for those it lacks), or the defaults.
    static func spec(parameterTable table: [String: Double] = [:]) -> ModelSpec {
        ModelSpec(Self(parameterTable: table))
    }

    /// The parameters a record holds, defaults for those it lacks.
    init(parameterTable table: [String: Double]) {
        self.init()
        for parameter in Self.storedParameters {
            if let value = table[parameter.name] { parameter.assign(&self, value) }
        }
    }
}

/// What training reads: the snapshot's interactions and, for the kinds that need them, the catalog's items.
package struct TrainingInput {
    package var log: InteractionLog
    package var threads: Int = 2
    /// The catalog's items (read only when a kind ``StoredModel/trainsOnItems``).
    package var items: [Item] = []
    /// The inactivity gap that splits sessions.
    package var sessionGap: Int64 = 30 * 60 * 1000
    /// A stored text model's item vectors, which spare the encoder for the items they cover.
    package var textVectors: StoredTextVectors?
    package var progress: (@Sendable (Double) -> Void)?
    /// Called after each epoch by the kinds that train in epochs (SASRec).
    package var epochProgress: (@Sendable (TrainingEpochReport) -> Void)?
}

/// One named parameter of a kind: how its typed value reads as the number a record stores, and back.
package struct ModelParameter<Model> {
    let name: String
    let read: (Model) -> Double
    let assign: (inout Model, Double) -> Void

    /// A count (`factors`), stored as itself.
    package static func count(_ name: String, _ path: WritableKeyPath<Model, Int>) -> Self {
        Self(name: name, read: { Double($0[keyPath: path]) }, assign: { $0[keyPath: path] = Int($1) })
    }

    /// A rate or weight, stored as people wrote it (0.01, not 0.009999999776482582).
    package static func float(_ name: String, _ path: WritableKeyPath<Model, Float>) -> Self {
        Self(
            name: name, read: { Double($0[keyPath: path].description) ?? Double($0[keyPath: path]) },
            assign: { $0[keyPath: path] = Float($1) })
    }

    /// A number stored as itself (`half_life_days`).
    package static func double(_ name: String, _ path: WritableKeyPath<Model, Double>) -> Self {
        Self(name: name, read: { $0[keyPath: path] }, assign: { $0[keyPath: path] = $1 })
    }

    /// A switch, stored as 1 or 0 (any non-zero reads as on).
    package static func flag(_ name: String, _ path: WritableKeyPath<Model, Bool>) -> Self {
        Self(name: name, read: { $0[keyPath: path] ? 1 : 0 }, assign: { $0[keyPath: path] = $1 != 0 })
    }

    /// A random seed.
    package static func seed(_ name: String, _ path: WritableKeyPath<Model, UInt64>) -> Self {
        Self(name: name, read: { Double($0[keyPath: path]) }, assign: { $0[keyPath: path] = UInt64(clamping: Int($1)) })
    }
}
