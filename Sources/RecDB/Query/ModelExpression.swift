/// Which models serve, in the one syntax that `RECOMMEND … USING`, `EVALUATE MODEL`, `recctl eval --models` and
/// `recctl recommend --model` share (`Schemas/query-grammar.ebnf`, `model expression`):
///
/// ```
/// als                                   one model
/// BLEND(als 0.7, content 0.3)           scores normalised per model, weighted and summed
/// CHAIN(als, content, popularity)       the first model's candidates, then each later model's new ones
/// ```
///
/// ```swift
/// let expression = try ModelExpression.parse("BLEND(als 0.7, content 0.3)")
/// print(expression)                     // BLEND(als 0.7, content 0.3)
/// let specs = try ModelExpression.parseList("als, CHAIN(als, content, popularity)")
/// ```
public enum ModelExpression: Sendable, Hashable, CustomStringConvertible {
    /// One model by name.
    case model(String)
    /// Several models mixed with weights (`BLEND(name weight, …)`).
    case blend([ModelWeight])
    /// Models asked in order, each filling the page after the earlier ones (`CHAIN(name, …)`), as the default
    /// fallback chain serves.
    case chain([String])

    /// Parses one model expression; `$name` parameters are bound from `parameters`. Errors are `.syntax` (or
    /// `.invalidArgument` for a negative weight) with the offset in `text`; the retired spellings
    /// `blend:als=0.7+content=0.3` and `chain:als>content` fail with `.invalidArgument` naming the new spelling.
    public static func parse(_ text: String, parameters: [String: QueryValue] = [:]) throws -> ModelExpression {
        try rejectRetiredSpelling(text)
        return try Parser.parseModelExpression(text, parameters: parameters)
    }

    /// Parses comma-separated model expressions (`als, BLEND(als 0.7, content 0.3), CHAIN(als, popularity)`): commas
    /// inside parentheses belong to their expression.
    public static func parseList(_ text: String) throws -> [ModelExpression] {
        for piece in text.split(separator: ",") { try rejectRetiredSpelling(String(piece)) }
        return try Parser.parseModelExpressionList(text)
    }

    /// The models named, in order (a blend's in its order, weights dropped).
    public var modelNames: [String] {
        switch self {
        case .model(let name): [name]
        case .blend(let parts): parts.map(\.model)
        case .chain(let names): names
        }
    }

    /// The models with their weights as ``RecommendRequest/models`` takes them (weight 1 for one model and for the
    /// links of a chain).
    public var weights: [ModelWeight] {
        switch self {
        case .model(let name): [ModelWeight(name)]
        case .blend(let parts): parts
        case .chain(let names): names.map { ModelWeight($0) }
        }
    }

    /// The expression in the query language's canonical spelling: `als`, `BLEND(als 0.7, content 0.3)`,
    /// `CHAIN(als, content)`; parsing it gives the same expression back.
    public var description: String {
        switch self {
        case .model(let name): Self.spelled(name)
        case .blend(let parts):
            "BLEND(" + parts.map { Self.spelled($0.model) + " " + Self.spelled($0.weight) }.joined(separator: ", ") + ")"
        case .chain(let names): "CHAIN(" + names.map(Self.spelled).joined(separator: ", ") + ")"
        }
    }

    /// A name as a bare word when it reads as one, else quoted.
    static func spelled(_ name: String) -> String {
        let isWord = name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { $0.isLetter || $0.isNumber || "_-.:/@".contains($0) }
            && !["BLEND", "CHAIN"].contains(name.uppercased()) && !name.contains("--")
        return isWord ? name : "'" + name.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// A weight without a needless fraction (`1`, `0.7`).
    static func spelled(_ weight: Float) -> String {
        weight == weight.rounded() && abs(weight) < 1e6 ? String(Int(weight)) : "\(weight)"
    }

    /// Throws for `blend:…` and `chain:…`, the spellings `recctl eval` took before the query language's, naming the
    /// expression to write instead.
    static func rejectRetiredSpelling(_ text: String) throws {
        // Most texts are a model name or a BLEND/CHAIN: decided on the first bytes, without Foundation's string work
        // (this runs for every `RECOMMEND … IN EXPERIMENT`).
        let head = text.utf8.drop { $0 == 0x20 || $0 == 0x09 }.prefix(6).map { $0 | 0x20 }
        guard head.elementsEqual("blend:".utf8) || head.elementsEqual("chain:".utf8) else { return }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let lowered = trimmed.lowercased()
        let suggestion: String
        if lowered.hasPrefix("blend:") {
            let parts = lowered.dropFirst(6).split(separator: "+").map { term -> String in
                let pieces = term.split(separator: "=", maxSplits: 1)
                return pieces.count == 2 ? "\(pieces[0]) \(pieces[1])" : "\(term) 1"
            }
            suggestion = "BLEND(" + parts.joined(separator: ", ") + ")"
        } else if lowered.hasPrefix("chain:") {
            let parts = lowered.dropFirst(6).split(whereSeparator: { $0 == ">" || $0 == "/" })
            suggestion = "CHAIN(" + parts.joined(separator: ", ") + ")"
        } else {
            return
        }
        throw RecDBError(
            .invalidArgument, "'\(trimmed)' is the retired spelling of a model expression; write \(suggestion)")
    }
}

extension ModelSpec {
    /// The spec of a parsed model expression: one model, a blend or a chain of the specs `spec` gives for each name
    /// (by default ``ModelSpec/named(_:)``'s defaults; a caller may return a stored model's own parameters).
    public init(_ expression: ModelExpression, spec: (String) throws -> ModelSpec = ModelSpec.named) throws {
        switch expression {
        case .model(let name): self = try spec(name)
        case .blend(let parts): self = .blend(try parts.map { try spec($0.model) }, weights: parts.map(\.weight))
        case .chain(let names): self = .chain(try names.map(spec))
        }
    }

    /// The spec as a model expression (a blend's or chain's parts by name).
    var expression: ModelExpression {
        switch shape {
        case .blend(let parts, let weights):
            .blend(zip(parts, weights).map { ModelWeight($0.name, weight: $1) })
        case .chain(let parts): .chain(parts.map(\.name))
        case .single: .model(name)
        }
    }
}
