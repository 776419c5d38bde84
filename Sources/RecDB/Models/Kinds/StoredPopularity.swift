import Foundation

/// Time-decayed popularity as a stored kind: a float per item id (part ``ModelPart/popularityScores``), serving
/// every target as the end of its fallback chain.
struct StoredPopularity: StoredModel {
    var halfLifeDays: Double = 30

    static var kind: ModelKind { .popularity }
    static var aliases: [String] { ["pop"] }
    static var storedParameters: [ModelParameter<Self>] { [.double("half_life_days", \.halfLifeDays)] }

    init() {}
    init(halfLifeDays: Double) { self.halfLifeDays = halfLifeDays }

    var tuningGrid: [Self] { [7.0, 30, 90, 365].map { Self(halfLifeDays: $0) } }

    func train(_ input: TrainingInput) -> any Recommender {
        PopularityModel(log: input.log, halfLifeDays: halfLifeDays)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        try Self.writeDecayed(trained, counter: .popularity, halfLifeDays: halfLifeDays, to: &generation)
    }

    /// Writes the generation's scores and turns the live counter on (rebuilt only when new or its half-life changed).
    static func writeDecayed(
        _ trained: any Recommender, counter: ItemHeatCounter, halfLifeDays: Double, to generation: inout GenerationWriter
    ) throws {
        guard let popularity = trained as? PopularityModel else { return }
        try generation.writeFloats(.popularityScores, popularity.scores)
        try generation.database.write { w in try w.enableItemHeat(counter, halfLifeDays: halfLifeDays) }
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? {
        switch target {
        case .user: 70
        case .session, .items, .similarTo: 60
        case .usersForItem, .matching: nil
        }
    }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        // The live counter when there is one (events since the refresh count), else the generation's scores.
        try reader.liveHeatCandidates(.popularity, record, resolved, pool: pool)
            ?? reader.popularityCandidates(record, resolved, pool: pool)
    }
}

/// Trending: time-decayed popularity with a short half-life (default a day), served from its live counter, which
/// every event moves (``ItemHeatSchema``): a burst of purchases shows in the next answer, before any refresh. Not in
/// the fallback chains; name it with `USING trending` (alone or in a blend).
struct StoredTrending: StoredModel {
    var halfLifeDays: Double = 1

    static var kind: ModelKind { .trending }
    static var storedParameters: [ModelParameter<Self>] { [.double("half_life_days", \.halfLifeDays)] }

    init() {}
    init(halfLifeDays: Double) { self.halfLifeDays = halfLifeDays }

    var tuningGrid: [Self] { [0.25, 1, 3, 7].map { Self(halfLifeDays: $0) } }

    func train(_ input: TrainingInput) -> any Recommender {
        PopularityModel(name: ModelKind.trending.rawValue, log: input.log, halfLifeDays: halfLifeDays)
    }

    func write(_ trained: any Recommender, to generation: inout GenerationWriter) throws {
        try StoredPopularity.writeDecayed(trained, counter: .trending, halfLifeDays: halfLifeDays, to: &generation)
    }

    static func chainPosition(for target: RecommendRequest.Target) -> Int? { nil }

    static func candidates<Reader: CatalogReading & ~Copyable>(
        _ record: ModelRecord, _ resolved: ResolvedRequest, pool: Int, in reader: borrowing Reader
    ) throws -> [Candidate] {
        try reader.liveHeatCandidates(.trending, record, resolved, pool: pool)
            ?? reader.popularityCandidates(record, resolved, pool: pool)
    }
}

extension ModelSpec {
    /// Trending: decayed popularity with this (short) half-life, kept live by every event.
    public static func trending(halfLifeDays: Double) -> ModelSpec {
        ModelSpec(StoredTrending(halfLifeDays: halfLifeDays))
    }
}

extension ModelSpec {
    /// Time-decayed popularity with this half-life.
    public static func popularity(halfLifeDays: Double) -> ModelSpec {
        ModelSpec(StoredPopularity(halfLifeDays: halfLifeDays))
    }
}

extension CatalogReading where Self: ~Copyable {
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
            try modelFloats(record, part: .popularityScores)
        }
    }
}
