import Foundation

extension CatalogReading where Self: ~Copyable {
    /// The models to ask, each with its weight; `blend` when several named models are mixed, else a chain filled
    /// model by model: the request's `CHAIN(…)`, one model, or the default fallback chain (weight 0 marks its order).
    func plan(_ resolved: ResolvedRequest) throws -> (models: [(record: ModelRecord, weight: Float)], blend: Bool) {
        let request = resolved.request
        if !request.models.isEmpty {
            var chosen: [(ModelRecord, Float)] = []
            for part in request.models {
                guard let record = try model(part.model), record.generation > 0 else {
                    _ = try ModelSpec.named(part.model)
                    throw RecDBError(.notFound, "model '\(part.model)' has not been trained (run `recctl refresh \(part.model)`)")
                }
                guard part.weight.isFinite, part.weight >= 0 else {
                    throw RecDBError(.invalidArgument, "weight of '\(part.model)' must be a number ≥ 0")
                }
                chosen.append((record, part.weight))
            }
            return (chosen, chosen.count > 1 && !request.chain)
        }
        let chain = try defaultChain(request)
        guard !chain.isEmpty else {
            if case .matching = request.target {
                throw RecDBError(.notFound, "MATCHING needs the text model (recctl refresh text) or the content model")
            }
            throw RecDBError(
                .notFound,
                resolved.returnsUsers
                    ? "users for an item need a trained factor model (recctl refresh als)"
                    : "no model is trained yet (recctl refresh popularity, then als, content, session)")
        }
        return (chain, false)
    }

    /// The trained models of the default fallback chain for the request's target, in order (weights 0): what serves
    /// a request without `USING`, and what fills the rest of a page that its `USING` models leave short.
    func defaultChain(_ request: RecommendRequest) throws -> [(record: ModelRecord, weight: Float)] {
        // Each kind says where it stands for the target; the model stored under the kind's name serves there.
        let ranked = ModelRegistry.kinds.enumerated().compactMap { index, kind in
            kind.chainPosition(for: request.target).map { (position: $0, index: index, kind: kind) }
        }
        var chain: [(record: ModelRecord, weight: Float)] = []
        var personalised = false
        let forUser = if case .user = request.target { true } else { false }
        for (_, _, kind) in ranked.sorted(by: { ($0.position, $0.index) < ($1.position, $1.index) }) {
            // One personalised model leads a user's chain; the others follow only if it cannot serve, so their
            // records are not read once one leads (a single model's name is its kind's).
            if kind.personalises && personalised && forUser { continue }
            guard let record = try model(kind.kind.rawValue), record.generation > 0 else { continue }
            if kind.personalises { personalised = true }
            chain.append((record, 0))
        }
        return chain
    }

    /// Candidates for the rest of a page that the requested models (one, or a blend) left short: the default chain
    /// without those models, after the items already ranked, honouring the request's filter and exclusions, each
    /// marked with the model that filled it. Empty when the chain has nothing to add.
    func fill(after ranked: [Candidate], _ resolved: ResolvedRequest, needed: Int) throws -> [Candidate] {
        let asked = Set(resolved.request.models.map(\.model))
        let chain = try defaultChain(resolved.request).filter { !asked.contains($0.record.name) }
        let missing = needed - ranked.count
        guard !chain.isEmpty, missing > 0 else { return [] }
        var rest = resolved
        rest.excluded.formUnion(ranked.map(\.item))
        let pool = try candidates((chain, false), rest, pool: missing * 2 + 25)
        return diversify(pool, rest, limit: missing).map { candidate in
            var filled = candidate
            filled.filledBy = candidate.model
            return filled
        }
    }
}
