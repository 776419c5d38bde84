import Foundation
import Logging
import RecDB

/// Refreshes models on a schedule, one at a time, on the server's admin queue: scheduled refreshes and admin
/// statements (`REFRESH`, `EVALUATE`) take turns, so a scheduled refresh never meets an admin `REFRESH` of the same
/// model (the library would refuse the second with `busy`, see ``RecDatabase/refresh(_:threads:progress:)``).
/// Queries go on while a model trains (its new generation appears at once when the refresh switches to it).
/// Owned by the thread that starts and stops it; the timer's handler captures only `Sendable` values.
final class RefreshScheduler {
    let database: RecDatabase
    let models: [String]
    let interval: TimeInterval
    let logger: Logger
    /// Called with each refreshed model's name and seconds taken (the metrics' histogram).
    let refreshed: @Sendable (String, Double) -> Void
    private let timer: DispatchSourceTimer

    /// Refreshes `models` every `interval` seconds on `queue`, the queue that runs admin statements.
    init(
        database: RecDatabase, models: [String], every interval: TimeInterval, queue: DispatchQueue, logger: Logger,
        refreshed: @escaping @Sendable (String, Double) -> Void = { _, _ in }
    ) {
        self.database = database
        self.refreshed = refreshed
        self.models = models
        self.interval = interval
        self.logger = logger
        timer = DispatchSource.makeTimerSource(queue: queue)
    }

    func start() {
        timer.schedule(deadline: .now() + interval, repeating: interval)
        let database = database, models = models, logger = logger, refreshed = refreshed
        timer.setEventHandler { Self.refresh(models, in: database, logger: logger, refreshed: refreshed) }
        timer.resume()
    }

    func stop() { timer.cancel() }

    private static func refresh(
        _ models: [String], in database: RecDatabase, logger: Logger, refreshed: @Sendable (String, Double) -> Void
    ) {
        for name in models {
            do {
                let report = try database.refresh(try ModelSpec.named(name))
                refreshed(name, report.seconds)
                logger.info("refreshed \(name): generation \(report.record.generation) in \(String(format: "%.2f", report.seconds)) s")
            } catch {
                logger.error("refresh of \(name) failed: \(error)")
            }
        }
    }

    /// Seconds in a duration like `90s`, `30m`, `1h` (a bare number is seconds).
    static func seconds(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()), value > 0 { return value * scale }
        if let value = Double(text), value > 0 { return value }
        return nil
    }
}
