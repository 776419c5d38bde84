import Foundation

extension CatalogReading where Self: ~Copyable {
    /// Completes a ranked candidate: finds the source items behind it when the model did not say, and renders the
    /// explanation sentence from the provenance. Sentences name only items read from the catalog.
    /// `pageSources` holds, for candidates whose model named no sources, the closest sources found for the whole
    /// page (``closestSources(for:_:)``).
    func explain(_ candidate: Candidate, _ resolved: ResolvedRequest, pageSources: [UInt32: [UInt32]]) throws -> Recommendation {
        var sources = candidate.sources
        if sources.isEmpty { sources = pageSources[candidate.item] ?? [] }
        var provenance = Provenance(reason: candidate.reason, items: [], category: nil, neighbours: candidate.neighbours)
        provenance.filledBy = candidate.filledBy
        if case .matching(let phrase) = resolved.request.target { provenance.phrase = phrase }
        if candidate.reason == .profile { provenance.phrase = resolved.about.map { String($0.prefix(80)) } }
        for source in sources where provenance.items.count < 3 {
            var eventType: String?
            if candidate.reason == .history || candidate.reason == .content, !resolved.history.isEmpty {
                // The newest event with the item that counted in its favour: a returned item is no reason.
                eventType = nil
                for entry in resolved.history where entry.itemID == source {
                    guard let type = try schema.events.withValue(entry.sequence, in: txn, { try EventRecord($0) })
                        .flatMap({ try eventTypes.type(code: $0.typeCode) }), type.weight > 0 || type.usesValue
                    else { continue }
                    eventType = type.name
                    break
                }
                guard eventType != nil else { continue }
            }
            guard let record = try item(internalID: source) else { continue }
            provenance.items.append(.init(id: record.id, title: record.title, eventType: eventType))
        }
        let id: String
        var title: String?
        if resolved.returnsUsers {
            id = try externalUserID(candidate.item) ?? "#\(candidate.item)"
        } else {
            let record = try item(internalID: candidate.item)
            id = record?.id ?? "#\(candidate.item)"
            title = record?.title
            if candidate.reason == .popularity, let path = record?.category {
                provenance.category = path.split(separator: "/").first.map(String.init)
            }
        }
        return Recommendation(
            id: id, internalID: candidate.item, title: title, score: candidate.score, model: candidate.model,
            provenance: provenance, explanation: Explanation.sentence(provenance))
    }

    /// For each candidate of a page whose model named no sources (and whose reason has sources at all), the history
    /// or source items most like it in its model's vectors (or the content model's), best first. The sources'
    /// vectors are read once per model, not once per result.
    func closestSources(for page: [Candidate], _ resolved: ResolvedRequest) throws -> [UInt32: [UInt32]] {
        let wanting = page.filter { $0.sources.isEmpty && ![.popularity, .matching, .profile].contains($0.reason) }
        guard !wanting.isEmpty else { return [:] }
        let sources = sourceItems(resolved, limit: 50)
        guard !sources.isEmpty else { return [:] }
        var result: [UInt32: [UInt32]] = [:]
        for (name, candidates) in Dictionary(grouping: wanting, by: \.model) {
            var spaceRecord = try model(name)
            if spaceRecord?.space == nil || name == "blend" {
                spaceRecord = try model(ModelKind.content.rawValue) ?? model(ModelKind.als.rawValue)
            }
            guard let spaceName = spaceRecord?.space, let space = try space(spaceName) else {
                for candidate in candidates { result[candidate.item] = [sources[0]] }
                continue
            }
            var sourceVectors: [(UInt32, [Float])] = []
            for source in sources {
                if let vector = try storedVector(space, .items, source) { sourceVectors.append((source, vector)) }
            }
            // Recommending users for items: every candidate is measured against the first source item.
            let sharedTarget = try resolved.returnsUsers
                ? resolved.sourceItems.first.flatMap { try storedVector(space, .items, $0) } : nil
            for candidate in candidates {
                let target = try resolved.returnsUsers ? sharedTarget : storedVector(space, .items, candidate.item)
                guard let target, !sourceVectors.isEmpty else {
                    result[candidate.item] = [sources[0]]
                    continue
                }
                let scored = sourceVectors.map { source, vector in
                    var dot: Float = 0
                    for d in 0..<min(vector.count, target.count) { dot += vector[d] * target[d] }
                    return (source, dot)
                }
                result[candidate.item] = scored.sorted { $0.1 > $1.1 }.prefix(6).map(\.0)
            }
        }
        return result
    }
}

/// Renders provenance as a sentence for shoppers. Only names that the provenance carries (read from the catalog)
/// ever appear.
public enum Explanation {
    /// The template sentence for `provenance`, naming its first source item (title, else id) and, for history, a verb
    /// from its event type, e.g. "Because you bought Blue Mug"; a generic sentence when it has no items.
    public static func sentence(_ provenance: Provenance) -> String {
        let first = provenance.items.first
        let name = first.map { $0.title ?? $0.id }
        switch provenance.reason {
        case .history, .content:
            guard let name else { return "Picked for you" }
            let verb = verb(for: first?.eventType)
            if first?.eventType.map(verbPutsItemFirst) == true {
                return provenance.reason == .history
                    ? "Because you added \(name) to your cart" : "Like \(name), which you added to your cart"
            }
            return provenance.reason == .history ? "Because you \(verb) \(name)" : "Like \(name), which you \(verb)"
        case .session:
            return name.map { "Often chosen next after \($0)" } ?? "Often chosen next in a visit like yours"
        case .basket:
            return name.map { "Goes well with \($0)" } ?? "Goes well with your basket"
        case .similarItem:
            return name.map { "Similar to \($0)" } ?? "Similar items"
        case .popularity:
            return provenance.category.map { "Popular in \($0) right now" } ?? "Popular right now"
        case .audience:
            return name.map { "Likes items like \($0)" } ?? "Likely to be interested"
        case .matching:
            return provenance.phrase.map { "Matches “\($0)”" } ?? "Matches your search"
        case .profile:
            return provenance.phrase.map { "For what you told us: “\($0)”" } ?? "For the interests you told us about"
        }
    }

    static func verbPutsItemFirst(_ eventType: String) -> Bool {
        ["cart", "add_to_cart", "addtocart"].contains(eventType)
    }

    static func verb(for eventType: String?) -> String {
        switch eventType {
        case "purchase", "buy", "order": "bought"
        case "view", "click", "detail": "viewed"
        case "rating", "rate", "review": "rated"
        case "like", "favorite", "wishlist": "liked"
        case "return": "returned"
        default: "chose"
        }
    }
}
