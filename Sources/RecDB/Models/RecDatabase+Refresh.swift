import Foundation

// Model refresh: train from a snapshot, write a new generation beside the active one, switch in one transaction,
// drop what no generation uses.

extension RecDatabase {
    /// Trains `spec` from one read snapshot and makes the result the model's active generation.
    ///
    /// The new generation is written in chunked write transactions while the current one keeps serving; then one
    /// small transaction switches the model to it. Readers that began before the switch finish on the old
    /// generation (an LMDB snapshot), whose data is deleted afterwards. A crash at any point leaves the old
    /// generation active; what the new one had written is removed at the next open.
    ///
    /// One refresh of a model runs at a time. In this process a second one (another thread, recd's scheduler beside
    /// an admin `REFRESH`, another ``RecDatabase`` opened on the same folder) does not wait: it fails at once with
    /// ``RecDBError/Code/busy``, naming the model and the job that runs (`refresh:NAME`); so does a refresh while
    /// another live process refreshes the model. The generation number is reserved in the write transaction that
    /// takes the job's lease (one past the active generation, read there, not from an older snapshot), and only the
    /// refresh that took the lease releases it.
    ///
    /// Kinds that train in epochs (SASRec) report each epoch to `onEpoch` (loss, validation NDCG@10, ETA) and, as a
    /// line, to `progress`.
    @discardableResult
    public func refresh(
        _ spec: ModelSpec, threads: Int = 2, progress: (@Sendable (String) -> Void)? = nil,
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)? = nil
    ) throws -> RefreshReport {
        let spec = try composedSpec(spec, forRefresh: true)
        try spec.stored?.validateParameters()
        return try withJob(Self.refreshJob(spec.name), start: { w in (try w.model(spec.name)?.generation ?? 0) + 1 }) {
            job, generation in
            try refreshHoldingLease(
                spec, generation: generation, job: job, threads: threads, progress: progress, onEpoch: onEpoch)
        }
    }

    /// Writes generation `generation` of `spec`'s model and switches to it, holding the refresh job's lease: trains
    /// on the snapshot, or, given `supplied`, takes a model trained elsewhere (``SuppliedModel``) instead.
    func refreshHoldingLease(
        _ spec: ModelSpec, generation: UInt32, job: JobTicket, threads: Int, progress: (@Sendable (String) -> Void)?,
        onEpoch: (@Sendable (TrainingEpochReport) -> Void)?, supplied: SuppliedModel? = nil
    ) throws -> RefreshReport {
        let started = Date()
        let name = spec.name
        guard let stored = spec.stored else {
            throw RecDBError(
                .invalidArgument, "'\(name)' is combined at query time from its parts; refresh each part instead")
        }
        try spec.requireTextEncoder()
        progress?("reading the snapshot")
        let (log, previous, items, lastSequence, suppliedModel, textVectors) = try read {
            r -> (InteractionLog, ModelRecord?, [Item], UInt64, (any Recommender)?, StoredTextVectors?) in
            // A model trained elsewhere resolves its ids in this snapshot and needs no interaction log.
            if let supplied { return (InteractionLog(), try r.model(name), [], 0, try supplied.make(r), nil) }
            var items: [Item] = []
            if spec.needsItems {
                try r.forEachItem { item in
                    items.append(item)
                    return .next
                }
            }
            // HyGenRec retrains a text component on its validation part: the stored vectors spare the encoder.
            let textVectors = spec.kind == .hygenrec ? try r.storedTextVectors(of: items) : nil
            return (try r.interactionLog(), try r.model(name), items, try r.lastEventSequence(), nil, textVectors)
        }
        if supplied == nil { try spec.checkTrainable(on: log) }
        guard (previous?.generation ?? 0) + 1 == generation else {
            // Another refresh switched the model after this one reserved its generation: the job guard failed.
            throw RecDBError(
                .busy, "model '\(name)' moved to generation \(previous?.generation ?? 0) while refresh \(generation) began")
        }
        let model: any Recommender
        let trainingSeconds: Double
        if let supplied, let suppliedModel {
            model = suppliedModel
            trainingSeconds = supplied.trainingSeconds
        } else {
            progress?("training \(name) on \(spec.needsItems ? "\(items.count) items" : "\(log.count) interactions")")
            let trainStarted = Date()
            model = spec.train(
                on: log, threads: threads, items: items, sessionGap: sessionGap, textVectors: textVectors,
                progress: { fraction in progress?(String(format: "training %@ %3.0f%%", name, fraction * 100)) },
                onEpoch: { report in
                    progress?("training \(name) " + report.line)
                    onEpoch?(report)
                })
            trainingSeconds = Date().timeIntervalSince(trainStarted)
        }
        var record = ModelRecord(
            name: name, kind: spec.kind, parameters: spec.parameterTable, generation: generation, space: nil,
            trainedAt: Timestamp.now.description, trainingSeconds: trainingSeconds,
            events: supplied?.events ?? log.count, lastEvaluation: previous?.lastEvaluation)
        record.lastEventSequence = supplied == nil ? lastSequence : supplied?.lastEventSequence
        progress?("writing generation \(generation)")
        var writer = GenerationWriter(database: self, model: name, generation: generation, threads: threads)
        try stored.write(model, to: &writer)
        record.space = writer.space
        let vectorsForNewItems = stored.vectorsForNewItems(model)
        progress?("switching to generation \(generation)")
        let recordBytes = try JSONEncoder().encode(record)
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            let current = try w.model(name)
            guard (current?.generation ?? 0) + 1 == generation else {
                throw RecDBError(.busy, "another refresh of '\(name)' finished first; this one is discarded")
            }
            // Items upserted while the model trained get their vectors now.
            if let vectorsForNewItems, let space = record.space {
                try w.addMissingItemVectors(space: space, vectorsForNewItems)
            }
            try modelSchema.models.put(name, Array(recordBytes), in: &txn)
        }
        try removeStaleModelData(of: name, except: job)
        return RefreshReport(record: record, seconds: Date().timeIntervalSince(started))
    }

    /// Deletes spaces and data of `model` (or every model) that belong to no active generation: the generation a
    /// refresh replaced, or what a refresh interrupted by a crash left behind. A model whose refresh runs (in this
    /// process under a claim other than `except`, or in another live process) keeps its partial generation.
    func removeStaleModelData(of model: String? = nil, except job: JobTicket? = nil) throws {
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
            for owner in owners where try isJobRunning(Self.refreshJob(owner), in: r.txn, except: job) {
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
        // Decided again in each deleting transaction: a refresh may have started or switched since the snapshot.
        func stillStale(_ owner: String, _ generation: UInt32, in w: borrowing CatalogWriter) throws -> Bool {
            try w.model(owner)?.generation != generation && !isJobRunning(Self.refreshJob(owner), in: w.txn, except: job)
        }
        for space in staleSpaces {
            guard let at = space.lastIndex(of: "@"), let generation = UInt32(space[space.index(after: at)...]) else { continue }
            try dropSpace(space, if: { w in try stillStale(String(space[..<at]), generation, in: w) })
        }
        guard !staleKeys.isEmpty else { return }
        try write { w in
            var txn = WriteTransaction(continuing: w.handle)
            for key in staleKeys {
                let (owner, generation) = try key.withUnsafeBytes { raw in
                    var reader = BinaryReader(raw)
                    return (try reader.readString(), try reader.readUInt32())
                }
                if try stillStale(owner, generation, in: w) { try modelSchema.data.delete(key, in: &txn) }
            }
        }
    }
}
