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

/// How ``CatalogReading/recommend(_:)`` ranks: in blocks of ``block`` results, each block from pools of twice as
/// many candidates per model. A page of up to ``block`` results comes from the first block alone, which is what
/// evaluation replays for blends and chains (``BlendModel``, ``FallbackChainModel``).
public enum RankingBlocks {
    /// Results per block.
    public static let block = 25
    /// The candidates each model gives for the first block.
    public static let firstPool = 2 * block
}

/// A scored candidate before ranking: which model found it and which source items drove it.
struct Candidate {
    var item: UInt32
    var score: Float
    var model: String
    var reason: Provenance.Reason
    /// Internal ids of the items that drove it, most influential first (may be filled in later).
    var sources: [UInt32] = []
    var neighbours = 0
    /// The fallback model that filled a page the requested models left short (nil for their own candidates).
    var filledBy: String?
}

/// A request resolved against the snapshot: internal ids, the exclusions and the allowed set.
struct ResolvedRequest {
    var request: RecommendRequest
    var userID: UInt32?
    /// The user's recent history, newest first.
    var history: [HistoryEntry] = []
    /// The items that stand for the target: the visit or basket in time order, or the one item.
    var sourceItems: [UInt32] = []
    var sourceReason: Provenance.Reason = .history
    var excluded = Set<UInt32>()
    var allowed: AllowedSet?
    var itemLimit = 0
    /// Whether results are users (users for an item).
    var returnsUsers = false
    /// A user's own description of their interests (the `about` attribute), for users without history.
    var about: String?
    /// Model outputs computed before the transaction; nil runs the models where they are needed (inside it).
    var inputs: ModelInputs?

    /// The MiniLM vector of `text`: from ``inputs`` when given (``ModelInputs/Missing`` when absent), else encoded.
    func textVector(_ text: String) throws -> [Float] {
        if let inputs { return try inputs.textVector(text) }
        return try SharedTextEncoder.encode(text)
    }

    /// The vector of the profile read from a self-description, as ``textVector(_:)`` finds it.
    func profileVector(about: String) throws -> [Float] {
        if let inputs { return try inputs.profileVector(about: about) }
        return try SharedTextEncoder.encode(ProfileReader.profileText(about: about))
    }

    func accepts(_ node: UInt32) -> Bool {
        if returnsUsers { return true }
        return !excluded.contains(node) && (allowed?.contains(node) ?? true)
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
                } else if let item = try item(internalID: candidate.item) {
                    result.id = item.id
                    result.title = item.title
                }
                return result
            }
        }
        return try page.map { candidate in
            try RequestControl.checkCurrent()
            return try explain(candidate, resolved)
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

    /// One model's best `pool` candidates that the request accepts, best first.
    func candidates(from record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        switch record.kind {
        case "als", "bpr": return try factorCandidates(record, resolved, pool: pool)
        case "itemknn": return try neighbourCandidates(record, resolved, pool: pool)
        case "session", "transition": return try sessionCandidates(record, resolved, pool: pool)
        case "content", "text": return try contentCandidates(record, resolved, pool: pool)
        case "popularity": return try popularityCandidates(record, resolved, pool: pool)
        default: return []
        }
    }

    /// The search's allowed set: the filter, minus exclusions when there are many of them.
    private func searchSet(_ resolved: ResolvedRequest) -> (allowed: AllowedSet?, extra: Int) {
        guard resolved.excluded.count > 64 else { return (resolved.allowed, resolved.excluded.count) }
        var allowed = resolved.allowed ?? AllowedSet(0..<UInt32(resolved.itemLimit))
        for item in resolved.excluded { allowed.remove(item) }
        return (allowed, 0)
    }

    private func searchSpace(
        _ space: String, _ query: [Float], _ resolved: ResolvedRequest, pool: Int, kind: VectorKind = .items
    ) throws -> [VectorMatch] {
        if kind == .users { return try nearest(in: space, to: query, k: pool, kind: .users) }
        let (allowed, extra) = searchSet(resolved)
        if let allowed, allowed.count == 0 { return [] }
        return try nearest(in: space, to: query, k: pool + extra, allowed: allowed).filter { resolved.accepts($0.node) }
    }

    func factorCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard let spaceName = record.space, let space = try space(spaceName) else { return [] }
        let query: [Float]?
        switch resolved.request.target {
        case .similarTo, .usersForItem:
            query = try storedVector(space, .items, resolved.sourceItems[0])
        case .user:
            query = try userVector(record, space, resolved)
        case .session, .items:
            query = try foldIn(record, space, resolved.sourceItems.map { ($0, Float(1)) })
        case .matching:
            query = nil
        }
        guard var query else { return [] }
        if resolved.returnsUsers, record.kind == "bpr" { query[query.count - 1] = 0 }
        let matches = try searchSpace(spaceName, query, resolved, pool: pool, kind: resolved.returnsUsers ? .users : .items)
        let reason: Provenance.Reason = resolved.returnsUsers ? .audience : resolved.sourceReason
        return matches.prefix(pool).map { Candidate(item: $0.node, score: $0.score, model: record.name, reason: reason) }
    }

    func storedVector(_ space: EmbeddingSpace, _ kind: VectorKind, _ node: UInt32) throws -> [Float]? {
        try storedVector(of: node, kind, in: space)
    }

    /// The user's vector: stored by the last refresh, or folded in from the current history when the user has
    /// events since (or none was stored).
    func userVector(_ record: ModelRecord, _ space: EmbeddingSpace, _ resolved: ResolvedRequest) throws -> [Float]? {
        guard let user = resolved.userID else { return nil }
        let newest = resolved.history.first?.sequence ?? 0
        if let trainedThrough = record.lastEventSequence, newest <= trainedThrough,
            let stored = try storedVector(space, .users, user)
        {
            return stored
        }
        guard !resolved.history.isEmpty else { return nil }
        var weights: [UInt32: Float] = [:]
        for entry in resolved.history {
            weights[entry.itemID, default: 0] += try eventWeight(sequence: entry.sequence)
        }
        return try foldIn(record, space, weights.map { ($0.key, $0.value) })
    }

    func eventWeight(sequence: UInt64) throws -> Float {
        guard let record = try schema.events.withValue(sequence, in: txn, { try EventRecord($0) }),
            let type = try eventTypes.type(code: record.typeCode)
        else { return 1 }
        return Float(type.weight(forValue: record.value))
    }

    /// Solves a user vector for the given items and weights against the model's item factors.
    func foldIn(_ record: ModelRecord, _ space: EmbeddingSpace, _ items: [(UInt32, Float)]) throws -> [Float]? {
        let gram = try foldInGram(record)
        let dimension = space.dimension
        let solved = record.kind == "bpr" ? dimension - 1 : dimension
        var history: [(vector: [Float], weight: Float)] = []
        for (item, weight) in items {
            if let vector = try storedVector(space, .items, item) { history.append((vector, weight)) }
        }
        let alpha = Float(record.parameters["alpha"] ?? 1), regularization = Float(record.parameters["regularization"] ?? 0.01)
        return FoldIn.solve(
            history: history, gram: gram, dimension: dimension, solved: solved,
            regularization: max(regularization, 1e-3), alpha: record.kind == "bpr" ? 1 : alpha)
    }

    /// The items that stand for the target: the user's recent history (newest first, distinct:
    /// ``UserHistory/recentItems(_:limit:)``, which evaluation uses too), or the source items.
    func sourceItems(_ resolved: ResolvedRequest, limit: Int = UserHistory.sourceLimit) -> [UInt32] {
        if !resolved.sourceItems.isEmpty { return resolved.sourceItems }
        return UserHistory.recentItems(resolved.history, limit: limit)
    }

    func neighbourCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        let lists = try neighbourListSource(record)
        var scores: [UInt32: (score: Float, source: UInt32, best: Float)] = [:]
        for source in sourceItems(resolved) {
            try forEachNeighbour(of: source, in: lists) { item, similarity in
                guard resolved.accepts(item) else { return }
                var entry = scores[item] ?? (0, source, 0)
                entry.score += similarity
                if similarity > entry.best { entry.source = source; entry.best = similarity }
                scores[item] = entry
            }
        }
        let ranked = scores.map {
            Candidate(item: $0.key, score: $0.value.score, model: record.name, reason: resolved.sourceReason, sources: [$0.value.source])
        }
        return try bestLive(ranked, pool: pool)
    }

    func sessionCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        let visit = visit(resolved)
        guard !visit.isEmpty else { return [] }
        let model = try sessionModel(record)
        let limit = max(resolved.itemLimit, 1)
        var scores = [Float](repeating: 0, count: limit)
        let neighbours = scores.withUnsafeMutableBufferPointer { model.scoreNext(after: visit, into: $0) }
        var ranked: [Candidate] = []
        for (index, score) in scores.enumerated() where score > 0 && resolved.accepts(UInt32(index)) {
            ranked.append(
                Candidate(
                    item: UInt32(index), score: score, model: record.name, reason: .session, sources: [visit.last!],
                    neighbours: neighbours.count))
        }
        return try bestLive(ranked, pool: pool)
    }

    /// The `pool` best of `ranked` (sorted here) whose items still exist.
    private func bestLive(_ ranked: [Candidate], pool: Int) throws -> [Candidate] {
        let sorted = ranked.sorted { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        var result: [Candidate] = []
        for candidate in sorted where try schema.items.contains(candidate.item, in: txn) {
            result.append(candidate)
            if result.count >= pool { break }
        }
        return result
    }

    /// Candidates of a model that describes items by vectors (content, text): items like the profile of the
    /// source items (a user's recent items, the visit, the basket, the item), or like the phrase for MATCHING.
    func contentCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        guard let spaceName = record.space, let space = try space(spaceName) else { return [] }
        if case .matching(let phrase) = resolved.request.target {
            let query: [Float]?
            if record.kind == "text" {
                query = try resolved.textVector(phrase)
            } else {
                query = try contentProjection(record).vector(forText: phrase)
            }
            guard let query else { return [] }
            return try searchSpace(spaceName, query, resolved, pool: pool).map {
                Candidate(item: $0.node, score: $0.score, model: record.name, reason: .matching)
            }
        }
        if record.kind == "text", let about = resolved.about {
            // A user with no events who described themselves: their words (and the interests read in them).
            let query = try resolved.profileVector(about: about)
            return try searchSpace(spaceName, query, resolved, pool: pool).map {
                Candidate(item: $0.node, score: $0.score, model: record.name, reason: .profile)
            }
        }
        // Recent items count more for a user (1, 1/2, 1/3 … newest first): the profile evaluation scores with.
        let profile = try ItemVectorProfile.profile(
            of: sourceItems(resolved, limit: UserHistory.profileLimit), recencyWeighted: resolved.sourceItems.isEmpty,
            dimension: space.dimension) { item in try storedVector(space, .items, item) }
        guard let profile else { return [] }
        // At most `pool`, as every model gives (the search returns more when it over-fetches for exclusions).
        let matches = try searchSpace(spaceName, profile, resolved, pool: pool).prefix(pool)
        let reason: Provenance.Reason = resolved.sourceReason == .similarItem ? .similarItem : .content
        return matches.map { Candidate(item: $0.node, score: $0.score, model: record.name, reason: reason) }
    }

    func popularityCandidates(_ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int) throws -> [Candidate] {
        let ranking = try popularityRanking(record)
        var result: [Candidate] = []
        if let allowed = resolved.allowed, allowed.count * 8 < ranking.count {
            // A narrow filter: rank its items by popularity instead of walking the whole ranking.
            let scores = try popularityScores(record)
            var scored: [(UInt32, Float)] = []
            allowed.forEach { item in
                if Int(item) < scores.count, scores[Int(item)] > 0, resolved.accepts(item) { scored.append((item, scores[Int(item)])) }
            }
            scored.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            for (item, score) in scored.prefix(pool) {
                result.append(Candidate(item: item, score: score, model: record.name, reason: .popularity))
            }
            return result
        }
        for (item, score) in ranking where resolved.accepts(item) {
            guard try schema.items.contains(item, in: txn) else { continue }
            result.append(Candidate(item: item, score: score, model: record.name, reason: .popularity))
            if result.count >= pool { break }
        }
        return result
    }

    /// Items by decayed popularity, best first, once per generation.
    func popularityRanking(_ record: ModelRecord) throws -> [(UInt32, Float)] {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "ranking") {
            let scores = try popularityScores(record)
            var ranking: [(UInt32, Float)] = []
            for (index, score) in scores.enumerated() where score > 0 { ranking.append((UInt32(index), score)) }
            ranking.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            return ranking
        }
    }

    /// Decayed popularity per item id, once per generation.
    func popularityScores(_ record: ModelRecord) throws -> [Float] {
        try database.modelCache.value(model: record.name, generation: record.generation, part: "scores") {
            try modelFloats(record, part: ModelSchema.popularityPart)
        }
    }
}
