import Foundation

/// The variant a `RECOMMEND … IN EXPERIMENT` was given, and the id its answer carries.
struct ExperimentAssignment: Sendable, Hashable {
    var experiment: String
    var id: RecommendationID
    var variant: Int
    var variantName: String
    /// What bucketing hashed: `u:` and the user id, or `s:` and the session id.
    var unit: String
    /// False once the experiment is stopped: the page is served, nothing is recorded.
    var recordsImpression: Bool
}

extension CatalogReading where Self: ~Copyable {
    /// Gives a query with `IN EXPERIMENT` its variant: the experiment's models replace the query's, and
    /// ``RecommendQuery/assignment`` says which variant it was.
    func assignVariant(_ query: inout RecommendQuery) throws {
        guard let name = query.experiment else { return }
        guard let experiment = try experiment(name) else {
            throw RecDBError(.notFound, "unknown experiment '\(name)'; create it with CREATE EXPERIMENT")
        }
        let unit: String
        switch query.target {
        case .standard(.user(let user)): unit = "u:" + user
        case .standard(.session(let session)): unit = "s:" + session
        default:
            throw RecDBError(
                .invalidArgument, "IN EXPERIMENT needs RECOMMEND … ITEMS FOR USER or FOR SESSION: a user or session is bucketed")
        }
        let index: Int
        switch (experiment.state, experiment.allocation) {
        case (.stopped, _): index = 0
        case (.running, .split): index = experiment.splitVariant(for: unit)
        case (.running, .thompson): index = try thompsonVariant(experiment)
        }
        let variant = experiment.variants[index]
        let expression = try ModelExpression.parse(variant.using)
        query.models = expression.weights
        if case .chain = expression { query.chain = true }
        query.assignment = ExperimentAssignment(
            experiment: experiment.name, id: .fresh(in: experiment.number), variant: index, variantName: variant.name,
            unit: unit, recordsImpression: experiment.state == .running)
    }

    /// Thompson sampling: a draw from each variant's Beta(1 + conversions, 1 + impressions − conversions) posterior
    /// of its conversion rate per impression; the highest draw serves.
    private func thompsonVariant(_ experiment: Experiment) throws -> Int {
        var generator = SystemRandomNumberGenerator()
        var best = 0
        var bestDraw = -1.0
        for index in experiment.variants.indices {
            let shown = try experimentCounter(experiment.number, variant: index, .impressions)
            let converted = min(shown, try experimentCounter(experiment.number, variant: index, .conversions))
            let draw = BetaSampler.draw(
                alpha: 1 + Double(converted), beta: 1 + Double(shown - converted), using: &generator)
            if draw > bestDraw {
                bestDraw = draw
                best = index
            }
        }
        return best
    }
}

/// Draws from Beta and Gamma distributions (Marsaglia and Tsang's method), for Thompson sampling.
enum BetaSampler {
    /// A draw from Beta(`alpha`, `beta`), both ≥ 1.
    static func draw(alpha: Double, beta: Double, using generator: inout some RandomNumberGenerator) -> Double {
        let x = gamma(shape: alpha, using: &generator)
        let y = gamma(shape: beta, using: &generator)
        return x / (x + y)
    }

    /// A draw from Gamma(`shape`, 1), `shape` ≥ 1.
    static func gamma(shape: Double, using generator: inout some RandomNumberGenerator) -> Double {
        let d = shape - 1.0 / 3.0
        let c = 1.0 / (9.0 * d).squareRoot()
        while true {
            var x = 0.0
            var v = 0.0
            repeat {
                x = normal(using: &generator)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = Double.random(in: Double.ulpOfOne..<1, using: &generator)
            if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return d * v }
        }
    }

    /// A standard normal draw (Box–Muller).
    static func normal(using generator: inout some RandomNumberGenerator) -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
        let u2 = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

extension RecDatabase {
    /// Finishes the answer of a query in an experiment: records its impression (at once when embedded, with the next
    /// group commit in a server, see ``ImpressionQueue``) and adds `recommendation_id`, `experiment` and `variant`.
    func finishExperimentAnswer(
        _ answer: QueryValue, results: [Recommendation], query: RecommendQuery
    ) throws -> QueryValue {
        guard let assignment = query.assignment, case .object(var members) = answer else { return answer }
        if assignment.recordsImpression {
            let impression = Impression(
                id: assignment.id, experiment: assignment.experiment, variant: UInt8(assignment.variant),
                unit: assignment.unit, items: results.map(\.id), time: Timestamp.now.milliseconds)
            if !impressions.enqueue(impression) { try write { w in try w.record(impression) } }
            members["recommendation_id"] = .string(assignment.id.description)
        }
        members["experiment"] = .string(assignment.experiment)
        members["variant"] = .string(assignment.variantName)
        return .object(members)
    }
}
