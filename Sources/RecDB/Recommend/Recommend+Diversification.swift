import Foundation

extension RecommendRequest.Diversification {
    /// The diversification of `DIVERSIFY amount` in the query language and of `recctl recommend --diversify amount`:
    /// how much variety, from 0 (none: the ranking as it is) to 1 (all variety), as maximal marginal relevance with
    /// lambda = 1 − amount. Nil outside 0…1.
    ///
    /// ```swift
    /// request.diversification = .diversity(0.3)   // = .maximalMarginalRelevance(lambda: 0.7)
    /// ```
    public static func diversity(_ amount: Double) -> Self? {
        guard amount >= 0, amount <= 1 else { return nil }
        return .maximalMarginalRelevance(lambda: Float(1 - amount))
    }
}

extension CatalogReading where Self: ~Copyable {
    /// The first `limit` of `pool` in ranked order, diversified as the request asks.
    func diversify(_ pool: [Candidate], _ resolved: ResolvedRequest, limit: Int) -> [Candidate] {
        switch resolved.request.diversification {
        case nil: return Array(pool.prefix(limit))
        case .perCategory(let cap)?:
            // The cap holds on every page (every `count` consecutive results) as far as the candidates allow; an
            // item over the cap waits for a later page instead of being dropped.
            let pageSize = max(resolved.request.count, 1)
            let categories = pool.map { candidate in ((try? item(internalID: candidate.item)?.category) ?? nil) ?? "" }
            var waiting = Array(pool.indices), result: [Candidate] = []
            while result.count < limit && !waiting.isEmpty {
                var counts: [String: Int] = [:], page: [Int] = [], rest: [Int] = []
                for index in waiting {
                    let key = categories[index]
                    if page.count < pageSize && (key.isEmpty || counts[key, default: 0] < cap) {
                        counts[key, default: 0] += 1
                        page.append(index)
                    } else {
                        rest.append(index)
                    }
                }
                if page.isEmpty { break }
                // A page the cap cannot fill takes the best of the rest, so every page stays `count` long.
                while page.count < pageSize && !rest.isEmpty { page.append(rest.removeFirst()) }
                result += page.map { pool[$0] }
                waiting = rest
            }
            return Array(result.prefix(limit))
        case .maximalMarginalRelevance(let lambda)?:
            guard lambda < 1, pool.count > 1 else { return Array(pool.prefix(limit)) }
            let space = diversitySpace()
            let vectors = pool.map { candidate in space.flatMap { diversityVector(candidate.item, in: $0) } }
            let high = pool.map(\.score).max() ?? 0, low = pool.map(\.score).min() ?? 0
            let span = high > low ? high - low : 1
            var picked: [Int] = []
            var maxSimilarity = [Float](repeating: 0, count: pool.count)
            var used = [Bool](repeating: false, count: pool.count)
            while picked.count < min(limit, pool.count) {
                var best = -1
                var bestValue = -Float.infinity
                for i in 0..<pool.count where !used[i] {
                    let relevance = (pool[i].score - low) / span
                    let value = lambda * relevance - (1 - lambda) * maxSimilarity[i]
                    if value > bestValue { bestValue = value; best = i }
                }
                used[best] = true
                picked.append(best)
                if let chosen = vectors[best] {
                    for i in 0..<pool.count where !used[i] {
                        if let other = vectors[i] {
                            var dot: Float = 0
                            for d in 0..<min(chosen.count, other.count) { dot += chosen[d] * other[d] }
                            maxSimilarity[i] = max(maxSimilarity[i], max(0, dot))
                        }
                    }
                }
            }
            return picked.map { pool[$0] }
        }
    }

    /// The space whose vectors measure similarity between items: the content model's if trained, else the first
    /// factor model's.
    func diversitySpace() -> EmbeddingSpace? {
        for name in [ModelKind.content, .als, .bpr].map(\.rawValue) {
            if let record = try? model(name), let spaceName = record.space, let space = try? space(spaceName) { return space }
        }
        return nil
    }

    /// An item's unit vector in `space`, or nil.
    func diversityVector(_ item: UInt32, in space: EmbeddingSpace) -> [Float]? {
        guard var vector = try? storedVector(space, .items, item) else { return nil }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return nil }
        for d in 0..<vector.count { vector[d] /= norm }
        return vector
    }
}
