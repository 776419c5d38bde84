import Foundation
import Synchronization

/// What one recommendation in an experiment showed: to whom (its unit), from which variant, which items in which
/// order, and when.
public struct Impression: Sendable, Hashable {
    /// The recommendation's id (``RecommendationID``), answered as `recommendation_id`.
    public var id: RecommendationID
    /// The experiment's name.
    public var experiment: String
    /// The variant's index in its experiment.
    public var variant: UInt8
    /// `u:` and the user id, or `s:` and the session id: what bucketing hashed.
    public var unit: String
    /// The item ids shown, rank 1 first.
    public var items: [String]
    /// When it was shown, in milliseconds since 1970.
    public var time: Int64

    var bytes: [UInt8] {
        var writer = BinaryWriter()
        writer.write(variant)
        writer.write(time)
        writer.write(experiment)
        writer.write(unit)
        writer.write(UInt32(items.count))
        for item in items { writer.write(item) }
        return writer.bytes
    }

    init(id: RecommendationID, experiment: String, variant: UInt8, unit: String, items: [String], time: Int64) {
        self.id = id
        self.experiment = experiment
        self.variant = variant
        self.unit = unit
        self.items = items
        self.time = time
    }

    init(id: RecommendationID, bytes: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(bytes)
        self.id = id
        variant = try reader.readUInt8()
        time = try reader.readInt64()
        experiment = try reader.readString()
        unit = try reader.readString()
        let count = try reader.readCount(elementSize: 4, limit: Parser.maxCount, "an impression's items")
        items = try (0..<count).map { _ in try reader.readString() }
    }
}

/// An event credited to an impression.
struct ImpressionOutcome: Sendable, Hashable {
    /// The event type that counts as a click.
    static let clickType = "click"
    /// The event type that counts as a conversion; its value is the revenue.
    static let conversionType = "purchase"

    var type: String
    var item: String
    var value: Double
    /// The item's rank on the page (1 = first), 0 when the page did not show it.
    var rank: Int

    var bytes: [UInt8] {
        var writer = BinaryWriter()
        writer.write(type)
        writer.write(item)
        writer.write(value)
        writer.write(UInt16(clamping: rank))
        return writer.bytes
    }

    init(type: String, item: String, value: Double, rank: Int) {
        self.type = type
        self.item = item
        self.value = value
        self.rank = rank
    }

    init(bytes: UnsafeRawBufferPointer) throws {
        var reader = BinaryReader(bytes)
        type = try reader.readString()
        item = try reader.readString()
        value = try reader.readDouble()
        rank = Int(try reader.readUInt16())
    }
}

/// Where a read's impressions go. Embedded (the default), each is written in a write transaction of its own right
/// after the read. A server calls ``deferToWriter(wake:)``: impressions then wait here, the read answers without
/// waiting for any disk flush, and the next group commit (``RecDatabase/writeBatch(_:_:)``) writes them ahead of
/// its statements, so an event sent after the answer always finds its impression.
public final class ImpressionQueue: Sendable {
    private struct State {
        var pending: [Impression] = []
        var wake: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    init() {}

    /// From now on impressions wait for the next group commit; `wake` is called when the first one arrives at an
    /// empty queue (to start a commit when no write is queued; the writer may wait a little to take more at once).
    public func deferToWriter(wake: @escaping @Sendable () -> Void) {
        state.withLock { $0.wake = wake }
    }

    /// How many impressions wait for a commit.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Queues `impression` when deferred (true), or says to write it now (false).
    func enqueue(_ impression: Impression) -> Bool {
        let (deferred, wake): (Bool, (@Sendable () -> Void)?) = state.withLock { state in
            guard let wake = state.wake else { return (false, nil) }
            state.pending.append(impression)
            return (true, state.pending.count == 1 ? wake : nil)
        }
        wake?()
        return deferred
    }

    /// Takes every waiting impression.
    func drain() -> [Impression] {
        state.withLock { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
    }
}

/// Decoded experiments by their stored bytes, so a request in an experiment does not decode JSON each time.
final class ExperimentCache: Sendable {
    private let entries = Mutex<[[UInt8]: Experiment]>([:])

    func decode(_ raw: [UInt8]) throws -> Experiment {
        if let cached = entries.withLock({ $0[raw] }) { return cached }
        let decoded = try JSONDecoder().decode(Experiment.self, from: Data(raw))
        entries.withLock { entries in
            if entries.count >= 256 { entries.removeAll() }
            entries[raw] = decoded
        }
        return decoded
    }
}
