import Foundation

// Result shapes of the experiment statements (see Schemas/query-language.md):
// CREATE / ALTER / STOP EXPERIMENT  {"name", "state", "allocation", "variants": [{"name", "using", "share"}]}
// SHOW EXPERIMENT                   see ExperimentReport
// SHOW EXPERIMENTS                  {"experiments": [{"name", "state", "allocation", "variants": […]}]}

extension CatalogWriter {
    mutating func executeExperimentWrite(_ body: StatementBody) throws -> QueryValue {
        let experiment: Experiment
        switch body {
        case .createExperiment(let definition):
            experiment = try createExperiment(
                definition.name, variants: definition.variants, allocation: definition.allocation,
                windowSeconds: definition.windowSeconds)
        case .alterExperiment(let name, let shares, let allocation):
            experiment = try changeExperiment(name) { experiment in
                if let shares {
                    guard shares.count == experiment.variants.count else {
                        throw RecDBError(
                            .invalidArgument,
                            "SPLIT gives \(shares.count) shares; experiment '\(name)' has \(experiment.variants.count) variants")
                    }
                    for index in experiment.variants.indices { experiment.variants[index].share = shares[index] }
                }
                if let allocation { experiment.allocation = allocation }
            }
        case .stopExperiment(let name):
            experiment = try changeExperiment(name) { $0.state = .stopped }
        default:
            throw RecDBError(.invalidArgument, "not an experiment statement")
        }
        return experiment.summaryValue
    }
}

extension CatalogReading where Self: ~Copyable {
    func showExperiment(_ name: String) throws -> QueryValue {
        guard let experiment = try experiment(name) else { throw RecDBError(.notFound, "unknown experiment '\(name)'") }
        return try ExperimentReport(experiment, reader: self).value
    }

    func showExperiments() throws -> QueryValue {
        ["experiments": .array(try experiments().map(\.summaryValue))]
    }
}

extension Experiment {
    /// Name, state, allocation and variants, as the experiment statements answer.
    var summaryValue: QueryValue {
        [
            "name": .string(name), "state": .string(state.rawValue), "allocation": .string(allocation.rawValue),
            "attribution_window_s": .number(Double(attributionWindowSeconds)),
            "variants": .array(
                variants.map { ["name": .string($0.name), "using": .string($0.using), "share": .number(Double($0.share))] }
            ),
        ]
    }
}
