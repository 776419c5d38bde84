import Foundation
import RecKernels

/// Next-item metrics over test sessions: for every prefix of every test session, is the next click in the top K
/// (hit rate) and at which rank (MRR) — the protocol of session-rec (Ludewig et al.) for YOOCHOOSE and friends.
public struct SessionEvaluationResult: Sendable, Codable {
    /// The name of the model spec evaluated.
    public var model: String
    /// Cut-off K for both metrics (default 20 in `evaluateSessions`).
    public var k: Int
    /// Test sessions with at least two known items.
    public var sessions = 0
    /// Predictions made (one per prefix).
    public var predictions = 0
    /// Share of predictions whose true next item ranks in the top K; rank is 1 + the items scored strictly higher, and
    /// an item scored 0 or less is a miss. In [0, 1].
    public var hitRate = 0.0
    /// Mean reciprocal rank of the true next item, counting 0 beyond K (MRR@K), over all predictions; in [0, 1].
    public var mrr = 0.0
    /// Wall-clock seconds training the model on the database's sessions took.
    public var trainingSeconds = 0.0
    /// Wall-clock seconds the predictions took (training not included).
    public var seconds = 0.0
}

/// Test sessions read from a file of the session-rec layout: a header with `SessionId`, `ItemId` and `Time`, tab-
/// separated, sorted or not. Items are the catalog's external ids.
public struct SessionTestSet: Sendable {
    /// Sessions in time order of their first click, each a list of external item ids in click order.
    public var sessions: [[String]]

    /// Sessions as given, each a list of external item ids in click order; unknown ids are dropped when evaluating.
    public init(sessions: [[String]]) {
        self.sessions = sessions
    }

    /// Reads the file (gzip allowed).
    public init(path: String) throws {
        let reader = try CSVReader(path: path, delimiter: "\t")
        guard let names = try reader.nextRow() else { throw RecDBError(.malformedInput, "empty file", location: path) }
        guard let session = names.firstIndex(of: "SessionId"), let item = names.firstIndex(of: "ItemId"),
            let time = names.firstIndex(of: "Time")
        else {
            throw RecDBError(.malformedInput, "expected a header with SessionId, ItemId and Time", location: "\(path):1")
        }
        var clicks: [String: [(Double, Int, String)]] = [:]
        var order = 0
        while let fields = try reader.nextRow() {
            guard fields.count > max(session, item, time), let t = Double(fields[time]) else {
                throw RecDBError(.malformedInput, "expected SessionId, ItemId and a numeric Time", location: reader.location)
            }
            clicks[fields[session], default: []].append((t, order, fields[item]))
            order += 1
        }
        sessions = clicks.values.map { $0.sorted { ($0.0, $0.1) < ($1.0, $1.1) } }
            .sorted { ($0[0].0, $0[0].1) < ($1[0].0, $1[0].1) }
            .map { $0.map(\.2) }
    }
}

extension RecDatabase {
    /// Trains each next-item model on this database's sessions and evaluates it on `test`: for each prefix of each
    /// test session, the next item's rank among all items (test items the catalog does not know are dropped, as
    /// session-rec does). Items already in the prefix stay candidates (repeat clicks are common).
    public func evaluateSessions(
        _ models: [ModelSpec], test: SessionTestSet, k: Int = 20, threads: Int = 2
    ) throws -> [SessionEvaluationResult] {
        let (log, testSessions) = try read { r -> (InteractionLog, [[UInt32]]) in
            var mapped: [[UInt32]] = []
            for session in test.sessions {
                var items: [UInt32] = []
                for id in session { if let item = try r.itemID(for: id) { items.append(item) } }
                if items.count >= 2 { mapped.append(items) }
            }
            return (try r.interactionLog(), mapped)
        }
        var results: [SessionEvaluationResult] = []
        for spec in models {
            let started = Date()
            guard let model = spec.train(on: log, threads: threads, sessionGap: sessionGap) as? any NextItemModel else {
                throw RecDBError(.invalidArgument, "'\(spec.name)' is not a next-item model (use session or transition)")
            }
            var result = SessionEvaluationResult(model: spec.name, k: k)
            result.trainingSeconds = Date().timeIntervalSince(started)
            let evaluated = Date()
            result.sessions = testSessions.count
            let itemLimit = log.itemLimit
            let workers = max(1, min(threads, testSessions.count))
            let partials = UnsafeMutableBufferPointer<(hits: Double, reciprocal: Double, count: Int)>.allocate(capacity: workers)
            partials.initialize(repeating: (0, 0, 0))
            defer { partials.deallocate() }
            let shared = SharedPointer(partials.baseAddress!)  // disjoint writes: one element per worker
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var hits = 0.0, reciprocal = 0.0, count = 0
                var scores = [Float](repeating: 0, count: itemLimit)
                var s = worker
                while s < testSessions.count {
                    defer { s += workers }
                    let session = testSessions[s]
                    for position in 1..<session.count {
                        for i in 0..<scores.count { scores[i] = 0 }
                        scores.withUnsafeMutableBufferPointer { _ = model.scoreNext(after: Array(session[..<position]), into: $0) }
                        let target = Int(session[position])
                        count += 1
                        let targetScore = scores[target]
                        guard targetScore > 0 else { continue }
                        var rank = 1
                        for score in scores where score > targetScore { rank += 1 }
                        if rank <= k {
                            hits += 1
                            reciprocal += 1 / Double(rank)
                        }
                    }
                }
                shared.base[worker] = (hits, reciprocal, count)
            }
            let hits = partials.reduce(0) { $0 + $1.hits }, reciprocal = partials.reduce(0) { $0 + $1.reciprocal }
            result.predictions = partials.reduce(0) { $0 + $1.count }
            result.hitRate = hits / Double(max(result.predictions, 1))
            result.mrr = reciprocal / Double(max(result.predictions, 1))
            result.seconds = Date().timeIntervalSince(evaluated)
            results.append(result)
        }
        return results
    }
}
