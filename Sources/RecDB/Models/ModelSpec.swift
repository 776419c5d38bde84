import Foundation

/// A model to train and its parameters, as `recctl eval`, `recctl tune` and `recctl refresh` name them: one stored
/// kind with typed parameters (`ModelRegistry`), or a blend or chain of specs combined at query time.
///
/// Each kind adds its constructor beside its implementation (`.als(parameters)`, `.popularity(halfLifeDays: 30)`).
public struct ModelSpec: Sendable, Hashable {
    enum Shape: Sendable {
        case single(any StoredModel)
        /// Scores of several models, each normalised to [0, 1] over its own candidates for the request, mixed with
        /// weights (`USING BLEND(…)`).
        case blend([ModelSpec], weights: [Float])
        /// The fallback chain as serving fills it: the first model's candidates, then each later model's new ones.
        case chain([ModelSpec])
    }

    let shape: Shape

    /// A spec of one stored kind with these parameters.
    package init(_ model: any StoredModel) { shape = .single(model) }

    private init(shape: Shape) { self.shape = shape }

    /// Several models mixed with weights, as `RECOMMEND … USING BLEND(…)` mixes them.
    public static func blend(_ parts: [ModelSpec], weights: [Float]) -> ModelSpec {
        ModelSpec(shape: .blend(parts, weights: weights))
    }

    /// The fallback chain as serving fills it: the first model's candidates, then each later model's new ones.
    public static func chain(_ parts: [ModelSpec]) -> ModelSpec { ModelSpec(shape: .chain(parts)) }

    /// The stored kind with its parameters; nil for a blend or chain.
    var stored: (any StoredModel)? {
        if case .single(let model) = shape { return model }
        return nil
    }

    /// The specs a blend or chain combines; empty for one stored kind.
    var parts: [ModelSpec] {
        switch shape {
        case .single: []
        case .blend(let parts, _), .chain(let parts): parts
        }
    }

    /// The name reports show: the kind (`als`), or the canonical model expression of a blend or chain
    /// (`BLEND(als 0.7, content 0.3)`, `CHAIN(als, content, popularity)`).
    public var name: String {
        switch shape {
        case .single(let model): type(of: model).kind.rawValue
        case .blend, .chain: expression.description
        }
    }

    /// The kind a refresh records; for a blend or chain its name.
    public var kind: ModelKind {
        stored.map { type(of: $0).kind } ?? ModelKind(rawValue: name)
    }

    /// Whether both are the same kind with the same parameters, or the same composition of equal specs.
    public static func == (lhs: ModelSpec, rhs: ModelSpec) -> Bool {
        switch (lhs.shape, rhs.shape) {
        case (.single(let a), .single(let b)): AnyHashable(a) == AnyHashable(b)
        case (.blend(let a, let x), .blend(let b, let y)): a == b && x == y
        case (.chain(let a), .chain(let b)): a == b
        default: false
        }
    }

    /// Hashes what `==` compares.
    public func hash(into hasher: inout Hasher) {
        switch shape {
        case .single(let model): hasher.combine(AnyHashable(model))
        case .blend(let parts, let weights):
            hasher.combine(parts)
            hasher.combine(weights)
        case .chain(let parts):
            hasher.combine(0)
            hasher.combine(parts)
        }
    }

    /// The models by name with default parameters (the registry's kinds and their aliases); a model expression of the
    /// query language (``ModelExpression``) mixes or chains them: `BLEND(als 0.7, content 0.3)`,
    /// `CHAIN(als, content, popularity)`.
    public static func named(_ name: String) throws -> ModelSpec {
        let expression = try ModelExpression.parse(name)
        guard case .model(let single) = expression else { return try ModelSpec(expression) }
        let lowered = single.lowercased()
        guard let kind = ModelRegistry.implementation(named: lowered) else {
            let known = ModelRegistry.kinds.map { $0.kind.rawValue }.joined(separator: ", ")
            throw RecDBError(
                .invalidArgument, "unknown model '\(name)' (known: \(known), BLEND(A 0.7, B 0.3), CHAIN(A, B, C))")
        }
        return kind.spec()
    }

    /// The spec a stored model was trained with (its kind and recorded parameters), so that evaluating a stored
    /// model evaluates that model, not the defaults. Nil for kinds that are not stored.
    public init?(record: ModelRecord) {
        guard let kind = ModelRegistry.implementation(of: record.kind) else { return nil }
        self = kind.spec(parameterTable: record.parameters)
    }

    /// The parameters as stored in a record: the kind's typed parameters by name; a blend's weights.
    var parameterTable: [String: Double] {
        switch shape {
        case .single(let model): model.parameterTable
        case .blend(_, let weights):
            Dictionary(uniqueKeysWithValues: weights.enumerated().map {
                ("weight\($0.offset)", Double($0.element.description) ?? Double($0.element))
            })
        case .chain: [:]
        }
    }

    /// The parameters as `name=value` words, for people.
    public var parameterDescription: String {
        parameterTable.sorted { $0.key < $1.key }.map { "\($0.key)=\(AttributeValue.number($0.value))" }
            .joined(separator: " ")
    }

    /// Trains the model on `log`. `items` (the catalog's items) feed the content and text models; `sessionGap`
    /// splits sessions for the session models; `textVectors` (a stored text model's item vectors, see
    /// ``StoredTextVectors``) spare the text model the encoder for the items they cover. `onEpoch` hears each epoch
    /// of the kinds that train in epochs (SASRec).
    public func train(
        on log: InteractionLog, threads: Int = 2, items: [Item] = [], sessionGap: Int64 = 30 * 60 * 1000,
        textVectors: StoredTextVectors? = nil, progress: (@Sendable (Double) -> Void)? = nil,
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)? = nil
    ) -> any Recommender {
        let input = TrainingInput(
            log: log, threads: threads, items: items, sessionGap: sessionGap, textVectors: textVectors,
            progress: progress, epochProgress: onEpoch)
        func trainParts(_ parts: [ModelSpec]) -> [any Recommender] {
            parts.map {
                $0.train(on: log, threads: threads, items: items, sessionGap: sessionGap, textVectors: textVectors)
            }
        }
        return switch shape {
        case .single(let model): model.train(input)
        case .blend(let parts, let weights): BlendModel(name: name, parts: trainParts(parts), weights: weights)
        case .chain(let parts): FallbackChainModel(name: name, parts: trainParts(parts), pool: RankingBlocks.firstPool)
        }
    }

    /// Throws `invalidArgument` for parameters out of range and `limitExceeded` when `log` is larger than a model of
    /// the spec can train on (EASE's item limit), for each part of a blend or chain.
    func checkTrainable(on log: InteractionLog) throws {
        if let stored {
            try stored.validateParameters()
            try stored.checkFits(log)
        }
        for part in parts { try part.checkTrainable(on: log) }
    }

    /// Throws `notFound` naming `recctl models install minilm` when the spec needs the text encoder and it is absent.
    func requireTextEncoder() throws {
        if needsText { _ = try SharedTextEncoder.get() }
    }

    /// Whether the spec is or contains a model that needs the text encoder.
    var needsText: Bool {
        stored.map { type(of: $0).needsTextEncoder } ?? parts.contains { $0.needsText }
    }

    /// Whether training reads the catalog's items.
    var needsItems: Bool {
        stored.map { type(of: $0).trainsOnItems } ?? parts.contains { $0.needsItems }
    }

    /// A small grid around the parameters, for `recctl tune`.
    public var tuningGrid: [ModelSpec] {
        switch shape {
        case .single(let model): return model.tuningGrid.map { ModelSpec($0) }
        case .blend(let parts, let weights):
            // The first part's weight from 0.1 to 0.9, the rest sharing the remainder as given.
            let rest = weights.dropFirst().reduce(0, +)
            return [Float(0.1), 0.3, 0.5, 0.7, 0.9].map { first in
                .blend(parts, weights: [first] + weights.dropFirst().map { rest > 0 ? $0 / rest * (1 - first) : 0 })
            }
        case .chain: return [self]
        }
    }
}
