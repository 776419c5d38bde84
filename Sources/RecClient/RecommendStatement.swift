/// A `RECOMMEND` statement built from typed parts: its ``text`` is query-language text, the one syntax that recd,
/// `recctl query` and embedded `RecDatabase.query` read (`Schemas/query-grammar.ebnf`). `recctl recommend` compiles
/// its flags with this builder.
///
/// ```swift
/// var statement = RecommendStatement(.user("u42"), count: 10)
/// statement.models = .blend([("als", 0.7), ("content", 0.3)])
/// statement.filter = "category = 'Books' AND price < 20"
/// statement.diversify = .amount(0.3)
/// print(statement)   // RECOMMEND 10 ITEMS FOR USER 'u42' USING BLEND(als 0.7, content 0.3)
///                    //   WHERE category = 'Books' AND price < 20 DIVERSIFY 0.3 EXPLAIN   (one line)
/// let items = try await client.recommend(statement)
/// ```
public struct RecommendStatement: Sendable, Hashable, CustomStringConvertible {
    /// Whom or what the recommendations are for.
    public enum Target: Sendable, Hashable {
        /// `FOR USER 'id'`.
        case user(String)
        /// `FOR SESSION 'id'`.
        case session(String)
        /// `FOR ITEMS ('a', 'b')`: an anonymous basket.
        case items([String])
        /// `SIMILAR TO ITEM 'id'`.
        case similarTo(String)
        /// `RECOMMEND … USERS FOR ITEM 'id'`.
        case usersForItem(String)
        /// `MATCHING 'text'`.
        case matching(String)
    }

    /// The text of a model expression (`USING …`): one model, a blend or a chain.
    public struct Models: Sendable, Hashable, CustomStringConvertible {
        /// The expression as query text.
        public let description: String

        /// `USING name`.
        public static func model(_ name: String) -> Models { Models(description: word(name)) }

        /// `USING BLEND(name weight, …)`: scores normalised per model, weighted and summed.
        public static func blend(_ parts: [(model: String, weight: Double)]) -> Models {
            Models(description: "BLEND(" + parts.map { word($0.model) + " " + number($0.weight) }.joined(separator: ", ") + ")")
        }

        /// `USING CHAIN(name, …)`: the first model's results, then each later model's new ones.
        public static func chain(_ models: [String]) -> Models {
            Models(description: "CHAIN(" + models.map(word).joined(separator: ", ") + ")")
        }

        /// A model expression already written in the query language (`BLEND(als 0.7, content 0.3)`).
        public init(expression: String) { description = expression }

        private init(description: String) { self.description = description }
    }

    /// `DIVERSIFY …`.
    public enum Diversify: Sendable, Hashable {
        /// `DIVERSIFY amount`: 0 changes nothing, 1 is all variety (maximal marginal relevance, lambda = 1 − amount).
        case amount(Double)
        /// `DIVERSIFY BY CATEGORY n`: at most n items of one category per page.
        case perCategory(Int)
    }

    /// Whom or what the list is for: the statement's `FOR …` clause.
    public var target: Target
    /// Results on the page.
    public var count: Int
    /// Results to skip (earlier pages).
    public var offset = 0
    /// The models; nil lets the default fallback chain serve.
    public var models: Models?
    /// A `WHERE` expression, as query text (`category = 'Books' AND price < 20`).
    public var filter: String?
    /// Items never to return (`EXCLUDE (…)`).
    public var exclude: [String] = []
    /// `INCLUDE SEEN`: keep items the user has met.
    public var includeSeen = false
    /// How the page is made varied (`DIVERSIFY …`).
    public var diversify: Diversify?
    /// `WITH (EF = n)`: the vector search's candidate list size (1…4,096); nil keeps the space's default.
    public var ef: Int?
    /// `WITH (RERANK = n)`: candidates re-ranked exactly in spaces with int8 codes (1…4,096); nil keeps the default.
    public var rerank: Int?
    /// `STRICT`: only the named models serve; a short page stays short.
    public var strict = false
    /// `EXPLAIN`: each result's provenance and a sentence for shoppers.
    public var explain = true
    /// `EXPLAIN GENERATED`: sentences phrased by the language model (implies ``explain``).
    public var generated = false

    /// A statement for `target` with `count` results and explanations.
    public init(_ target: Target, count: Int = 10) {
        self.target = target
        self.count = count
    }

    /// The statement as query text.
    public var description: String { text }

    /// The statement as query text.
    public var text: String {
        var parts = ["RECOMMEND", String(count)]
        switch target {
        case .user(let id): parts += ["ITEMS FOR USER", Self.quoted(id)]
        case .session(let id): parts += ["ITEMS FOR SESSION", Self.quoted(id)]
        case .items(let ids): parts += ["ITEMS FOR ITEMS", "(" + ids.map(Self.quoted).joined(separator: ", ") + ")"]
        case .similarTo(let id): parts += ["ITEMS SIMILAR TO ITEM", Self.quoted(id)]
        case .usersForItem(let id): parts += ["USERS FOR ITEM", Self.quoted(id)]
        case .matching(let phrase): parts += ["ITEMS MATCHING", Self.quoted(phrase)]
        }
        if let models { parts += ["USING", models.description] }
        if let filter { parts += ["WHERE", filter] }
        if !exclude.isEmpty { parts.append("EXCLUDE (" + exclude.map(Self.quoted).joined(separator: ", ") + ")") }
        if includeSeen { parts.append("INCLUDE SEEN") }
        switch diversify {
        case .amount(let amount): parts += ["DIVERSIFY", Self.number(amount)]
        case .perCategory(let cap): parts.append("DIVERSIFY BY CATEGORY \(cap)")
        case nil: break
        }
        if offset > 0 { parts.append("OFFSET \(offset)") }
        let search = [ef.map { "EF = \($0)" }, rerank.map { "RERANK = \($0)" }].compactMap { $0 }
        if !search.isEmpty { parts.append("WITH (" + search.joined(separator: ", ") + ")") }
        if strict { parts.append("STRICT") }
        if generated { parts.append("EXPLAIN GENERATED") } else if explain { parts.append("EXPLAIN") }
        return parts.joined(separator: " ")
    }

    /// A string literal of the query language: in single quotes, a quote inside doubled (`'it''s'`).
    public static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// A name as a bare word when it reads as one (`als`), else as a string literal.
    static func word(_ name: String) -> String {
        let bare = name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { $0.isLetter || $0.isNumber || "_-.:/@".contains($0) } && !name.contains("--")
            && !["BLEND", "CHAIN"].contains(name.uppercased())
        return bare ? name : quoted(name)
    }

    /// A number as the query language writes it, without a needless fraction (`1`, `0.7`).
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
