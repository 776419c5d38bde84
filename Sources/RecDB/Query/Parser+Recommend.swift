extension Parser {
    /// `RECOMMEND count ITEMS|USERS target {clause}` (`Schemas/query-grammar.ebnf`, `recommend`).
    mutating func recommend() throws -> RecommendQuery {
        let count = try integer("a count after RECOMMEND", range: 1...Self.maxCount)
        var query: RecommendQuery
        if accept("ITEMS") {
            if accept("FOR") {
                if accept("USER") {
                    query = RecommendQuery(
                        target: .standard(.user(try identifier("a user id after FOR USER"))), count: count)
                } else if accept("SESSION") {
                    query = RecommendQuery(
                        target: .standard(.session(try identifier("a session id after FOR SESSION"))), count: count)
                } else if accept("ITEMS") {
                    let ids = try identifierList("FOR ITEMS")
                    guard !ids.isEmpty else { throw syntaxError("at least one item id in FOR ITEMS (…)") }
                    query = RecommendQuery(target: .standard(.items(ids)), count: count)
                } else {
                    throw syntaxError("USER, SESSION or ITEMS after FOR")
                }
            } else if accept("SIMILAR") {
                try expect("TO", "after SIMILAR")
                try expect("ITEM", "after SIMILAR TO")
                query = RecommendQuery(
                    target: .standard(.similarTo(try identifier("an item id after SIMILAR TO ITEM"))), count: count)
            } else if accept("MATCHING") {
                query = RecommendQuery(target: .matching(try text("the text to match after MATCHING")), count: count)
            } else {
                throw syntaxError("FOR, SIMILAR TO ITEM or MATCHING after ITEMS")
            }
        } else if accept("USERS") {
            try expect("FOR", "after USERS")
            try expect("ITEM", "after USERS FOR")
            query = RecommendQuery(
                target: .standard(.usersForItem(try identifier("an item id after USERS FOR ITEM"))), count: count)
        } else {
            throw syntaxError("ITEMS or USERS after the count")
        }
        try recommendClauses(&query)
        return query
    }

    /// The optional clauses, in any order, each at most once.
    private mutating func recommendClauses(_ query: inout RecommendQuery) throws {
        var seen = Set<String>()
        func once(_ name: String, _ token: Token) throws {
            guard seen.insert(name).inserted else {
                throw RecDBError(.syntax, "\(name) given twice at \(token.offset)", position: token.offset)
            }
        }
        while current.kind != .end && !current.isSymbol(";") {
            let token = current
            if accept("USING") {
                try once("USING", token)
                let expression = try modelExpression()
                query.models = expression.weights
                if case .chain = expression { query.chain = true }
            } else if accept("IN") {
                try expect("EXPERIMENT", "after IN")
                try once("IN EXPERIMENT", token)
                query.experiment = try identifier("an experiment name after IN EXPERIMENT")
            } else if accept("WHERE") {
                try once("WHERE", token)
                guard !query.returnsUsers else {
                    throw RecDBError(
                        .syntax, "WHERE filters items; RECOMMEND … USERS takes none at \(token.offset)",
                        position: token.offset)
                }
                query.filter = try expression()
            } else if accept("EXCLUDE") {
                if accept("SEEN") {
                    try once("EXCLUDE SEEN or INCLUDE SEEN", token)
                    query.excludeSeen = true
                } else if current.isSymbol("(") {
                    try once("EXCLUDE", token)
                    query.exclude = try identifierList("EXCLUDE")
                } else {
                    throw syntaxError("SEEN or '(' after EXCLUDE")
                }
            } else if accept("INCLUDE") {
                try expect("SEEN", "after INCLUDE")
                try once("EXCLUDE SEEN or INCLUDE SEEN", token)
                query.excludeSeen = false
            } else if accept("DIVERSIFY") {
                try once("DIVERSIFY", token)
                if accept("BY") {
                    try expect("CATEGORY", "after DIVERSIFY BY")
                    query.diversification = .perCategory(
                        try integer("a per-category cap after DIVERSIFY BY CATEGORY", range: 1...Self.maxCount))
                } else {
                    let amount = try number("a diversity between 0 and 1 (or BY CATEGORY) after DIVERSIFY")
                    guard let diversification = RecommendRequest.Diversification.diversity(amount.value) else {
                        throw invalid("DIVERSIFY takes a number between 0 and 1, not \(amount.value)", at: amount.token)
                    }
                    query.diversification = diversification
                }
            } else if accept("OFFSET") {
                try once("OFFSET", token)
                query.offset = try integer("a number after OFFSET", range: 0...Self.maxCount)
            } else if accept("WITH") {
                try once("WITH", token)
                query.search = try searchOptions()
            } else if accept("STRICT") {
                try once("STRICT", token)
                query.strict = true
            } else if accept("EXPLAIN") {
                try once("EXPLAIN", token)
                query.explain = true
                query.generated = accept("GENERATED")
            } else {
                throw syntaxError(
                    "USING, IN EXPERIMENT, WHERE, EXCLUDE, INCLUDE SEEN, DIVERSIFY, OFFSET, WITH, STRICT, EXPLAIN [GENERATED] or the end")
            }
        }
        if query.experiment != nil && seen.contains("USING") {
            throw RecDBError(.syntax, "IN EXPERIMENT chooses the models: leave out USING", position: current.offset)
        }
    }

    /// `( EF = n [, RERANK = m] )` after `WITH`, settings in any order, each at most once (`search options`).
    private mutating func searchOptions() throws -> VectorSearchOptions {
        var options = VectorSearchOptions()
        try expectSymbol("(", "after WITH")
        repeat {
            let token = current
            guard let name = ["EF", "RERANK"].first(where: { accept($0) }) else {
                throw syntaxError("EF or RERANK in WITH (…)")
            }
            guard (name == "EF" ? options.ef : options.rerank) == nil else {
                throw invalid("\(name) given twice in WITH (…)", at: token)
            }
            try expectSymbol("=", "after \(name)")
            let range = VectorSearchOptions.range
            let (value, valueToken) = try number("an integer \(range.lowerBound)…\(range.upperBound) after \(name) =")
            guard value == value.rounded(), value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
                let shown = valueToken.kind == .parameter ? "$" + valueToken.text : valueToken.text
                throw invalid(
                    "\(name) in WITH (…) must be an integer from \(range.lowerBound) to \(range.upperBound), not \(shown)",
                    at: valueToken)
            }
            if name == "EF" { options.ef = Int(value) } else { options.rerank = Int(value) }
        } while acceptSymbol(",")
        try expectSymbol(")", "to close WITH (…)")
        return options
    }

    /// `name`, `BLEND(name weight, …)` or `CHAIN(name, …)` (`model expression` in the grammar).
    mutating func modelExpression() throws -> ModelExpression {
        if accept("CHAIN") {
            try expectSymbol("(", "after CHAIN")
            var names: [String] = []
            repeat {
                guard names.count < Self.maxListLength else { throw invalid("more than \(Self.maxListLength) models", at: current) }
                names.append(try identifier("a model name in CHAIN"))
            } while acceptSymbol(",")
            try expectSymbol(")", "to close CHAIN")
            return .chain(names)
        }
        guard accept("BLEND") else { return .model(try identifier("a model name, BLEND(…) or CHAIN(…)")) }
        try expectSymbol("(", "after BLEND")
        var parts: [ModelWeight] = []
        repeat {
            let nameToken = current
            let name = try identifier("a model name in BLEND")
            let weight = try number("a weight after '\(name)'")
            guard weight.value >= 0 else { throw invalid("weights must be ≥ 0", at: weight.token) }
            guard parts.count < Self.maxListLength else {
                throw invalid("more than \(Self.maxListLength) models", at: nameToken)
            }
            parts.append(ModelWeight(name, weight: Float(weight.value)))
        } while acceptSymbol(",")
        try expectSymbol(")", "to close BLEND")
        return .blend(parts)
    }

    // MARK: - Expressions outside a statement

    /// One model expression and nothing after it.
    static func parseModelExpression(_ text: String, parameters: [String: QueryValue]) throws -> ModelExpression {
        var parser = Parser(tokens: try Lexer.tokens(text), parameters: parameters)
        let expression = try parser.modelExpression()
        guard parser.current.kind == .end else { throw parser.syntaxError("the end of the model expression") }
        return expression
    }

    /// Model expressions separated by commas, at least one.
    static func parseModelExpressionList(_ text: String) throws -> [ModelExpression] {
        var parser = Parser(tokens: try Lexer.tokens(text), parameters: [:])
        var expressions: [ModelExpression] = []
        repeat {
            guard expressions.count < maxListLength else {
                throw parser.invalid("more than \(maxListLength) model expressions", at: parser.current)
            }
            expressions.append(try parser.modelExpression())
        } while parser.acceptSymbol(",")
        guard parser.current.kind == .end else { throw parser.syntaxError("',' or the end of the model list") }
        return expressions
    }

    /// One `WHERE` expression and nothing after it.
    static func parseFilter(_ text: String, parameters: [String: QueryValue]) throws -> ItemPredicate {
        var parser = Parser(tokens: try Lexer.tokens(text), parameters: parameters)
        let predicate = try parser.expression()
        guard parser.current.kind == .end else { throw parser.syntaxError("AND, OR or the end of the filter") }
        return predicate
    }
}
