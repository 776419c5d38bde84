extension ItemPredicate {
    /// Parses a filter in the grammar of `RECOMMEND … WHERE` (`Schemas/query-grammar.ebnf`, `expression`): the one
    /// filter syntax, which `recctl recommend --where` and `recctl vectors search --where` take as well. `$name`
    /// parameters are bound from `parameters`. Errors are `.syntax` or `.invalidArgument` with the offset in `text`.
    ///
    /// ```swift
    /// let filter = try ItemPredicate.parse("category = 'Books' AND price < 20 AND NOT tags CONTAINS 'used'")
    /// ```
    public static func parse(_ text: String, parameters: [String: QueryValue] = [:]) throws -> ItemPredicate {
        try Parser.parseFilter(text, parameters: parameters)
    }
}
