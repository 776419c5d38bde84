import Dispatch
import Foundation
import RecDB
import RecWire

/// `recd --refresh-every` on a replicated cluster: scheduled refreshes go through the log, once per slot for the
/// whole cluster, instead of each node refreshing on its own timer (which would train at different log positions and
/// make the nodes serve different models).
///
/// Every node given the same schedule fires at the same wall-clock instants (multiples of the interval since the
/// epoch) and publishes `REFRESH MODEL m` under the message id `sched-m-SLOT`, SLOT being that instant divided by
/// the interval. JetStream keeps one message per id within its duplicate window (two minutes), so the stream holds
/// one entry per model and slot however many nodes publish it, and every node applies it at the same position.
/// Nodes whose clocks differ by less than half the interval agree on the slot. A node that is down at a slot does
/// not matter as long as one node publishes.
/// Owned by the thread that starts and stops it; the timer's handler captures only `Sendable` values.
public final class ScheduledRefreshes {
    private let publisher: Publisher
    private let timer: DispatchSourceTimer

    /// The models refreshed at each slot, in order.
    public var models: [String] { publisher.models }
    /// Seconds between slots.
    public var interval: TimeInterval { publisher.interval }

    /// A schedule for `models` every `interval` seconds, publishing to `subject` as node `nodeID`; `onError` hears
    /// of a publish that failed (JetStream unreachable: another node's publish may still have stored the entry).
    public init(
        jetStream: JetStream, subject: String, nodeID: String, models: [String], every interval: TimeInterval,
        onError: @escaping @Sendable (String) -> Void
    ) {
        publisher = Publisher(
            jetStream: jetStream, subject: subject, nodeID: nodeID, models: models, interval: interval, onError: onError)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "recd-scheduled-refreshes"))
    }

    /// The message id of `model`'s refresh in `slot`: the same on every node.
    public static func messageID(model: String, slot: Int64) -> String {
        let token = String(model.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        return "sched-\(token)-\(slot)"
    }

    /// The slot nearest to `time` (seconds since the epoch).
    public static func slot(at time: TimeInterval, interval: TimeInterval) -> Int64 {
        Int64((time / interval).rounded())
    }

    /// Starts firing at the next multiple of the interval.
    public func start() {
        let now = Date().timeIntervalSince1970
        let next = (now / interval).rounded(.down) * interval + interval
        timer.schedule(wallDeadline: .now() + (next - now), repeating: interval)
        let publisher = publisher
        timer.setEventHandler { publisher.publishSlot(at: Date().timeIntervalSince1970) }
        timer.resume()
    }

    /// Stops the timer.
    public func stop() { timer.cancel() }

    /// Publishes the entries of the slot nearest `time` now (what the timer does at each slot).
    public func publishSlot(at time: TimeInterval) { publisher.publishSlot(at: time) }

    private struct Publisher: Sendable {
        let jetStream: JetStream
        let subject: String
        let nodeID: String
        let models: [String]
        let interval: TimeInterval
        let onError: @Sendable (String) -> Void

        func publishSlot(at time: TimeInterval) {
            let slot = ScheduledRefreshes.slot(at: time, interval: interval)
            for model in models {
                let id = ScheduledRefreshes.messageID(model: model, slot: slot)
                // The slot's instant is the entry's time: every node's publish carries the same statement and time.
                let entry = LogEntry(
                    query: "REFRESH MODEL \(model)", parameters: [:],
                    acceptedAt: Timestamp(seconds: Double(slot) * interval), origin: nodeID, writeID: id)
                jetStream.publish(subject: subject, payload: entry.encoded, messageID: id) { [onError] result in
                    if case .failure(let error) = result { onError("scheduled refresh \(id): \(error)") }
                }
            }
        }
    }
}
