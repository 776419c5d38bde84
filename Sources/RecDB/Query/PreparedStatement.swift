import Foundation

/// A statement with the model outputs it needs, computed before any transaction opens: what a server queues for
/// its writer, so that the write transaction never waits for the text encoder.
///
/// ```swift
/// let prepared = try db.prepareModelInputs(for: try db.prepare("UPSERT ITEM 'i1' SET title = 'Red mug'"))
/// let answer = try db.write { w in try db.execute(prepared, in: &w) }
/// ```
public struct PreparedStatement: Sendable {
    /// The statement.
    public let statement: Statement
    /// What the models computed for it.
    public internal(set) var inputs: ModelInputs

    /// `statement` with no model inputs: for one that needs none (``Statement/needsModelInputs`` is false).
    public init(_ statement: Statement) {
        self.init(statement: statement, inputs: ModelInputs())
    }

    init(statement: Statement, inputs: ModelInputs) {
        self.statement = statement
        self.inputs = inputs
    }
}

extension RecDatabase {
    /// The slow step of a statement, run with no transaction open: the language model reads an `ASK` request, and the
    /// text encoder encodes the text an `UPSERT ITEM` gives its item (merged with the stored attributes, read in a
    /// short transaction of its own). Other statements need nothing yet; a read that finds it needs more (a cold
    /// user's profile, a `MATCHING` phrase) gets it between two transactions (``execute(_:)``).
    public func prepareModelInputs(for statement: Statement) throws -> PreparedStatement {
        var inputs = ModelInputs()
        switch statement.body {
        case .ask(let text, _):
            inputs.shopperRequests[text] = try ShopperRequestReader.interpret(text)
        case .upsertItem(let id, let attributes):
            if let text = try read({ r in try r.textToEncode(item: id, attributes: attributes) }) {
                inputs.textVectors[text] = try SharedTextEncoder.encode(text)
            }
        default:
            break
        }
        return PreparedStatement(statement: statement, inputs: inputs)
    }

    /// Runs a prepared write statement inside the caller's write transaction (group commit), with its model inputs.
    public func execute(_ prepared: PreparedStatement, in writer: inout CatalogWriter) throws -> QueryValue {
        writer.modelInputs = prepared.inputs
        defer { writer.modelInputs = nil }
        return try execute(prepared.statement, in: &writer)
    }

    /// A read statement in phases, none running a model inside a transaction: the models' known inputs first, then
    /// the read (again after computing any input it found missing), then the sentences of `EXPLAIN GENERATED`.
    func executeReadInPhases(_ statement: Statement) throws -> QueryValue {
        var inputs = try prepareModelInputs(for: statement).inputs
        let outcome = try readWithModelInputs(&inputs) { r, inputs in try r.executeRead(statement.body, inputs: inputs) }
        switch outcome {
        case .value(let value):
            return value
        case .page(var results, let query, let lookup):
            // The read transaction is closed: generation pins no pages and holds no reader slot.
            let generation: Result<ExplanationGenerator.Report, RecDBError>?
            switch lookup {
            case .hit(_, let report)?:
                generation = .success(report)
            case .miss(let key)?:
                generation = try ExplanationGenerator.shared.generate(&results, for: query)
                if case .success(let report)? = generation {
                    ExplanationGenerator.shared.pages.store(results, report: report, for: key)
                }
            case nil:
                generation = nil
            }
            return try finishExperimentAnswer(query.answer(results, generation: generation), results: results, query: query)
        }
    }

    /// A write statement: its text encoded first, then one write transaction.
    func executeWriteInPhases(_ statement: Statement) throws -> QueryValue {
        let prepared = try prepareModelInputs(for: statement)
        return try write { w in try execute(prepared, in: &w) }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// The text an upsert of item `id` with `attributes` gives the active text model to encode: nil when there is no
    /// text model, the upsert changes nothing, or the item has no text.
    func textToEncode(item id: String, attributes: Attributes) throws -> String? {
        guard let record = try model(ModelKind.text.rawValue), record.kind == .text, let spaceName = record.space,
            try space(spaceName) != nil
        else { return nil }
        var merged = attributes
        if let internalID = try itemID(for: id) {
            let old = try item(internalID: internalID)?.attributes ?? [:]
            merged = old.merging(attributes) { _, new in new }
            if merged == old { return nil }
        }
        let text = ItemText.of(Item(id: id, internalID: 0, attributes: merged))
        return text.isEmpty ? nil : text
    }
}

/// What the read step of a statement gives back: a finished answer, or a page of recommendations still to be
/// rendered (and phrased by the language model) once the transaction has closed.
enum ReadOutcome {
    case value(QueryValue)
    /// A page and its query, with the explanation cache's answer when the query says `EXPLAIN GENERATED`.
    case page([Recommendation], RecommendQuery, ExplanationPageCache.Lookup?)
}

extension ExplanationGenerator {
    /// Phrases the explanations of a page for `EXPLAIN GENERATED`: the report, or `notFound` naming the model to
    /// install when it is absent (the templates stay). Throws when the request must stop (`timeout`, `cancelled`).
    func generate(_ results: inout [Recommendation], for query: RecommendQuery) throws -> Result<Report, RecDBError> {
        // The request, as the key of cached sentences (described only here: reflection is not free).
        let context: String
        switch query.target {
        case .standard(let target): context = "\(target)"
        case .matching(let text): context = "matching:" + text
        }
        do {
            return .success(try explain(&results, context: context))
        } catch let error as RecDBError where error.code == .notFound {
            for index in results.indices {
                results[index].fallbackReason = "model_unavailable"
            }
            return .failure(error)
        }
    }
}
