import CoreMetrics
import Foundation
import Metrics
import Prometheus
import RecDB
import Synchronization

/// What `recd --metrics` exports, in Prometheus text format: counted through swift-metrics into a swift-prometheus
/// registry of this server's own (no process-wide bootstrap, so tests may build several).
///
/// Counted as they happen: requests and their latency per statement verb and outcome, group-commit batch sizes,
/// refresh durations per model. Read when scraped (``scrape()``): write queue depth, pending impressions, the heavy
/// lane (language model, encoder, large blends), connections, the map and file size, the reader table, each model's
/// generation and training time.
final class DaemonMetrics: Sendable {
    /// The request timer and counters of one statement verb.
    private struct VerbMetrics: Sendable {
        let duration: CoreMetrics.Timer
        let succeeded: CoreMetrics.Counter
        let failed: CoreMetrics.Counter
    }

    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let verbs: [String: VerbMetrics]
    private let batchSizes: CoreMetrics.Recorder
    private let refreshes = Mutex<[String: CoreMetrics.Timer]>([:])

    /// Request latency buckets: 100 µs to 10 s.
    static let requestBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    /// Refresh duration buckets: 100 ms to an hour.
    static let refreshBuckets: [Duration] = [
        .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300),
        .seconds(900), .seconds(3600),
    ]

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "recd_request_duration_seconds": Self.requestBuckets,
            "recd_refresh_duration_seconds": Self.refreshBuckets,
        ]
        factory.valueHistogramBuckets = ["recd_group_commit_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]]
        self.factory = factory
        var verbs: [String: VerbMetrics] = [:]
        // Every verb up front, so the hot path reads a constant dictionary and takes no lock.
        for verb in Statement.verbs + Self.otherVerbs {
            verbs[verb] = VerbMetrics(
                duration: CoreMetrics.Timer(
                    label: "recd_request_duration_seconds", dimensions: [("statement", verb)], factory: factory),
                succeeded: CoreMetrics.Counter(
                    label: "recd_requests_total", dimensions: [("statement", verb), ("outcome", "ok")], factory: factory),
                failed: CoreMetrics.Counter(
                    label: "recd_requests_total", dimensions: [("statement", verb), ("outcome", "error")],
                    factory: factory))
        }
        self.verbs = verbs
        batchSizes = CoreMetrics.Recorder(label: "recd_group_commit_batch_size", dimensions: [], aggregate: true, factory: factory)
    }

    /// Requests that never became a statement (`invalid`: unreadable, too long, a syntax error), `STATUS`, and
    /// the dashboard's own page loads.
    static let otherVerbs = ["invalid", "status"]

    /// Counts one answered request of `verb` that took `nanoseconds`.
    func requestFinished(verb: String, nanoseconds: UInt64, failed: Bool) {
        guard let metrics = verbs[verb] ?? verbs["invalid"] else { return }
        metrics.duration.recordNanoseconds(Int64(clamping: nanoseconds))
        (failed ? metrics.failed : metrics.succeeded).increment()
    }

    /// Records the size of one group-commit batch (statements, impressions not counted).
    func batchCommitted(size: Int) {
        batchSizes.record(size)
    }

    /// Records one refresh of `model` that took `seconds`.
    func refreshFinished(model: String, seconds: Double) {
        let timer = refreshes.withLock { timers in
            if let timer = timers[model] { return timer }
            let timer = CoreMetrics.Timer(
                label: "recd_refresh_duration_seconds", dimensions: [("model", model)], factory: factory)
            timers[model] = timer
            return timer
        }
        timer.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// What the server reads at scrape time.
    struct Snapshot {
        var writeQueueDepth = 0
        var impressionsPending = 0
        var heavyInFlight = 0
        var heavyQueueLimit = 0
        var connections = 0
        var requestsInFlight = 0
    }

    /// Sets the gauges from `snapshot` and the database, then renders the registry in Prometheus text format.
    func scrape(_ snapshot: Snapshot, database: RecDatabase) -> [UInt8] {
        func gauge(_ name: String, _ value: Double, _ dimensions: [(String, String)] = []) {
            CoreMetrics.Gauge(label: name, dimensions: dimensions, factory: factory).record(value)
        }
        gauge("recd_write_queue_depth", Double(snapshot.writeQueueDepth))
        gauge("recd_impressions_pending", Double(snapshot.impressionsPending))
        gauge("recd_heavy_queue_depth", Double(snapshot.heavyInFlight))
        gauge("recd_heavy_queue_limit", Double(snapshot.heavyQueueLimit))
        gauge("recd_connections", Double(snapshot.connections))
        gauge("recd_requests_in_flight", Double(snapshot.requestsInFlight))
        let environment = database.environment
        gauge("recd_map_size_bytes", Double(environment.mapSize))
        gauge("recd_map_used_bytes", Double(environment.usedBytes))
        gauge("recd_file_size_bytes", Double(environment.fileSize))
        let readers = environment.readerTable
        gauge("recd_reader_slots_used", Double(readers.slotsUsed))
        gauge("recd_readers_active", Double(readers.active))
        gauge("recd_reader_slots", Double(readers.capacity))
        for model in (try? database.models()) ?? [] {
            gauge("recd_model_generation", Double(model.generation), [("model", model.name)])
            gauge("recd_model_training_seconds", model.trainingSeconds, [("model", model.name)])
        }
        return registry.emitToBuffer()
    }
}
