import Foundation

/// What RecDB knows about one recommended item that a generated sentence may say: each fact a typed value read from
/// the catalog in the request's read transaction. A generated explanation may claim these and nothing else
/// (``FaithfulnessCheck`` counts its claims against them).
public struct ExplanationFacts: Sendable, Hashable {
    /// The explanation kind, which picks the prompt: the evidence behind the result.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The user's own history, through a collaborative model (ALS, item-kNN, SASRec, …).
        case collaborative
        /// Likeness of text and category to an item the user chose, or to the item asked about.
        case content
        /// The current visit or basket: what shoppers choose next or together.
        case session
        /// What many shoppers choose, optionally in one category.
        case popularity
        /// The item's text matches the phrase searched for.
        case textMatch = "text_match"
    }

    /// How the item's price compares with what the user usually pays (median price of their history).
    public enum PriceComparison: String, Sendable, Hashable {
        /// At most 80 % of the usual price.
        case cheaper
        /// Within 80–125 % of it.
        case similar
        /// At least 125 % of it.
        case pricier
    }

    /// Whether the item is chosen more in the last 30 days before the shop's newest event than in the 30 before.
    public enum Trend: String, Sendable, Hashable {
        /// At least 1.5 times as many events, and at least 5.
        case rising
        /// Neither rising nor falling.
        case steady
        /// At most two thirds as many events.
        case falling

        /// Rising, steady or falling: events in the 30 days before `now` against the 30 days before those; nil below
        /// 5 events in the two windows together.
        static func of(_ times: [Int64], now: Int64) -> Trend? {
            let day: Int64 = 86_400_000
            let recent = times.filter { $0 > now - 30 * day }.count
            let before = times.filter { $0 > now - 60 * day && $0 <= now - 30 * day }.count
            guard recent + before >= 5 else { return nil }
            if recent >= 5 && Double(recent) >= 1.5 * Double(before) { return .rising }
            if Double(recent) <= Double(before) * 2 / 3 { return .falling }
            return .steady
        }
    }

    /// The item the reason rests on, as the catalog names it.
    public struct Source: Sendable, Hashable {
        /// The source item's external id.
        public var id: String
        /// Its title, else its id.
        public var name: String
        /// The user's event with it that counted (`purchase`, `view`, `cart`, …); nil when the source is not the
        /// user's own (a similar item, a search).
        public var event: String?
        /// Whole days between that event and the shop's newest event (the shop's "now"); nil when unknown.
        public var daysAgo: Int?
        /// Whether it is the newest item in the user's history.
        public var isLatest: Bool
    }

    /// The explanation kind.
    public var kind: Kind
    /// The recommended item's title (else its id).
    public var item: String
    /// The item the reason rests on; nil for popularity and text matches.
    public var source: Source?
    /// The category (first path level) that the item and its source share, or the item's own for popularity.
    public var category: String?
    /// The brand that the item and its source share.
    public var brand: String?
    /// Shoppers who chose both the item and its source (at least 2), when counted.
    public var coChosenBy: Int?
    /// The item's price against the user's usual price, when both are known.
    public var price: PriceComparison?
    /// The item's popularity trend, when it has enough events to say.
    public var trend: Trend?
    /// For text matches: the phrase searched for.
    public var phrase: String?

    /// The placeholders a sentence about these facts may use, each with the text RecDB puts in its place.
    public var slots: [ExplanationSlot: String] {
        var slots: [ExplanationSlot: String] = [.item: item]
        if let source { slots[.source] = source.name }
        if let category { slots[.category] = category }
        if let brand { slots[.brand] = brand }
        if let coChosenBy { slots[.count] = String(coChosenBy) }
        if let phrase { slots[.phrase] = phrase }
        return slots
    }

    /// The verb of the source event ("bought", "viewed", "added"), when the user had one.
    var sourceVerb: String? {
        guard let event = source?.event else { return nil }
        return Explanation.verbPutsItemFirst(event) ? "added" : Explanation.verb(for: event)
    }
}

/// A placeholder of a generated sentence, filled by RecDB from ``ExplanationFacts`` (the model never spells it).
public enum ExplanationSlot: String, Sendable, Hashable, CaseIterable {
    /// The source item's title.
    case source = "SOURCE"
    /// The recommended item's title.
    case item = "ITEM"
    /// The shared category.
    case category = "CATEGORY"
    /// The shared brand.
    case brand = "BRAND"
    /// How many shoppers chose both.
    case count = "COUNT"
    /// The phrase searched for.
    case phrase = "PHRASE"

    /// How the placeholder is written in prompts and in the model's output: `[SOURCE]`.
    public var marker: String { "[\(rawValue)]" }
}

extension CatalogReading where Self: ~Copyable {
    /// The facts of each result of a page for `target` (nil for results that are users or have nothing to explain).
    /// Reads item records, the user's history and the events of the items and their sources; item event lists
    /// longer than `eventScanLimit` are not counted (no co-choice or trend for them).
    func explanationFacts(
        for results: [Recommendation], target: RecommendRequest.Target?, eventScanLimit: Int = 50_000
    ) throws -> [ExplanationFacts?] {
        var now: Int64?
        let last = try lastEventSequence()
        if last > 0 { now = try event(sequence: last)?.timestamp.milliseconds }
        var history: [HistoryEntry] = []
        if case .user(let id)? = target, let user = try userID(for: id) {
            history = try self.history(ofUserID: user, limit: 500, newestFirst: true)
        }
        var usualPrice: Double?
        if !history.isEmpty {
            var prices: [Double] = []
            for itemID in Set(history.prefix(200).map(\.itemID)) {
                if let price = try item(internalID: itemID)?.price { prices.append(price) }
            }
            if !prices.isEmpty { usualPrice = prices.sorted()[prices.count / 2] }
        }
        var facts: [ExplanationFacts?] = []
        for result in results {
            facts.append(try explanationFacts(for: result, history: history, usualPrice: usualPrice, now: now,
                                              eventScanLimit: eventScanLimit))
        }
        return facts
    }

    private func explanationFacts(
        for result: Recommendation, history: [HistoryEntry], usualPrice: Double?, now: Int64?, eventScanLimit: Int
    ) throws -> ExplanationFacts? {
        let provenance = result.provenance
        let kind: ExplanationFacts.Kind
        switch provenance.reason {
        case .history: kind = result.model == ModelKind.content.rawValue ? .content : .collaborative
        case .content, .similarItem: kind = .content
        case .session, .basket: kind = .session
        case .popularity: kind = .popularity
        case .matching: kind = .textMatch
        case .audience, .profile: return nil
        }
        let record = try item(internalID: result.internalID)
        var facts = ExplanationFacts(kind: kind, item: result.title ?? result.id)
        if kind == .textMatch { facts.phrase = provenance.phrase }
        if let usualPrice, usualPrice > 0, let price = record?.price {
            let ratio = price / usualPrice
            facts.price = ratio <= 0.8 ? .cheaper : ratio >= 1.25 ? .pricier : .similar
        }
        let itemEvents = try eventCount(ofItemID: result.internalID) <= eventScanLimit
            ? try events(ofItemID: result.internalID) : []
        if let now, !itemEvents.isEmpty { facts.trend = ExplanationFacts.Trend.of(itemEvents.map(\.timestamp.milliseconds), now: now) }
        let topCategory = { (item: Item?) in item?.category?.split(separator: "/").first.map(String.init) }
        guard let first = provenance.items.first, kind != .popularity, kind != .textMatch else {
            if kind == .popularity { facts.category = provenance.category ?? topCategory(record) }
            return facts
        }
        var source = ExplanationFacts.Source(id: first.id, name: first.title ?? first.id, event: first.eventType,
                                             daysAgo: nil, isLatest: false)
        guard let sourceID = try itemID(for: first.id) else { return facts }
        if let entry = history.first(where: { $0.itemID == sourceID }) {
            if let now { source.daysAgo = Int(max(0, now - entry.timestamp.milliseconds) / 86_400_000) }
            source.isLatest = history.first?.itemID == sourceID
        }
        facts.source = source
        let sourceRecord = try item(internalID: sourceID)
        if let category = topCategory(record), category == topCategory(sourceRecord) { facts.category = category }
        if case .string(let brand)? = record?.attributes["brand"], case .string(let other)? = sourceRecord?.attributes["brand"],
            !brand.isEmpty, brand.caseInsensitiveCompare(other) == .orderedSame
        {
            facts.brand = brand
        }
        if !itemEvents.isEmpty, try eventCount(ofItemID: sourceID) <= eventScanLimit {
            let users = Set(itemEvents.map(\.userID))
            let both = Set(try events(ofItemID: sourceID).map(\.userID).filter(users.contains)).count
            if both >= 2 { facts.coChosenBy = both }
        }
        return facts
    }
}

extension ExplanationFacts {
    /// The facts in the wire form (`"facts": {"kind", "item", "source"?: {…}, "category"?, …}`).
    var wireValue: QueryValue {
        var members: [String: QueryValue] = ["kind": .string(kind.rawValue), "item": .string(item)]
        if let source {
            var value: [String: QueryValue] = ["id": .string(source.id), "name": .string(source.name),
                                               "is_latest": .bool(source.isLatest)]
            if let event = source.event { value["event"] = .string(event) }
            if let days = source.daysAgo { value["days_ago"] = .number(Double(days)) }
            members["source"] = .object(value)
        }
        if let category { members["category"] = .string(category) }
        if let brand { members["brand"] = .string(brand) }
        if let coChosenBy { members["co_chosen_by"] = .number(Double(coChosenBy)) }
        if let price { members["price_vs_usual"] = .string(price.rawValue) }
        if let trend { members["trend"] = .string(trend.rawValue) }
        if let phrase { members["phrase"] = .string(phrase) }
        return .object(members)
    }
}

extension ExplanationFacts {
    /// A fact value without its own closing full stop ("WHITE HEART." → "WHITE HEART"), or nil when it has none: a
    /// sentence drops that stop before its own comma or full stop (``ExplanationGenerator/fill(_:facts:)``), and the
    /// faithfulness check accepts the value either way.
    static func withoutClosingFullStop(_ value: String) -> String? {
        value.hasSuffix(".") && value.count > 1 ? String(value.dropLast()) : nil
    }
}
