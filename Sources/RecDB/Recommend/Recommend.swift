import Foundation

extension RecDatabase {
    /// Recommends from one consistent snapshot: see ``RecommendRequest``. Every result carries its score, the
    /// model that produced it, its provenance and an explanation sentence. The models a cold user's profile or a
    /// `MATCHING` phrase needs run between read transactions, never inside one (see ``ModelInputs``).
    public func recommend(_ request: RecommendRequest) throws -> [Recommendation] {
        var inputs = ModelInputs()
        return try readWithModelInputs(&inputs) { r, inputs in try r.recommend(request, inputs: inputs) }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// Recommends in this snapshot: see ``RecommendRequest``.
    public func recommend(_ request: RecommendRequest) throws -> [Recommendation] {
        try recommend(request, inputs: nil)
    }

    /// Recommends with the model outputs `inputs` (computed before the transaction); nil runs the models inline.
    func recommend(_ request: RecommendRequest, inputs: ModelInputs?) throws -> [Recommendation] {
        guard request.count >= 0, request.offset >= 0 else {
            throw RecDBError(.invalidArgument, "count and offset must be ≥ 0 (count \(request.count), offset \(request.offset))")
        }
        guard request.count > 0 else { return [] }
        guard request.count + request.offset <= 10_000 else {
            throw RecDBError(.invalidArgument, "offset + count may be at most 10,000")
        }
        try request.search.validate()
        var resolved = try resolve(request)
        resolved.inputs = inputs
        let models = try plan(resolved)
        if let allowed = resolved.allowed, allowed.count == 0 { return [] }
        let needed = request.offset + request.count
        var ranked = try rank(models, resolved, needed: needed)
        if ranked.count < needed, !request.models.isEmpty, !request.strict {
            ranked += try fill(after: ranked, resolved, needed: needed)
        }
        let page = Array(ranked.dropFirst(request.offset).prefix(request.count))
        guard request.explain else {
            return try page.map { candidate in
                var provenance = Provenance(reason: candidate.reason, items: [], category: nil, neighbours: candidate.neighbours)
                provenance.filledBy = candidate.filledBy
                var result = Recommendation(
                    id: "#\(candidate.item)", internalID: candidate.item, score: candidate.score, model: candidate.model,
                    provenance: provenance, explanation: "")
                if resolved.returnsUsers {
                    result.id = try externalUserID(candidate.item) ?? result.id
                } else if let heading = try itemHeading(internalID: candidate.item) {
                    result.id = heading.id
                    result.title = heading.title
                }
                return result
            }
        }
        let pageSources = try closestSources(for: page, resolved)
        return try page.map { candidate in
            try RequestControl.checkCurrent()
            return try explain(candidate, resolved, pageSources: pageSources)
        }
    }

    /// The first `needed` candidates of the planned models, ranked in blocks so that a deeper page extends the
    /// ranking of the earlier ones and never repeats an item; fewer when the models have no more to give.
    func rank(
        _ models: (models: [(record: ModelRecord, weight: Float)], blend: Bool), _ resolved: ResolvedRequest, needed: Int
    ) throws -> [Candidate] {
        let block = RankingBlocks.block
        var ranked: [Candidate] = []
        var placed = Set<UInt32>()
        var blocks = 1
        while ranked.count < needed {
            try RequestControl.checkCurrent()
            let size = blocks * block
            let pool = try candidates(models, resolved, pool: size * 2)
            var added = false
            for candidate in diversify(pool, resolved, limit: size) where !placed.contains(candidate.item) {
                placed.insert(candidate.item)
                ranked.append(candidate)
                added = true
            }
            // Stop when the models have nothing more to give.
            if !added || pool.count < size * 2 && blocks > 1 { break }
            if ranked.count >= needed { break }
            blocks += 1
            if blocks * block > needed * 4 + 200 { break }
        }
        return ranked
    }

    // MARK: - Resolving

    func resolve(_ request: RecommendRequest) throws -> ResolvedRequest {
        var resolved = ResolvedRequest(request: request)
        resolved.itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
        switch request.target {
        case .user(let id):
            guard let user = try userID(for: id) else { throw RecDBError(.notFound, "unknown user '\(id)'") }
            resolved.userID = user
            resolved.history = try history(ofUserID: user, limit: UserHistory.window, newestFirst: true)
            resolved.sourceReason = .history
            if resolved.history.isEmpty, case .string(let about)? = try self.user(internalID: user)?.attributes["about"],
                !about.isEmpty
            {
                resolved.about = about
            }
            if request.excludeSeen {
                if resolved.history.count < UserHistory.window {
                    for entry in resolved.history { resolved.excluded.insert(entry.itemID) }
                } else {
                    for item in try seenItems(ofUserID: user) { resolved.excluded.insert(item) }
                }
            }
        case .session(let id):
            guard let session = try session(id) else { throw RecDBError(.notFound, "unknown session '\(id)'") }
            resolved.sourceItems = session.entries.suffix(50).map(\.itemID)
            resolved.sourceReason = .session
            resolved.excluded.formUnion(resolved.sourceItems)
        case .items(let ids):
            guard !ids.isEmpty else { throw RecDBError(.invalidArgument, "FOR ITEMS needs at least one item") }
            for id in ids {
                guard let item = try itemID(for: id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
                resolved.sourceItems.append(item)
            }
            resolved.sourceReason = .basket
            resolved.excluded.formUnion(resolved.sourceItems)
        case .similarTo(let id):
            guard let item = try itemID(for: id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
            resolved.sourceItems = [item]
            resolved.sourceReason = .similarItem
            resolved.excluded.insert(item)
        case .usersForItem(let id):
            guard let item = try itemID(for: id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
            resolved.sourceItems = [item]
            resolved.sourceReason = .audience
            resolved.returnsUsers = true
        case .matching(let phrase):
            guard !phrase.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw RecDBError(.invalidArgument, "MATCHING needs a phrase")
            }
            resolved.sourceReason = .matching
        }
        for id in request.exclude {
            if let item = try itemID(for: id) { resolved.excluded.insert(item) }
        }
        if let filter = request.filter, !resolved.returnsUsers { resolved.allowed = try cachedItems(matching: filter) }
        return resolved
    }

    /// The visit that session models continue: the session's or basket's items, or the user's latest visit
    /// (``UserHistory/latestVisit(_:gap:)``, which evaluation uses too).
    func visit(_ resolved: ResolvedRequest) -> [UInt32] {
        if !resolved.sourceItems.isEmpty { return resolved.sourceItems }
        return UserHistory.latestVisit(resolved.history, gap: database.sessionGap)
    }

    // MARK: - Candidates

    /// Up to `pool` candidates: the blend of the models, or the chain filled model by model.
    func candidates(
        _ plan: (models: [(record: ModelRecord, weight: Float)], blend: Bool), _ resolved: ResolvedRequest, pool: Int
    ) throws -> [Candidate] {
        if plan.blend {
            var merged: [UInt32: Candidate] = [:]
            var best: [UInt32: Float] = [:]
            for (record, weight) in plan.models where weight > 0 {
                try RequestControl.checkCurrent()
                let found = try candidates(from: record, resolved, pool: pool)
                guard let high = found.map(\.score).max(), let low = found.map(\.score).min() else { continue }
                let span = high - low
                for candidate in found {
                    let contribution = weight * (span > 0 ? (candidate.score - low) / span : 1)
                    if var existing = merged[candidate.item] {
                        existing.score += contribution
                        if contribution > best[candidate.item]! {
                            best[candidate.item] = contribution
                            existing.reason = candidate.reason
                            existing.sources = candidate.sources
                        }
                        merged[candidate.item] = existing
                    } else {
                        var blended = candidate
                        blended.score = contribution
                        blended.model = "blend"
                        merged[candidate.item] = blended
                        best[candidate.item] = contribution
                    }
                }
            }
            return merged.values.sorted { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        }
        var result: [Candidate] = []
        var taken = Set<UInt32>()
        for (record, _) in plan.models {
            guard result.count < pool else { break }
            try RequestControl.checkCurrent()
            for candidate in try candidates(from: record, resolved, pool: pool) where !taken.contains(candidate.item) {
                taken.insert(candidate.item)
                result.append(candidate)
                if result.count >= pool { break }
            }
        }
        return result
    }

    /// One model's best `pool` candidates that the request accepts, best first; none for a kind this process does
    /// not know.
    func candidates(from record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard let kind = ModelRegistry.implementation(of: record.kind) else { return [] }
        return try kind.candidates(record, resolved, pool: pool, in: self)
    }

    /// The search's allowed set: the filter, minus exclusions when there are many of them.
    func searchSet(_ resolved: ResolvedRequest) -> (allowed: AllowedSet?, extra: Int) {
        guard resolved.excluded.count > 64 else { return (resolved.allowed, resolved.excluded.count) }
        var allowed = resolved.allowed ?? AllowedSet(0..<UInt32(resolved.itemLimit))
        for item in resolved.excluded { allowed.remove(item) }
        return (allowed, 0)
    }

    func searchSpace(
        _ space: String, _ query: [Float], _ resolved: ResolvedRequest, pool: Int, kind: VectorKind = .items
    ) throws -> [VectorMatch] {
        let ef = resolved.request.search.ef, rerank = resolved.request.search.rerank
        if kind == .users { return try nearest(in: space, to: query, k: pool, ef: ef, rerank: rerank, kind: .users) }
        let (allowed, extra) = searchSet(resolved)
        if let allowed, allowed.count == 0 { return [] }
        return try nearest(in: space, to: query, k: pool + extra, ef: ef, rerank: rerank, allowed: allowed)
            .filter { resolved.accepts($0.node) }
    }

    func storedVector(_ space: EmbeddingSpace, _ kind: VectorKind, _ node: UInt32) throws -> [Float]? {
        try storedVector(of: node, kind, in: space)
    }

    /// The items that stand for the target: the user's recent history (newest first, distinct:
    /// ``UserHistory/recentItems(_:limit:)``, which evaluation uses too), or the source items.
    func sourceItems(_ resolved: ResolvedRequest, limit: Int = UserHistory.sourceLimit) -> [UInt32] {
        if !resolved.sourceItems.isEmpty { return resolved.sourceItems }
        return UserHistory.recentItems(resolved.history, limit: limit)
    }

    /// The `pool` best of `ranked` (sorted here) whose items still exist.
    func bestLive(_ ranked: [Candidate], pool: Int) throws -> [Candidate] {
        let sorted = ranked.sorted { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        var result: [Candidate] = []
        for candidate in sorted where try schema.items.contains(candidate.item, in: txn) {
            result.append(candidate)
            if result.count >= pool { break }
        }
        return result
    }
}
