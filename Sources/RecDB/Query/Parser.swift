import Foundation

/// A hand-written recursive-descent parser for the query language (`Schemas/query-grammar.ebnf`).
///
/// Parameters are bound while parsing: a `$name` token is looked up in `parameters` and its value is used as a
/// value, never as query text. Errors are `.syntax` with the 0-based character offset of the token at fault
/// (`expected ITEMS or USERS after the count at 14 (found 'THINGS')`), or `.invalidArgument` with the offset for a
/// missing or ill-typed parameter and for values out of range.
struct Parser {
    /// Most `(`, `NOT` levels a `WHERE` expression may nest.
    static let maxDepth = 64
    /// Most elements in one list (`FOR ITEMS (…)`, `IN (…)`, `EXCLUDE (…)`, `['a', …]`, a blend).
    static let maxListLength = 10_000
    /// Largest count, offset or limit.
    static let maxCount = 10_000

    private let tokens: [Token]
    private let parameters: [String: QueryValue]
    var index = 0
    private var depth = 0

    init(tokens: [Token], parameters: [String: QueryValue]) {
        self.tokens = tokens
        self.parameters = parameters
    }

    /// Parses one statement (an optional `;` may end it).
    static func parse(_ text: String, parameters: [String: QueryValue]) throws -> StatementBody {
        var parser = Parser(tokens: try Lexer.tokens(text), parameters: parameters)
        return try parser.statement()
    }

    // MARK: - Tokens

    var current: Token { tokens[min(index, tokens.count - 1)] }

    mutating func advance() -> Token {
        let token = current
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    func isKeyword(_ keyword: String) -> Bool { current.isKeyword(keyword) }

    mutating func accept(_ keyword: String) -> Bool {
        guard isKeyword(keyword) else { return false }
        index += 1
        return true
    }

    mutating func acceptSymbol(_ symbol: String) -> Bool {
        guard current.isSymbol(symbol) else { return false }
        index += 1
        return true
    }

    func syntaxError(_ expected: String, at token: Token? = nil) -> RecDBError {
        let token = token ?? current
        return RecDBError(
            .syntax, "expected \(expected) at \(token.offset) (found \(token.quoted))", position: token.offset)
    }

    func invalid(_ message: String, at token: Token) -> RecDBError {
        RecDBError(.invalidArgument, "\(message) at \(token.offset)", position: token.offset)
    }

    mutating func expect(_ keyword: String, _ context: String) throws {
        guard accept(keyword) else { throw syntaxError("\(keyword) \(context)") }
    }

    mutating func expectSymbol(_ symbol: String, _ context: String) throws {
        guard acceptSymbol(symbol) else { throw syntaxError("'\(symbol)' \(context)") }
    }

    /// The bound value of a parameter token.
    private func parameter(_ token: Token) throws -> QueryValue {
        guard let value = parameters[token.text] else {
            throw invalid("parameter $\(token.text) has no value", at: token)
        }
        return value
    }

    // MARK: - Statements

    mutating func statement() throws -> StatementBody {
        let first = current
        let body: StatementBody
        if accept("RECOMMEND") {
            body = .recommend(try recommend())
        } else if accept("UPSERT") {
            if accept("ITEM") {
                let id = try identifier("an item id after UPSERT ITEM")
                body = .upsertItem(id: id, attributes: try assignments())
            } else if accept("USER") {
                let id = try identifier("a user id after UPSERT USER")
                body = .upsertUser(id: id, attributes: try assignments())
            } else {
                throw syntaxError("ITEM or USER after UPSERT")
            }
        } else if accept("DELETE") {
            if accept("ITEM") {
                body = .deleteItem(try identifier("an item id after DELETE ITEM"))
            } else if accept("USER") {
                body = .deleteUser(try identifier("a user id after DELETE USER"))
            } else {
                throw syntaxError("ITEM or USER after DELETE")
            }
        } else if accept("EVENT") {
            body = .event(try event())
        } else if accept("DEFINE") {
            try expect("EVENT", "after DEFINE")
            try expect("TYPE", "after DEFINE EVENT")
            let name = try identifier("an event type name after DEFINE EVENT TYPE")
            try expect("WEIGHT", "after the event type's name")
            body = .defineEventType(
                accept("VALUE")
                    ? EventType(name: name, weight: 1, usesValue: true)
                    : EventType(name: name, weight: try number("a weight (or VALUE) after WEIGHT").value))
        } else if accept("ASK") {
            let request = try text("the shopper's request in quotes after ASK")
            var count = 5
            if accept("LIMIT") { count = try integer("a number after LIMIT", range: 1...100) }
            body = .ask(request, count: count)
        } else if accept("SHOW") {
            body = try show()
        } else if accept("REFRESH") {
            try expect("MODEL", "after REFRESH")
            body = .refresh(model: try identifier("a model name after REFRESH MODEL"))
        } else if accept("EVALUATE") {
            body = try evaluate()
        } else if accept("CREATE") {
            try expect("EXPERIMENT", "after CREATE")
            body = .createExperiment(try createExperiment())
        } else if accept("ALTER") {
            try expect("EXPERIMENT", "after ALTER")
            body = try alterExperiment()
        } else if accept("STOP") {
            try expect("EXPERIMENT", "after STOP")
            body = .stopExperiment(try identifier("an experiment name after STOP EXPERIMENT"))
        } else {
            throw syntaxError(
                "RECOMMEND, ASK, UPSERT, DELETE, EVENT, DEFINE, SHOW, REFRESH, EVALUATE, CREATE, ALTER or STOP", at: first)
        }
        _ = acceptSymbol(";")
        guard current.kind == .end else { throw syntaxError("the end of the statement") }
        return body
    }

    private mutating func event() throws -> EventQuery {
        let type = try identifier("an event type after EVENT")
        try expect("USER", "after the event type")
        let user = try identifier("a user id after USER")
        try expect("ITEM", "after the user")
        var event = EventQuery(type: type, user: user, item: try identifier("an item id after ITEM"))
        var seen = Set<String>()
        while current.kind != .end && !current.isSymbol(";") {
            let token = current
            guard token.kind == .word, ["VALUE", "SESSION", "AT", "TEXT", "FROM"].contains(token.text.uppercased()) else {
                throw syntaxError("VALUE, SESSION, AT, TEXT, FROM RECOMMENDATION or the end")
            }
            let clause = token.text.uppercased()
            guard seen.insert(clause).inserted else {
                throw RecDBError(.syntax, "\(clause) given twice at \(token.offset)", position: token.offset)
            }
            index += 1
            switch clause {
            case "VALUE": event.value = try number("a number after VALUE").value
            case "SESSION": event.session = try identifier("a session id after SESSION")
            case "AT":
                let timeToken = current
                let text = try text("an ISO 8601 time after AT")
                guard let time = Timestamp(parsing: text) else {
                    throw invalid("'\(text)' is not an ISO 8601 time such as 2026-11-26T10:00:00Z", at: timeToken)
                }
                event.timestamp = time
            case "FROM":
                try expect("RECOMMENDATION", "after FROM")
                event.recommendation = try identifier("a recommendation id after FROM RECOMMENDATION")
            default: event.text = try text("a text after TEXT")
            }
        }
        return event
    }

    private mutating func show() throws -> StatementBody {
        if accept("STATS") { return .showStats }
        if accept("MODELS") { return .showModels }
        if accept("EXPERIMENTS") { return .showExperiments }
        if accept("EXPERIMENT") { return .showExperiment(try identifier("an experiment name after SHOW EXPERIMENT")) }
        if accept("ITEM") { return .showItem(try identifier("an item id after SHOW ITEM")) }
        if accept("USER") {
            let id = try identifier("a user id after SHOW USER")
            let history = accept("HISTORY")
            var limit: Int?
            if accept("LIMIT") { limit = try integer("a number after LIMIT", range: 0...Self.maxCount) }
            return .showUser(id, history: history || limit != nil, limit: limit)
        }
        throw syntaxError("STATS, MODELS, ITEM, USER, EXPERIMENT or EXPERIMENTS after SHOW")
    }

    private mutating func evaluate() throws -> StatementBody {
        try expect("MODEL", "after EVALUATE")
        let model = try modelExpression()
        var k = 10
        var split = EvaluationSplit.Kind.leaveLastOut
        var seen = Set<String>()
        while current.kind != .end && !current.isSymbol(";") {
            let token = current
            if accept("K") {
                guard seen.insert("K").inserted else {
                    throw RecDBError(.syntax, "K given twice at \(token.offset)", position: token.offset)
                }
                k = try integer("a cutoff after K", range: 1...1000)
            } else if accept("SPLIT") {
                guard seen.insert("SPLIT").inserted else {
                    throw RecDBError(.syntax, "SPLIT given twice at \(token.offset)", position: token.offset)
                }
                let nameToken = current
                let name = try identifier("leave-last-out, temporal or cold-items after SPLIT")
                guard let kind = EvaluationSplit.Kind(rawValue: name.lowercased()) else {
                    throw syntaxError("leave-last-out, temporal or cold-items after SPLIT", at: nameToken)
                }
                split = kind
            } else {
                throw syntaxError("K, SPLIT or the end")
            }
        }
        return .evaluate(model: model, k: k, split: split)
    }

    /// `SET name = value, …` (optional: an upsert without it only makes sure the record exists).
    private mutating func assignments() throws -> Attributes {
        var attributes = Attributes()
        guard accept("SET") else { return attributes }
        repeat {
            let nameToken = current
            let name = try identifier("an attribute name")
            try expectSymbol("=", "after the attribute name")
            guard attributes[name] == nil else {
                throw RecDBError(
                    .syntax, "attribute '\(name)' set twice at \(nameToken.offset)", position: nameToken.offset)
            }
            guard attributes.count < Self.maxListLength else {
                throw invalid("more than \(Self.maxListLength) attributes", at: nameToken)
            }
            attributes[name] = try attributeValue(for: name)
        } while acceptSymbol(",")
        return attributes
    }

    // MARK: - WHERE expressions

    /// `or := and {OR and}`, `and := unary {AND unary}`, `unary := NOT unary | primary`.
    mutating func expression() throws -> ItemPredicate {
        try nested {
            var parts = [try $0.conjunction()]
            while $0.accept("OR") { parts.append(try $0.conjunction()) }
            return parts.count == 1 ? parts[0] : .or(parts)
        }
    }

    private mutating func conjunction() throws -> ItemPredicate {
        var parts = [try unary()]
        while accept("AND") { parts.append(try unary()) }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    private mutating func unary() throws -> ItemPredicate {
        // NOT NOT … is counted, not recursed, so its length is bounded by the depth limit only.
        var negations = 0
        while isKeyword("NOT") {
            let token = advance()
            negations += 1
            guard depth + negations <= Self.maxDepth else {
                throw RecDBError(
                    .syntax, "expression nested deeper than \(Self.maxDepth) levels at \(token.offset)",
                    position: token.offset)
            }
        }
        let inner = try primary()
        return negations % 2 == 1 ? .not(inner) : inner
    }

    private mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        guard depth < Self.maxDepth else {
            throw RecDBError(
                .syntax, "expression nested deeper than \(Self.maxDepth) levels at \(current.offset)",
                position: current.offset)
        }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }

    private mutating func primary() throws -> ItemPredicate {
        if acceptSymbol("(") {
            let inner = try expression()
            try expectSymbol(")", "to close '('")
            return inner
        }
        if accept("AVAILABLE") { return .available }
        let nameToken = current
        guard nameToken.kind == .word || nameToken.kind == .string else {
            throw syntaxError("an attribute name, AVAILABLE, NOT or '('")
        }
        index += 1
        let name = nameToken.text
        let lowered = name.lowercased()
        let isCategory = lowered == "category"
        let isTags = lowered == "tags" || lowered == "tag"
        if accept("CONTAINS") {
            let value = try comparisonValue(for: name)
            if isTags { return .tag(value.description) }
            return .compare(attribute: name, .equal, value)
        }
        if accept("UNDER") {
            guard isCategory else { throw invalid("UNDER applies to category, not '\(name)'", at: nameToken) }
            return .category(try text("a category path after UNDER"))
        }
        if isKeyword("NOT") || isKeyword("IN") {
            let negated = accept("NOT")
            try expect("IN", negated ? "after NOT" : "")
            try expectSymbol("(", "after IN")
            var values: [AttributeValue] = []
            if !current.isSymbol(")") {
                repeat {
                    guard values.count < Self.maxListLength else {
                        throw invalid("more than \(Self.maxListLength) values in IN (…)", at: current)
                    }
                    values.append(try comparisonValue(for: name))
                } while acceptSymbol(",")
            }
            try expectSymbol(")", "to close IN (…)")
            let predicate: ItemPredicate
            if isCategory {
                predicate = .or(values.map { .category($0.description) })
            } else if isTags {
                predicate = .or(values.map { .tag($0.description) })
            } else {
                predicate = .oneOf(attribute: name, values)
            }
            return negated ? .not(predicate) : predicate
        }
        let opToken = current
        guard opToken.kind == .symbol, let op = ItemPredicate.ComparisonOperator(rawValue: opToken.text) else {
            throw syntaxError("a comparison (= != < <= > >=), IN, CONTAINS or UNDER after '\(name)'")
        }
        index += 1
        let value = try comparisonValue(for: name)
        if isCategory || isTags, op == .equal || op == .notEqual {
            // category = 'Books' means Books and everything under it; tags = 'x' means carrying tag x.
            let posting: ItemPredicate = isCategory ? .category(value.description) : .tag(value.description)
            return op == .equal ? posting : .not(posting)
        }
        return .compare(attribute: name, op, value)
    }

    // MARK: - Values

    /// An id or name: a bare word, a quoted string, a number as written, or a string or integer parameter.
    mutating func identifier(_ expected: String) throws -> String {
        let token = current
        switch token.kind {
        case .word, .string, .number:
            index += 1
            return token.text
        case .parameter:
            index += 1
            switch try parameter(token) {
            case .string(let text): return text
            case .number(let value) where value == value.rounded() && abs(value) < 1e15: return String(Int64(value))
            default: throw invalid("parameter $\(token.text) must be a string or an integer here", at: token)
            }
        default:
            throw syntaxError(expected)
        }
    }

    /// A list of ids in parentheses.
    mutating func identifierList(_ context: String) throws -> [String] {
        try expectSymbol("(", "after \(context)")
        var ids: [String] = []
        if acceptSymbol(")") { return ids }
        repeat {
            guard ids.count < Self.maxListLength else {
                throw invalid("more than \(Self.maxListLength) ids in \(context) (…)", at: current)
            }
            ids.append(try identifier("an id in \(context) (…)"))
        } while acceptSymbol(",")
        try expectSymbol(")", "to close \(context) (…)")
        return ids
    }

    /// A quoted string or a string parameter.
    mutating func text(_ expected: String) throws -> String {
        let token = current
        if token.kind == .string {
            index += 1
            return token.text
        }
        if token.kind == .parameter {
            index += 1
            guard case .string(let text) = try parameter(token) else {
                throw invalid("parameter $\(token.text) must be a string", at: token)
            }
            return text
        }
        throw syntaxError(expected)
    }

    /// A finite number literal or number parameter.
    mutating func number(_ expected: String) throws -> (value: Double, token: Token) {
        let token = current
        let value: Double
        switch token.kind {
        case .number: value = token.number
        case .parameter:
            guard case .number(let number) = try parameter(token) else {
                throw invalid("parameter $\(token.text) must be a number", at: token)
            }
            value = number
        default: throw syntaxError(expected)
        }
        guard value.isFinite else { throw invalid("\(token.text) is out of range", at: token) }
        index += 1
        return (value, token)
    }

    mutating func integer(_ expected: String, range: ClosedRange<Int>) throws -> Int {
        let (value, token) = try number(expected)
        guard value == value.rounded(), value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
            throw invalid(
                "expected an integer from \(range.lowerBound) to \(range.upperBound), not \(token.kind == .parameter ? "$" + token.text : token.text)",
                at: token)
        }
        return Int(value)
    }

    /// A literal in a comparison: string, number, `true`/`false`, `TIMESTAMP '…'`, or a parameter. Strings compared
    /// with `created_at` are read as times.
    private mutating func comparisonValue(for attribute: String) throws -> AttributeValue {
        let token = current
        let value: AttributeValue
        switch token.kind {
        case .string:
            index += 1
            value = .string(token.text)
        case .number:
            guard token.number.isFinite else { throw invalid("\(token.text) is out of range", at: token) }
            index += 1
            value = .number(token.number)
        case .word where token.isKeyword("TRUE") || token.isKeyword("FALSE"):
            index += 1
            value = .bool(token.isKeyword("TRUE"))
        case .word where token.isKeyword("TIMESTAMP"):
            index += 1
            let timeToken = current
            let text = try text("an ISO 8601 time after TIMESTAMP")
            guard let time = Timestamp(parsing: text) else {
                throw invalid("'\(text)' is not an ISO 8601 time such as 2026-11-26T10:00:00Z", at: timeToken)
            }
            return .timestamp(time)
        case .parameter:
            index += 1
            value = try attributeValue(from: try parameter(token), token: token)
        default:
            throw syntaxError("a value (string, number, true, false, TIMESTAMP '…' or $parameter)")
        }
        if attribute.lowercased() == "created_at", case .string(let text) = value, let time = Timestamp(parsing: text) {
            return .timestamp(time)
        }
        return value
    }

    /// A value after `name =` in `SET`: a comparison value, or a list `['a', 'b']` of strings.
    private mutating func attributeValue(for name: String) throws -> AttributeValue {
        guard acceptSymbol("[") else { return try comparisonValue(for: name) }
        var list: [String] = []
        if acceptSymbol("]") { return .strings(list) }
        repeat {
            let token = current
            guard list.count < Self.maxListLength else {
                throw invalid("more than \(Self.maxListLength) list elements", at: token)
            }
            switch token.kind {
            case .string, .word, .number:
                index += 1
                list.append(token.text)
            case .parameter:
                index += 1
                guard case .string(let text) = try parameter(token) else {
                    throw invalid("parameter $\(token.text) must be a string in a list", at: token)
                }
                list.append(text)
            default: throw syntaxError("a string in the list")
            }
        } while acceptSymbol(",")
        try expectSymbol("]", "to close the list")
        return .strings(list)
    }

    /// A parameter's value as an attribute: strings, finite numbers, booleans and lists of strings.
    private func attributeValue(from value: QueryValue, token: Token) throws -> AttributeValue {
        switch value {
        case .string(let text): return .string(text)
        case .number(let number) where number.isFinite: return .number(number)
        case .bool(let flag): return .bool(flag)
        case .array(let elements):
            var list: [String] = []
            for element in elements {
                guard case .string(let text) = element else {
                    throw invalid("parameter $\(token.text) must be a list of strings", at: token)
                }
                list.append(text)
            }
            return .strings(list)
        default:
            throw invalid(
                "parameter $\(token.text) must be a string, a finite number, a bool or a list of strings", at: token)
        }
    }
}
