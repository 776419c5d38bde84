import Foundation

// Result shapes (stable: JSON Schemas are written against them). Keys in snake_case; optional keys are left out
// rather than null.
//
// RECOMMEND … ITEMS   {"items": [{"id", "score", "model", "title"?, "explanation"?, "provenance"?}]}
// RECOMMEND … USERS   {"users": [{"id", "score", "model", "explanation"?, "provenance"?}]}
//     provenance (EXPLAIN only): {"reason", "items": [{"id", "title"?, "event"?}], "category"?, "neighbours"?,
//                                 "filled_by"?}
//     reason is one of history, session, basket, similar_item, content, popularity, audience, matching, profile;
//     filled_by names the default-chain model that filled a place the USING models left empty (not with STRICT).
// UPSERT ITEM|USER    {"id", "internal_id", "created": bool}
// DELETE ITEM|USER    {"id", "deleted": bool}       (internal_id too when it existed)
// EVENT               {"sequence"}
// SHOW STATS          {"users", "items", "events", "sessions", "events_by_type": {type: count}}
// SHOW MODELS         {"models": [{"name", "kind", "generation", "trained_at", "training_seconds", "events",
//                      "parameters": {…}, "space"?, "evaluation"?: {metrics as EVALUATE}}]}
// SHOW ITEM           {"id", "internal_id", "attributes": {…}}
// SHOW USER           {"id", "internal_id", "attributes": {…}, "history"?: [{"item", "title"?, "type", "value",
//                      "time", "sequence"}], "generated_profile"?: {"text", "generated": true, "generator", …}}
//                                                      (history newest first, with HISTORY or LIMIT)
// REFRESH MODEL       {"model", "generation", "seconds"}
// EVALUATE MODEL      {"model", "split", "k", "users", "precision", "recall", "f1", "ndcg", "mrr", "hit_rate",
//                      "coverage", "novelty", "diversity"?, "seconds", "training_seconds"}

extension RecDatabase {
    /// Parses `text` and binds `parameters` (`$u` → parameters["u"]); throws .syntax with position,
    /// .invalidArgument for a missing/ill-typed parameter, or .limitExceeded when the statement asks for more work
    /// than `limits` allow.
    public func prepare(
        _ text: String, parameters: [String: QueryValue] = [:], limits: RequestLimits = .standard
    ) throws -> Statement {
        let body = try Parser.parse(text, parameters: parameters)
        try limits.check(body)
        return Statement(text: text, body: body)
    }

    /// Runs a statement under `control`: it stops with `timeout` or `cancelled` soon after the control's deadline
    /// passes or it is cancelled (a write stops only before it starts: once in the transaction it completes).
    public func execute(_ statement: Statement, control: RequestControl) throws -> QueryValue {
        try control.run { try execute(statement) }
    }

    /// Runs a statement: reads on one read transaction, writes in one write transaction, admin as their own jobs. The
    /// language model and the text encoder run outside those transactions (see ``prepareModelInputs(for:)``).
    public func execute(_ statement: Statement) throws -> QueryValue {
        switch statement.kind {
        case .read:
            return try executeReadInPhases(statement)
        case .write:
            return try executeWriteInPhases(statement)
        case .admin:
            return try executeAdmin(statement.body)
        }
    }

    /// Runs a write statement inside the caller's write transaction (group commit: several clients' writes share
    /// one transaction).
    public func execute(_ statement: Statement, in writer: inout CatalogWriter) throws -> QueryValue {
        guard statement.kind == .write else {
            throw RecDBError(
                .invalidArgument,
                "only UPSERT, DELETE and EVENT run in a caller's write transaction, not a \(statement.kind.rawValue) statement"
            )
        }
        return try writer.executeWrite(statement.body)
    }

    /// prepare + execute: the embedded entry point.
    ///
    /// ```swift
    /// let page = try db.query("RECOMMEND 10 ITEMS FOR USER $u WHERE price < $max EXPLAIN", parameters: ["u": "u42", "max": 20])
    /// ```
    public func query(_ text: String, parameters: [String: QueryValue] = [:]) throws -> QueryValue {
        try execute(try prepare(text, parameters: parameters))
    }

    private func executeAdmin(_ body: StatementBody) throws -> QueryValue {
        switch body {
        case .refresh(let name):
            let report = try refresh(try ModelSpec.named(name))
            return [
                "model": .string(report.record.name), "generation": .number(Double(report.record.generation)),
                "seconds": .number(report.seconds),
            ]
        case .evaluate(let expression, let k, let split):
            // A stored model (also inside a blend or chain) is evaluated with the parameters it was trained with.
            let spec = try ModelSpec(expression) { name in
                try model(name).flatMap { ModelSpec(record: $0) } ?? ModelSpec.named(name)
            }
            guard let row = try evaluate([spec], split: split, k: k).rows.first else {
                throw RecDBError(.notFound, "no evaluation for '\(expression)'")
            }
            // A stored model remembers its latest evaluation (SHOW MODELS), as `recctl eval` does.
            if try model(spec.name) != nil { try recordEvaluation(row.result, for: spec.name) }
            var value = Self.metrics(row.result)
            if case .object(var members) = value {
                members["training_seconds"] = .number(row.trainingSeconds)
                value = .object(members)
            }
            return value
        default:
            throw RecDBError(.invalidArgument, "not an admin statement")
        }
    }

    static func metrics(_ result: EvaluationResult) -> QueryValue {
        var members: [String: QueryValue] = [
            "model": .string(result.model), "split": .string(result.split), "k": .number(Double(result.k)),
            "users": .number(Double(result.users)), "precision": .number(result.precision),
            "recall": .number(result.recall), "f1": .number(result.f1), "ndcg": .number(result.ndcg),
            "mrr": .number(result.mrr), "hit_rate": .number(result.hitRate), "coverage": .number(result.coverage),
            "novelty": .number(result.novelty), "seconds": .number(result.seconds),
        ]
        if let diversity = result.diversity { members["diversity"] = .number(diversity) }
        return .object(members)
    }
}

// MARK: - Reads

extension CatalogReading where Self: ~Copyable {
    /// The read step of a read statement, with the model outputs `inputs` (see ``ModelInputs``).
    func executeRead(_ body: StatementBody, inputs: ModelInputs) throws -> ReadOutcome {
        switch body {
        case .recommend(var query):
            try assignVariant(&query)
            var page = try recommendPage(query, inputs: inputs)
            guard query.generated else { return .page(page, query, nil) }
            // A page explained before on the same data is answered without reading a fact.
            let generator = ExplanationGenerator.shared
            let lookup = try lookUpExplainedPage(page, query: query, tone: generator.tone, in: generator.pages)
            if case .hit(let explained, _) = lookup { return .page(explained, query, lookup) }
            // The facts a generated sentence may cite, read while the snapshot is open.
            let target: RecommendRequest.Target? = if case .standard(let target) = query.target { target } else { nil }
            for (index, facts) in try explanationFacts(for: page, target: target).enumerated() {
                page[index].facts = facts
            }
            return .page(page, query, lookup)
        case .ask(let text, let count):
            let request = try inputs.shopperRequests[text] ?? ShopperRequestReader.interpret(text)
            return .value(try askValue(answer(request, asked: text, count: count, inputs: inputs)))
        case .showStats: return .value(try showStats())
        case .showModels: return .value(try showModels())
        case .showExperiment(let name): return .value(try showExperiment(name))
        case .showExperiments: return .value(try showExperiments())
        case .showItem(let id):
            guard let item = try item(id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
            var members: [String: QueryValue] = [
                "id": .string(item.id), "internal_id": .number(Double(item.internalID)),
                "attributes": QueryValue(item.attributes),
            ]
            for kind in ModelRegistry.kinds {
                if let fact = try kind.itemFact(ofItemID: item.internalID, in: self) { members[kind.itemFactName] = fact }
            }
            return .value(.object(members))
        case .showUser(let id, let withHistory, let limit):
            guard let user = try user(id) else { throw RecDBError(.notFound, "unknown user '\(id)'") }
            var members: [String: QueryValue] = [
                "id": .string(user.id), "internal_id": .number(Double(user.internalID)),
                "attributes": QueryValue(user.attributes),
            ]
            if withHistory { members["history"] = try historyValue(user.internalID, limit: limit ?? 20) }
            for kind in ModelRegistry.kinds {
                if let fact = try kind.userFact(ofUserID: user.internalID, in: self) { members[kind.userFactName] = fact }
            }
            return .value(.object(members))
        default:
            throw RecDBError(.invalidArgument, "not a read statement")
        }
    }

    private func askValue(_ answer: ShopperAnswer) throws -> QueryValue {
        var interpreted: [String: QueryValue] = [
            "keywords": .string(answer.request.keywords), "source": .string(answer.request.source),
        ]
        if let price = answer.request.maxPrice { interpreted["max_price"] = .number(price) }
        if !answer.request.excluded.isEmpty { interpreted["exclude"] = .array(answer.request.excluded.map { .string($0) }) }
        var items: [QueryValue] = []
        for result in answer.results {
            var members: [String: QueryValue] = [
                "id": .string(result.id), "score": .number(Double(result.score)), "model": .string(result.model),
            ]
            if let item = try item(internalID: result.internalID) {
                if let title = item.title { members["title"] = .string(title) }
                if let price = item.price { members["price"] = .number(price) }
            }
            items.append(.object(members))
        }
        return ["interpreted": .object(interpreted), "answer": .string(answer.answer), "items": .array(items)]
    }

    private func historyValue(_ user: UInt32, limit: Int) throws -> QueryValue {
        var entries: [QueryValue] = []
        for entry in try history(ofUserID: user, limit: limit, newestFirst: true) {
            var members: [String: QueryValue] = [
                "time": .string(entry.timestamp.description), "sequence": .number(Double(entry.sequence)),
            ]
            if let item = try item(internalID: entry.itemID) {
                members["item"] = .string(item.id)
                if let title = item.title { members["title"] = .string(title) }
            } else {
                members["item"] = .string("#\(entry.itemID)")
            }
            if let event = try event(sequence: entry.sequence) {
                members["type"] = .string(event.type)
                members["value"] = .number(event.value)
            }
            entries.append(.object(members))
        }
        return .array(entries)
    }

    private func showStats() throws -> QueryValue {
        [
            "users": .number(Double(try userCount)), "items": .number(Double(try itemCount)),
            "events": .number(Double(try eventCount)), "sessions": .number(Double(try sessionCount())),
            "events_by_type": .object(try eventCountsByType().mapValues { .number(Double($0)) }),
        ]
    }

    private func showModels() throws -> QueryValue {
        var records: [ModelRecord] = []
        try modelSchema.models.scanRaw(in: txn) { _, value in
            records.append(try JSONDecoder().decode(ModelRecord.self, from: Data(value)))
            return .next
        }
        return [
            "models": .array(
                records.map { record in
                    var members: [String: QueryValue] = [
                        "name": .string(record.name), "kind": .string(record.kind.rawValue),
                        "generation": .number(Double(record.generation)), "trained_at": .string(record.trainedAt),
                        "training_seconds": .number(record.trainingSeconds), "events": .number(Double(record.events)),
                        "parameters": .object(record.parameters.mapValues { .number($0) }),
                    ]
                    if let space = record.space { members["space"] = .string(space) }
                    if let evaluation = record.lastEvaluation {
                        members["evaluation"] = RecDatabase.metrics(evaluation)
                    }
                    return .object(members)
                })
        ]
    }

    // MARK: Recommend

    /// The page of a `RECOMMEND`, with the model outputs `inputs`; rendered by ``RecommendQuery/answer(_:generation:)``.
    private func recommendPage(_ query: RecommendQuery, inputs: ModelInputs) throws -> [Recommendation] {
        switch query.target {
        case .standard(let target): return try recommend(query.request(target), inputs: inputs)
        case .matching(let text): return try recommend(query.request(.matching(text)), inputs: inputs)
        }
    }
}

extension RecommendQuery {
    /// The answer to this query for its page `results`, with the report of `EXPLAIN GENERATED` (or why the language
    /// model was unavailable). Needs no transaction: the page carries its titles and provenance.
    func answer(
        _ results: [Recommendation], generation: Result<ExplanationGenerator.Report, RecDBError>?
    ) -> QueryValue {
        var rows: [QueryValue] = []
        rows.reserveCapacity(results.count)
        for result in results {
            var members: [String: QueryValue] = [
                "id": .string(result.id), "score": .number(Double(result.score)), "model": .string(result.model),
            ]
            if let title = result.title { members["title"] = .string(title) }
            if explain {
                members["explanation"] = .string(result.explanation)
                members["explanation_source"] = .string(result.explanationSource.rawValue)
                if let reason = result.fallbackReason { members["fallback_reason"] = .string(reason) }
                if let facts = result.facts { members["facts"] = facts.wireValue }
                members["provenance"] = Self.provenanceValue(result.provenance)
            }
            rows.append(.object(members))
        }
        var value: [String: QueryValue] = [returnsUsers ? "users" : "items": .array(rows)]
        switch generation {
        case .failure(let error)?:
            value["generated"] = ["unavailable": .string(error.message)]
        case .success(let generated)?:
            var report: [String: QueryValue] = [
                "sentences": .number(Double(generated.generated)), "cached": .number(Double(generated.cached)),
                "rejected_by_guard": .number(Double(generated.rejected)), "seconds": .number(generated.seconds),
                "statements": .number(Double(generated.statements)),
                "supported_statements": .number(Double(generated.supportedStatements)),
                "checked_statements": .number(Double(generated.checkedStatements)),
                "checked_supported": .number(Double(generated.checkedSupported)),
                "fallbacks": .object(generated.fallbacks.mapValues { .number(Double($0)) }),
            ]
            if let error = generated.error { report["error"] = .string(error) }
            report["timing"] = [
                "prefill_ms": .number(generated.prefillSeconds * 1000), "decode_ms": .number(generated.decodeSeconds * 1000),
                "prompt_tokens": .number(Double(generated.promptTokens)),
                "generated_tokens": .number(Double(generated.generatedTokens)),
                "decode_steps": .number(Double(generated.decodeSteps)),
            ]
            report["rejections"] = .array(generated.rejections.map {
                ["id": .string($0.id), "sentence": .string($0.sentence), "problem": .string($0.problem)]
            })
            value["generated"] = .object(report)
        case nil:
            break
        }
        return .object(value)
    }

    private static func provenanceValue(_ provenance: Provenance) -> QueryValue {
        var members: [String: QueryValue] = [
            "reason": .string(provenance.reason.rawValue),
            "items": .array(
                provenance.items.map { source in
                    var item: [String: QueryValue] = ["id": .string(source.id)]
                    if let title = source.title { item["title"] = .string(title) }
                    if let event = source.eventType { item["event"] = .string(event) }
                    return .object(item)
                }),
        ]
        if let category = provenance.category { members["category"] = .string(category) }
        if provenance.neighbours > 0 { members["neighbours"] = .number(Double(provenance.neighbours)) }
        if let model = provenance.filledBy { members["filled_by"] = .string(model) }
        return .object(members)
    }
}

// MARK: - Writes

extension CatalogWriter {
    mutating func executeWrite(_ body: StatementBody) throws -> QueryValue {
        switch body {
        case .upsertItem(let id, let attributes):
            let existed = try itemID(for: id) != nil
            let internalID = try upsertItem(id, attributes: attributes)
            return ["id": .string(id), "internal_id": .number(Double(internalID)), "created": .bool(!existed)]
        case .upsertUser(let id, let attributes):
            let existed = try userID(for: id) != nil
            let internalID = try upsertUser(id, attributes: attributes)
            return ["id": .string(id), "internal_id": .number(Double(internalID)), "created": .bool(!existed)]
        case .deleteItem(let id):
            let internalID = try itemID(for: id)
            let deleted = try deleteItem(id)
            return Self.deletion(id, internalID, deleted)
        case .deleteUser(let id):
            let internalID = try userID(for: id)
            let deleted = try deleteUser(id)
            return Self.deletion(id, internalID, deleted)
        case .event(let event):
            let input = EventInput(
                user: event.user, item: event.item, type: event.type, value: event.value,
                timestamp: event.timestamp ?? .now, session: event.session, text: event.text)
            let sequence = try addEvent(input)
            try attribute(event, sequence: sequence, time: input.timestamp)
            return ["sequence": .number(Double(sequence))]
        case .defineEventType(let type):
            try defineEventType(type)
            return ["name": .string(type.name), "weight": type.usesValue ? .string("value") : .number(type.weight)]
        case .createExperiment, .alterExperiment, .stopExperiment:
            return try executeExperimentWrite(body)
        default:
            throw RecDBError(.invalidArgument, "not a write statement")
        }
    }

    private static func deletion(_ id: String, _ internalID: UInt32?, _ deleted: Bool) -> QueryValue {
        var members: [String: QueryValue] = ["id": .string(id), "deleted": .bool(deleted)]
        if let internalID { members["internal_id"] = .number(Double(internalID)) }
        return .object(members)
    }
}
