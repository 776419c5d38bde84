import Synchronization

/// Whole pages of `EXPLAIN GENERATED`, found before any fact is read: a repeated page costs the recommendation and
/// three counters of the snapshot, not the fact reads (item event scans) nor the faithfulness check.
///
/// A page is keyed by the tone, the query, the page before explanation (ids, scores, provenance) and the snapshot's
/// write counters — the items version, the last event sequence and the event count — so any write that could change
/// a fact (a price, a category, an event, a deleted user) changes the key and a stale page is never served. Pages
/// that fell back for a passing reason (`busy`, `deadline`, `model_error`) are not kept.
final class ExplanationPageCache: Sendable {
    /// What identifies a page and the data its facts were read from.
    struct Key: Hashable, Sendable {
        var tone: ExplanationTone
        var query: RecommendQuery
        /// Items version, last event sequence, event count.
        var snapshot: [UInt64]
        /// The page as recommended, before facts and sentences.
        var results: [Recommendation]
    }

    /// The outcome of looking a page up inside the read transaction.
    enum Lookup: Sendable {
        /// The explained page and the report it was generated with.
        case hit([Recommendation], ExplanationGenerator.Report)
        /// Not cached: generate, then store under this key.
        case miss(Key)
    }

    private struct Entry {
        var results: [Recommendation]
        var report: ExplanationGenerator.Report
    }

    private let pages = Mutex<[Key: Entry]>([:])
    private let capacity: Int

    /// A cache of at most `capacity` pages (all dropped when full).
    init(capacity: Int = 2_000) {
        self.capacity = capacity
    }

    /// The explained page for `key`, with its report marked as answered from the cache.
    func page(_ key: Key) -> (results: [Recommendation], report: ExplanationGenerator.Report)? {
        guard let entry = pages.withLock({ $0[key] }) else { return nil }
        var report = entry.report
        report.cached = entry.results.count
        report.generated = 0
        report.rejected = 0
        report.seconds = 0
        report.checkedStatements = 0
        report.checkedSupported = 0
        return (entry.results, report)
    }

    /// Keeps the explained `results` under `key`, unless a result fell back for a reason that passes.
    func store(_ results: [Recommendation], report: ExplanationGenerator.Report, for key: Key) {
        let passing: Set<String> = ["busy", "deadline", "model_error", "model_unavailable"]
        guard report.error == nil, !results.contains(where: { $0.fallbackReason.map(passing.contains) ?? false }) else {
            return
        }
        pages.withLock { pages in
            if pages.count >= capacity { pages.removeAll() }
            pages[key] = Entry(results: results, report: report)
        }
    }

    /// Forgets every page (tests, or a change of tone).
    func removeAll() {
        pages.withLock { $0.removeAll() }
    }
}

extension CatalogReading where Self: ~Copyable {
    /// Looks `page` of `query` up in `cache` with this snapshot's write counters.
    func lookUpExplainedPage(
        _ page: [Recommendation], query: RecommendQuery, tone: ExplanationTone, in cache: ExplanationPageCache
    ) throws -> ExplanationPageCache.Lookup {
        let key = ExplanationPageCache.Key(
            tone: tone, query: query,
            snapshot: [try itemsVersion, try lastEventSequence(), UInt64(try eventCount)], results: page)
        if let hit = cache.page(key) { return .hit(hit.results, hit.report) }
        return .miss(key)
    }
}
