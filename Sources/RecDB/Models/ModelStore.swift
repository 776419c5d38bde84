import Foundation

/// A trained model as stored: what it is, its active generation and where that generation's data lives.
public struct ModelRecord: Sendable, Codable {
    /// The model's name (`als`, `bpr`, `itemknn`, `popularity`).
    public var name: String
    public var kind: String
    /// Parameters as given, for `recctl models`.
    public var parameters: [String: Double]
    /// The active generation; 0 before the first refresh.
    public var generation: UInt32
    /// For factor models: the embedding space holding this generation's user and item vectors.
    public var space: String?
    public var trainedAt: String
    public var trainingSeconds: Double
    /// Events in the snapshot it trained on.
    public var events: Int
    /// The sequence number of the newest event in that snapshot: a user with later events is folded in at query time.
    public var lastEventSequence: UInt64?
    public var lastEvaluation: EvaluationResult?
}

extension ModelRecord {
    /// The record stored under `name` in `models`, decoded and checked: JSON that does not decode, a name or space
    /// that does not match the key and generation, or a parameter that is not a finite number of sane size is
    /// `corrupted` (parameters become `Int`s and counts, so a flipped exponent must not reach them).
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String? = nil) throws -> ModelRecord {
        let record: ModelRecord
        do {
            record = try JSONDecoder().decode(ModelRecord.self, from: Data(bytes))
        } catch {
            throw RecDBError(
                .corrupted, "model record\(name.map { " '\($0)'" } ?? "") is not a valid record: \(error)",
                cause: error)
        }
        func fail(_ problem: String) -> RecDBError {
            RecDBError(.corrupted, "model record '\(record.name)' generation \(record.generation): \(problem)")
        }
        if let name, record.name != name { throw fail("stored under the key '\(name)'") }
        if let space = record.space, record.generation != 0, space != ModelSchema.spaceName(record.name, record.generation) {
            throw fail("names the space '\(space)'")
        }
        for (key, value) in record.parameters where !(value.isFinite && abs(value) <= Self.parameterLimit) {
            throw fail("parameter \(key) is \(value)")
        }
        guard record.events >= 0, record.trainingSeconds.isFinite else { throw fail("has \(record.events) events") }
        return record
    }

    /// The largest magnitude a stored parameter may have (they are counts, rates and seeds; 2⁵³ keeps `Int` exact).
    static let parameterLimit = Double(1 << 53)

    /// A parameter as a count in `range` (neighbours, factors), or `fallback` when absent; `corrupted` outside.
    func count(_ key: String, in range: ClosedRange<Int>, default fallback: Int) throws -> Int {
        guard let value = parameters[key] else { return fallback }
        guard value == value.rounded(), value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
            throw RecDBError(
                .corrupted, "model record '\(name)' generation \(generation): parameter \(key) is \(value), not in \(range)")
        }
        return Int(value)
    }
}

/// What a refresh did.
public struct RefreshReport: Sendable {
    public var record: ModelRecord
    public var seconds: Double
}

extension ModelSpec {
    var kind: String { name }

    /// The parameters as `name=value` words, for people.
    public var parameterDescription: String {
        parameterTable.sorted { $0.key < $1.key }.map { "\($0.key)=\(AttributeValue.number($0.value))" }
            .joined(separator: " ")
    }

    var parameterTable: [String: Double] {
        /// Floats as people wrote them (0.01, not 0.009999999776482582).
        func d(_ value: Float) -> Double { Double(value.description) ?? Double(value) }
        return switch self {
        case .popularity(let halfLife): ["half_life_days": halfLife]
        case .itemKNN(let neighbours, let similarity):
            ["neighbours": Double(neighbours), "conditional": similarity == .conditionalProbability ? 1 : 0]
        case .als(let p):
            [
                "factors": Double(p.factors), "iterations": Double(p.iterations), "regularization": d(p.regularization),
                "alpha": d(p.alpha), "cg_steps": Double(p.conjugateGradientSteps), "seed": Double(p.seed),
            ]
        case .bpr(let p):
            [
                "factors": Double(p.factors), "iterations": Double(p.iterations), "learning_rate": d(p.learningRate),
                "regularization": d(p.regularization), "seed": Double(p.seed),
            ]
        case .content(let p):
            [
                "dimensions": Double(p.dimensions), "min_document_frequency": Double(p.minDocumentFrequency),
                "stemming": p.stemming ? 1 : 0, "power_iterations": Double(p.powerIterations),
            ]
        case .session(let p):
            [
                "neighbours": Double(p.neighbours), "sample_size": Double(p.sampleSize), "rule_weight": d(p.ruleWeight),
                "rule_steps": Double(p.ruleSteps),
            ]
        case .transition, .text: [:]
        case .blend(_, let weights): Dictionary(uniqueKeysWithValues: weights.enumerated().map { ("weight\($0.offset)", d($0.element)) })
        case .chain: [:]
        }
    }
}

extension ModelSpec {
    /// The spec a stored model was trained with (its kind and recorded parameters), so that evaluating a stored
    /// model evaluates that model, not the defaults. Nil for kinds that are not stored.
    public init?(record: ModelRecord) {
        let p = record.parameters
        func int(_ key: String, _ fallback: Int) -> Int { p[key].map { Int($0) } ?? fallback }
        func float(_ key: String, _ fallback: Float) -> Float { p[key].map { Float($0) } ?? fallback }
        switch record.kind {
        case "popularity": self = .popularity(halfLifeDays: p["half_life_days"] ?? 30)
        case "itemknn":
            self = .itemKNN(neighbours: int("neighbours", 100), similarity: p["conditional"] == 1 ? .conditionalProbability : .cosine)
        case "als":
            var a = ALSModel.Parameters()
            a.factors = int("factors", a.factors)
            a.iterations = int("iterations", a.iterations)
            a.regularization = float("regularization", a.regularization)
            a.alpha = float("alpha", a.alpha)
            a.conjugateGradientSteps = int("cg_steps", a.conjugateGradientSteps)
            a.seed = UInt64(int("seed", Int(a.seed)))
            self = .als(a)
        case "bpr":
            var b = BPRModel.Parameters()
            b.factors = int("factors", b.factors)
            b.iterations = int("iterations", b.iterations)
            b.learningRate = float("learning_rate", b.learningRate)
            b.regularization = float("regularization", b.regularization)
            b.seed = UInt64(int("seed", Int(b.seed)))
            self = .bpr(b)
        case "content":
            var c = ContentModel.Parameters()
            c.dimensions = int("dimensions", c.dimensions)
            c.minDocumentFrequency = int("min_document_frequency", c.minDocumentFrequency)
            c.stemming = p["stemming"].map { $0 != 0 } ?? c.stemming
            c.powerIterations = int("power_iterations", c.powerIterations)
            self = .content(c)
        case "session":
            var s = SessionKNNModel.Parameters()
            s.neighbours = int("neighbours", s.neighbours)
            s.sampleSize = int("sample_size", s.sampleSize)
            s.ruleWeight = float("rule_weight", s.ruleWeight)
            s.ruleSteps = int("rule_steps", s.ruleSteps)
            self = .session(s)
        case "transition": self = .transition
        case "text": self = .text
        default: return nil
        }
    }
}

/// Databases of trained models.
struct ModelSchema: Sendable {
    /// model name → JSON ``ModelRecord``.
    let models: Database<StringCodec, BytesCodec>
    /// (model name, generation, part, index) → model data that is not an embedding space (scores, neighbour lists).
    let data: Database<BytesCodec, BytesCodec>

    init(environment env: Environment) throws {
        models = try env.database("models", key: StringCodec.self, value: BytesCodec.self)
        data = try env.database("model_data", key: BytesCodec.self, value: BytesCodec.self)
    }

    static func dataPrefix(_ model: String, _ generation: UInt32? = nil) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(model)
        if let generation { writer.write(generation) }
        return writer.bytes
    }

    static func dataKey(_ model: String, _ generation: UInt32, part: UInt8, index: UInt32) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(model)
        writer.write(generation)
        writer.write(part)
        writer.write(index)
        return writer.bytes
    }

    static func spaceName(_ model: String, _ generation: UInt32) -> String { "\(model)@\(generation)" }

    // Parts of a generation's model data.
    static let popularityPart: UInt8 = 1
    static let neighboursPart: UInt8 = 2
    static let vocabularyPart: UInt8 = 3
    static let basisPart: UInt8 = 4
    static let gramPart: UInt8 = 5
    static let sessionsPart: UInt8 = 6

    /// Floats per value of a float part (popularity, basis, Gram): the last value of a part holds the rest.
    static let floatsPerValue = 1 << 18
    /// Sessions per value of a session model.
    static let sessionsPerValue = 4096
}

extension RecDatabase {
    /// The stored models.
    public func models() throws -> [ModelRecord] {
        try read { r in
            var records: [ModelRecord] = []
            try modelSchema.models.scanRaw(in: r.txn) { key, value in
                records.append(try ModelRecord.decode(value, name: try StringCodec.decode(key)))
                return .next
            }
            return records
        }
    }

    /// A stored model by name, or nil.
    public func model(_ name: String) throws -> ModelRecord? {
        try read { r in try r.model(name) }
    }

    /// Trains `spec` from one read snapshot and makes the result the model's active generation.
    ///
    /// The new generation is written in chunked write transactions while the current one keeps serving; then one
    /// small transaction switches the model to it. Readers that began before the switch finish on the old
    /// generation (an LMDB snapshot), whose data is deleted afterwards. A crash at any point leaves the old
    /// generation active; what the new one had written is removed at the next open.
    @discardableResult
    public func refresh(
        _ spec: ModelSpec, threads: Int = 2, progress: (@Sendable (String) -> Void)? = nil
    ) throws -> RefreshReport {
        try withJob(Self.refreshJob(spec.name)) { try refreshHoldingLease(spec, threads: threads, progress: progress) }
    }

    private func refreshHoldingLease(_ spec: ModelSpec, threads: Int, progress: (@Sendable (String) -> Void)?) throws
        -> RefreshReport
    {
        let started = Date()
        let name = spec.name
        switch spec {
        case .blend, .chain:
            throw RecDBError(
                .invalidArgument, "'\(name)' is combined at query time from its parts; refresh each part instead")
        default: break
        }
        try spec.requireTextEncoder()
        progress?("reading the snapshot")
        let (log, previous, items, lastSequence) = try read { r -> (InteractionLog, ModelRecord?, [Item], UInt64) in
            var items: [Item] = []
            if spec.needsItems {
                try r.forEachItem { item in
                    items.append(item)
                    return .next
                }
            }
            return (try r.interactionLog(), try r.model(name), items, try r.lastEventSequence())
        }
        progress?("training \(name) on \(spec.needsItems ? "\(items.count) items" : "\(log.count) interactions")")
        let trainStarted = Date()
        let model = spec.train(on: log, threads: threads, items: items, sessionGap: sessionGap) { fraction in
            progress?(String(format: "training %@ %3.0f%%", name, fraction * 100))
        }
        let trainingSeconds = Date().timeIntervalSince(trainStarted)
        let generation = (previous?.generation ?? 0) + 1
        var record = ModelRecord(
            name: name, kind: spec.kind, parameters: spec.parameterTable, generation: generation, space: nil,
            trainedAt: Timestamp.now.description, trainingSeconds: trainingSeconds, events: log.count,
            lastEvaluation: previous?.lastEvaluation)
        record.lastEventSequence = lastSequence
        progress?("writing generation \(generation)")
        switch model {
        case let factors as ALSModel:
            record.space = try writeFactorGeneration(
                name, generation, users: factors.userFactors, items: factors.itemFactors,
                dimension: factors.parameters.factors, log: log, threads: threads)
            try writeData(
                name, generation, part: ModelSchema.gramPart,
                floats: FoldIn.gram(factors.itemFactors, dimension: factors.parameters.factors, solved: factors.parameters.factors))
        case let factors as BPRModel:
            record.space = try writeFactorGeneration(
                name, generation, users: factors.userFactors, items: factors.itemFactors,
                dimension: factors.parameters.factors + 1, log: log, threads: threads)
            try writeData(
                name, generation, part: ModelSchema.gramPart,
                floats: FoldIn.gram(factors.itemFactors, dimension: factors.parameters.factors + 1, solved: factors.parameters.factors))
        case let content as ContentModel:
            record.space = try writeContentGeneration(name, generation, content, threads: threads)
        case let text as TextModel:
            record.space = try writeItemVectors(name, generation, text.itemVectors, dimension: text.dimension)
            try buildIndex(space: record.space!, kind: .items, threads: threads)
        case let session as SessionKNNModel:
            try writeSessions(name, generation, session.log)
        case let transition as TransitionModel:
            try writeSessions(name, generation, transition.log)
        case let popularity as PopularityModel:
            try writeData(name, generation, part: 1, floats: popularity.scores)
        case let knn as ItemKNNModel:
            try writeNeighbourLists(name, generation, knn.lists)
        default:
            break
        }
        progress?("switching to generation \(generation)")
        let recordBytes = try JSONEncoder().encode(record)
        try write { w in
            var txn = WriteTransaction(handle: w.handle)
            let current = try w.model(name)
            guard current?.generation == previous?.generation else {
                throw RecDBError(.alreadyExists, "another refresh of '\(name)' finished first; this one is discarded")
            }
            // Items upserted while the model trained get their vectors now.
            if let content = model as? ContentModel, let space = record.space {
                try w.addMissingItemVectors(space: space) { content.projection.vector(for: $0) }
            }
            if model is TextModel, let space = record.space, let encoder = try? SharedTextEncoder.get() {
                try w.addMissingItemVectors(space: space) { item in
                    let text = TextModel.text(of: item)
                    return text.isEmpty ? nil : encoder.encode(text)
                }
            }
            try modelSchema.models.put(name, Array(recordBytes), in: &txn)
        }
        try removeStaleModelData(of: name)
        return RefreshReport(record: record, seconds: Date().timeIntervalSince(started))
    }

    /// Writes a factor model's vectors into a new embedding space (items and users) and indexes the items.
    private func writeFactorGeneration(
        _ model: String, _ generation: UInt32, users: [Float], items: [Float], dimension: Int, log: InteractionLog,
        threads: Int
    ) throws -> String {
        let spaceName = ModelSchema.spaceName(model, generation)
        if try read({ try $0.space(spaceName) }) != nil { try dropSpace(spaceName) }
        let space = try createSpace(spaceName, dimension: dimension, metric: .innerProduct, forModel: true)
        for (kind, factors) in [(VectorKind.items, items), (VectorKind.users, users)] {
            let rows = factors.count / dimension
            var start = 0
            while start < rows {
                let end = min(rows, start + 10_000)
                try write { w in
                    for row in start..<end {
                        let node = UInt32(row)
                        let exists = kind == .items
                            ? try schema.items.contains(node, in: w.txn) : try schema.users.contains(node, in: w.txn)
                        guard exists else { continue }
                        try w.setVector(
                            Array(factors[row * dimension..<(row + 1) * dimension]), space: space, kind: kind, node: node,
                            owner: "\(kind) #\(row)")
                    }
                }
                start = end
            }
        }
        try buildIndex(space: spaceName, kind: .items, threads: threads)
        return spaceName
    }

    /// Writes a content generation: the item vectors into a cosine space (indexed), the vocabulary and the basis
    /// into model data.
    private func writeContentGeneration(_ model: String, _ generation: UInt32, _ content: ContentModel, threads: Int)
        throws -> String
    {
        let spaceName = try writeItemVectors(model, generation, content.itemVectors, dimension: content.dimension)
        let vocabulary = content.projection.vocabularyBytes
        try environment.write { txn in
            try modelSchema.data.put(
                ModelSchema.dataKey(model, generation, part: ModelSchema.vocabularyPart, index: 0), vocabulary, in: &txn)
        }
        try writeData(model, generation, part: ModelSchema.basisPart, floats: content.projection.basis)
        try buildIndex(space: spaceName, kind: .items, threads: threads)
        return spaceName
    }

    /// Writes row-major item vectors (zero rows skipped) into a new cosine space `MODEL@GENERATION`, in chunks.
    private func writeItemVectors(_ model: String, _ generation: UInt32, _ vectors: [Float], dimension d: Int) throws
        -> String
    {
        let spaceName = ModelSchema.spaceName(model, generation)
        if try read({ try $0.space(spaceName) }) != nil { try dropSpace(spaceName) }
        let space = try createSpace(spaceName, dimension: d, metric: .cosine, forModel: true)
        let rows = vectors.count / max(d, 1)
        var start = 0
        while start < rows {
            let end = min(rows, start + 10_000)
            try write { w in
                for row in start..<end {
                    let vector = Array(vectors[row * d..<(row + 1) * d])
                    guard vector.contains(where: { $0 != 0 }), try schema.items.contains(UInt32(row), in: w.txn) else { continue }
                    try w.setVector(vector, space: space, kind: .items, node: UInt32(row), owner: "item #\(row)")
                }
            }
            start = end
        }
        return spaceName
    }

    /// Writes the training sessions of a session model, 4,096 per value: count, then per session its end time,
    /// item count and items.
    private func writeSessions(_ model: String, _ generation: UInt32, _ log: SessionLog) throws {
        let perChunk = ModelSchema.sessionsPerValue
        var chunk = 0
        repeat {
            let range = (chunk * perChunk)..<min(log.count, (chunk + 1) * perChunk)
            var writer = BinaryWriter()
            writer.write(UInt32(range.count))
            for s in range {
                writer.write(log.ends[s])
                writer.write(UInt32(log.sessions[s].count))
                for item in log.sessions[s] { writer.write(item) }
            }
            let bytes = writer.bytes, index = UInt32(chunk)
            try environment.write { txn in
                try modelSchema.data.put(
                    ModelSchema.dataKey(model, generation, part: ModelSchema.sessionsPart, index: index), bytes, in: &txn)
            }
            chunk += 1
        } while chunk * perChunk < log.count
    }

    private func writeData(_ model: String, _ generation: UInt32, part: UInt8, floats: [Float]) throws {
        let perValue = ModelSchema.floatsPerValue
        var index: UInt32 = 0
        var start = 0
        repeat {
            let end = min(floats.count, start + perValue)
            let bytes = floats[start..<end].withUnsafeBytes { Array($0) }
            try environment.write { txn in
                try modelSchema.data.put(ModelSchema.dataKey(model, generation, part: part, index: index), bytes, in: &txn)
            }
            index += 1
            start = end
        } while start < floats.count
    }

    private func writeNeighbourLists(_ model: String, _ generation: UInt32, _ lists: [[(item: UInt32, similarity: Float)]])
        throws
    {
        let perChunk = 4096
        var chunk = 0
        while chunk * perChunk < max(lists.count, 1) {
            let range = (chunk * perChunk)..<min(lists.count, (chunk + 1) * perChunk)
            var writer = BinaryWriter()
            for i in range {
                writer.write(UInt32(lists[i].count))
                for neighbour in lists[i] {
                    writer.write(neighbour.item)
                    writer.write(neighbour.similarity)
                }
            }
            let bytes = writer.bytes
            let index = UInt32(chunk)
            try environment.write { txn in
                try modelSchema.data.put(ModelSchema.dataKey(model, generation, part: 2, index: index), bytes, in: &txn)
            }
            chunk += 1
        }
    }

    /// Deletes spaces and data of `model` (or every model) that belong to no active generation: the generation a
    /// refresh replaced, or what a refresh interrupted by a crash left behind.
    func removeStaleModelData(of model: String? = nil) throws {
        // Look in a read transaction first: opening a database must not wait for another process's writer.
        let (staleSpaces, staleKeys) = try read { r -> ([String], [[UInt8]]) in
            var active: [String: UInt32] = [:]
            try modelSchema.models.scanRaw(in: r.txn) { key, value in
                let record = try ModelRecord.decode(value, name: try StringCodec.decode(key))
                active[record.name] = record.generation
                return .next
            }
            // Owners whose refresh is running in a live process keep their partial generation.
            var busy = Set<String>()
            var owners = Set(active.keys)
            try vectorSchema.spaces.scanRaw(in: r.txn) { key, _ in
                let name = try StringCodec.decode(key)
                if let at = name.lastIndex(of: "@") { owners.insert(String(name[..<at])) }
                return .next
            }
            for owner in owners where try isJobRunningElsewhere(Self.refreshJob(owner), in: r.txn) {
                busy.insert(owner)
            }
            let isStale = { (owner: String, generation: UInt32) -> Bool in
                (model == nil || owner == model) && active[owner] != generation && !busy.contains(owner)
            }
            var spaces: [String] = []
            try vectorSchema.spaces.scanRaw(in: r.txn) { key, _ in
                let name = try StringCodec.decode(key)
                if let at = name.lastIndex(of: "@"), let generation = UInt32(name[name.index(after: at)...]),
                    isStale(String(name[..<at]), generation)
                {
                    spaces.append(name)
                }
                return .next
            }
            var keys: [[UInt8]] = []
            try modelSchema.data.scanRaw(in: r.txn) { key, _ in
                var reader = BinaryReader(key)
                let owner = try reader.readString(), generation = try reader.readUInt32()
                if isStale(owner, generation) { keys.append(Array(key)) }
                return .next
            }
            return (spaces, keys)
        }
        for space in staleSpaces { try dropSpace(space) }
        guard !staleKeys.isEmpty else { return }
        try environment.write { txn in
            for key in staleKeys { try modelSchema.data.delete(key, in: &txn) }
        }
    }

    /// Stores an evaluation result on the model's record (shown by `recctl models`).
    public func recordEvaluation(_ result: EvaluationResult, for name: String) throws {
        try write { w in
            var txn = WriteTransaction(handle: w.handle)
            guard var record = try w.model(name) else { return }
            record.lastEvaluation = result
            try modelSchema.models.put(name, Array(try JSONEncoder().encode(record)), in: &txn)
        }
    }
}

extension CatalogReading where Self: ~Copyable {
    var modelSchema: ModelSchema { database.modelSchema }

    /// An item's stored neighbour list in an item-kNN model generation, most similar first.
    ///
    /// Lists are stored 4,096 items per value, each as a count then (item, similarity) pairs. Every count is checked
    /// against the bytes left and the model's `neighbours` parameter, every neighbour id against the catalog's item
    /// id counter: a mismatch is `corrupted`, naming the model, generation and key.
    func neighbours(of item: UInt32, model record: ModelRecord) throws -> [(item: UInt32, similarity: Float)] {
        let chunk = UInt32(Int(item) / 4096)
        let key = ModelSchema.dataKey(record.name, record.generation, part: ModelSchema.neighboursPart, index: chunk)
        let what = "item-kNN model '\(record.name)' generation \(record.generation), neighbour lists \(chunk)"
        let itemLimit = try CatalogSchemaAccess.idLimit("next.item", handle: handle, meta: schema.meta)
        let capacity = try record.count("neighbours", in: 0...Int(UInt32.max), default: Int(UInt32.max))
        var result: [(item: UInt32, similarity: Float)] = []
        try modelSchema.data.withValue(key, in: txn) { raw in
            var reader = BinaryReader(raw)
            let target = Int(item) % 4096
            for position in 0...target {
                guard !reader.isAtEnd else { return }
                let count = try reader.readCount(
                    elementSize: 8, limit: capacity, "\(what): the list of item #\(Int(chunk) * 4096 + position)")
                if position < target {
                    _ = try reader.skip(count * 8)
                    continue
                }
                result.reserveCapacity(count)
                for _ in 0..<count {
                    let neighbour = try reader.readUInt32(), similarity = try reader.readFloat()
                    guard Int(neighbour) < itemLimit else {
                        throw RecDBError(
                            .corrupted, "\(what): item #\(item) lists item #\(neighbour), past the item limit \(itemLimit)")
                    }
                    result.append((neighbour, similarity))
                }
            }
        }
        return result
    }

    /// Items like the given ones (one item: "similar items"; several: "items for a basket"), from the active
    /// generation of an item-kNN model: their neighbour lists summed, the given items left out.
    public func similarItems(to ids: [String], model name: String = "itemknn", k: Int) throws -> [(item: UInt32, score: Float)] {
        guard let record = try model(name), record.generation > 0, record.kind == "itemknn" else {
            throw RecDBError(.notFound, "item-kNN model '\(name)' has not been trained (run `recctl refresh itemknn`)")
        }
        var scores: [UInt32: Float] = [:]
        var given = Set<UInt32>()
        for id in ids {
            guard let item = try itemID(for: id) else { throw RecDBError(.notFound, "unknown item '\(id)'") }
            given.insert(item)
            for neighbour in try neighbours(of: item, model: record) { scores[neighbour.item, default: 0] += neighbour.similarity }
        }
        var ranked: [(item: UInt32, score: Float)] = []
        for (item, score) in scores where !given.contains(item) {
            if try schema.items.contains(item, in: txn) { ranked.append((item, score)) }
        }
        ranked.sort { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        return Array(ranked.prefix(k))
    }

    /// A stored model by name, as of this snapshot.
    public func model(_ name: String) throws -> ModelRecord? {
        try CatalogLimits.check(name, .modelName)
        return try modelSchema.models.withValue(name, in: txn) { try database.modelCache.record(name, stored: $0) }
    }

    /// The `k` items the active generation of `model` ranks highest for `user`, leaving out items the user has met,
    /// optionally only in `category` (or below it): ``recommend(_:)`` with one model, as scores.
    public func recommend(model name: String, user: String, k: Int, category: String? = nil) throws
        -> [(item: UInt32, score: Float)]
    {
        let request = RecommendRequest(
            .user(user), count: k, models: [ModelWeight(name)], filter: category.map { .category($0) })
        return try recommend(request).map { ($0.internalID, $0.score) }
    }
}
