extension Parser {
    /// `CREATE EXPERIMENT name VARIANTS (variant: USING models, …) [SPLIT n/n…] [ALLOCATION SPLIT|THOMPSON]
    /// [WINDOW n SECONDS|MINUTES|HOURS|DAYS]` (`Schemas/query-grammar.ebnf`, `create experiment`).
    mutating func createExperiment() throws -> ExperimentDefinition {
        let name = try identifier("an experiment name after CREATE EXPERIMENT")
        try expect("VARIANTS", "after the experiment name")
        try expectSymbol("(", "after VARIANTS")
        var variants: [Experiment.Variant] = []
        repeat {
            guard variants.count < Experiment.maxVariants else {
                throw invalid("more than \(Experiment.maxVariants) variants", at: current)
            }
            let token = current
            var variantName = try identifier("a variant name")
            if token.kind == .word, variantName.hasSuffix(":") {
                variantName.removeLast()
            } else {
                try expectSymbol(":", "after the variant name")
            }
            try expect("USING", "after '\(variantName):'")
            let models = try modelExpression()
            variants.append(Experiment.Variant(name: variantName, using: models.description, share: 0))
        } while acceptSymbol(",")
        try expectSymbol(")", "to close VARIANTS (…)")
        var definition = ExperimentDefinition(name: name, variants: variants)
        var shares: [Int]?
        var seen = Set<String>()
        while current.kind != .end && !current.isSymbol(";") {
            let token = current
            let clause = token.text.uppercased()
            guard token.kind == .word, ["SPLIT", "ALLOCATION", "WINDOW"].contains(clause) else {
                throw syntaxError("SPLIT, ALLOCATION, WINDOW or the end")
            }
            guard seen.insert(clause).inserted else {
                throw RecDBError(.syntax, "\(clause) given twice at \(token.offset)", position: token.offset)
            }
            index += 1
            switch clause {
            case "SPLIT": shares = try split(variants: variants.count)
            case "ALLOCATION": definition.allocation = try allocation()
            default: definition.windowSeconds = try window()
            }
        }
        let given = shares ?? Self.evenShares(variants.count)
        for index in definition.variants.indices { definition.variants[index].share = given[index] }
        return definition
    }

    /// `ALTER EXPERIMENT name [SPLIT n/n…] [ALLOCATION SPLIT|THOMPSON]`: at least one of the two.
    mutating func alterExperiment() throws -> StatementBody {
        let name = try identifier("an experiment name after ALTER EXPERIMENT")
        var shares: [Int]?
        var allocation: Experiment.Allocation?
        while current.kind != .end && !current.isSymbol(";") {
            let token = current
            if accept("SPLIT") {
                guard shares == nil else { throw RecDBError(.syntax, "SPLIT given twice at \(token.offset)", position: token.offset) }
                shares = try split(variants: nil)
            } else if accept("ALLOCATION") {
                guard allocation == nil else {
                    throw RecDBError(.syntax, "ALLOCATION given twice at \(token.offset)", position: token.offset)
                }
                allocation = try self.allocation()
            } else {
                throw syntaxError("SPLIT, ALLOCATION or the end")
            }
        }
        guard shares != nil || allocation != nil else { throw syntaxError("SPLIT or ALLOCATION after the experiment name") }
        return .alterExperiment(name: name, shares: shares, allocation: allocation)
    }

    /// `n/n/…`, percentages adding up to 100, one per variant when `variants` is known.
    private mutating func split(variants: Int?) throws -> [Int] {
        let first = current
        var shares: [Int] = []
        repeat {
            guard shares.count < Experiment.maxVariants else { throw invalid("more than \(Experiment.maxVariants) shares", at: current) }
            shares.append(try integer("a share in percent in SPLIT", range: 0...100))
        } while acceptSymbol("/")
        if let variants, shares.count != variants {
            throw invalid("SPLIT gives \(shares.count) shares for \(variants) variants", at: first)
        }
        let total = shares.reduce(0, +)
        guard total == 100 else { throw invalid("the SPLIT shares add up to \(total), not 100", at: first) }
        return shares
    }

    private mutating func allocation() throws -> Experiment.Allocation {
        let token = current
        let name = try identifier("SPLIT or THOMPSON after ALLOCATION")
        guard let allocation = Experiment.Allocation(rawValue: name.lowercased()) else {
            throw syntaxError("SPLIT or THOMPSON after ALLOCATION", at: token)
        }
        return allocation
    }

    private mutating func window() throws -> Int {
        let amount = try integer("a number after WINDOW", range: 1...1_000_000)
        let token = current
        let unit = try identifier("SECONDS, MINUTES, HOURS or DAYS after the window").uppercased()
        let seconds: [String: Int] = ["SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86_400]
        guard let scale = seconds[unit] ?? seconds[unit + "S"] else {
            throw syntaxError("SECONDS, MINUTES, HOURS or DAYS after the window", at: token)
        }
        guard amount * scale <= 366 * 86_400 else { throw invalid("the attribution window is at most 366 days", at: token) }
        return amount * scale
    }

    /// Equal shares, the remainder to the first variants: 34/33/33.
    static func evenShares(_ count: Int) -> [Int] {
        guard count > 0 else { return [] }
        return (0..<count).map { 100 / count + ($0 < 100 % count ? 1 : 0) }
    }
}

/// `CREATE EXPERIMENT …` after parsing.
struct ExperimentDefinition: Sendable, Hashable {
    var name: String
    var variants: [Experiment.Variant]
    var allocation = Experiment.Allocation.split
    var windowSeconds = Experiment.defaultAttributionWindow
}
