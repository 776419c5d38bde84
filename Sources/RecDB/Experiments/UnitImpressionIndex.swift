import Foundation
import Synchronization

/// Each unit's (user's or session's) recent impressions, in memory: what an event that names no recommendation is
/// credited to. It replaces the on-disk unit index of format 3, which cost one random 4 KiB page per impression.
///
/// The index holds exactly the committed impression-log entries up to position `applied` whose impression time is at
/// or after `horizon`. It is built from the log the first time a write transaction attributes an event (a seek to
/// the window's first position, then a scan to the end), follows the log's end in every later attributing
/// transaction (so another process's impressions are seen), takes a committed transaction's own impressions
/// without reading them back, and extends its horizon back when an event's window reaches further (a back-dated event,
/// a wider new window). Entries older than the widest window by more than ``pruneSlack`` are dropped.
///
/// Memory: 24 bytes per impression within the widest attribution window (plus slack), and per unit a dictionary
/// entry and an array (about 100 bytes).
final class UnitImpressionIndex: Sendable {
    private struct State {
        var units: [String: [UnitImpression]] = [:]
        /// The last log position held; entries up to here with a time at or after `horizon` are all present.
        var applied: UInt64 = 0
        /// `Int64.max` until built.
        var horizon = Int64.max
        /// The widest attribution window asked for, in milliseconds (for pruning).
        var window: Int64 = 0
        var count = 0
    }

    private let state = Mutex(State())

    /// How far before an event's window the horizon goes when the index is built or extended, so events a little
    /// back-dated do not each extend it.
    static let horizonSlack: Int64 = 3_600_000
    /// How far the horizon may trail the widest window before a sweep drops the older entries.
    static let pruneSlack: Int64 = 2 * 3_600_000

    init() {}

    /// How many impressions the index holds (0 before it is built).
    var count: Int { state.withLock { $0.count } }

    /// Whether the index has been built from the log.
    var isBuilt: Bool { state.withLock { $0.horizon != .max } }

    /// The newest `limit` impressions at or before `time` of each of `units`, newest first (ties by experiment and
    /// number, higher first): the index's entries merged with `own`, the uncommitted entries of the asking
    /// transaction. `committed` is the log's last committed position as that transaction sees it; `window` the
    /// widest attribution window; `readLog` reads committed log entries by position range in that transaction.
    func latest(
        _ limit: Int, of units: [String], atOrBefore time: Int64, window: Int64, committed: UInt64,
        own: [ImpressionLogEntry], now: Int64,
        readLog: (_ from: UInt64, _ through: UInt64, _ body: (ImpressionLogEntry) throws -> Void) throws -> Void
    ) throws -> [[UnitImpression]] {
        try state.withLock { state in
            state.window = max(state.window, window)
            Self.prune(&state, now: now)
            if state.applied > committed {  // the log went back (a restored file): start again
                let window = state.window
                state = State()
                state.window = window
            }
            let needed = time.subtractingClamped(window)
            if state.horizon > needed {
                try Self.extend(&state, to: needed.subtractingClamped(Self.horizonSlack), committed: committed, readLog)
            }
            if state.applied < committed {
                var touched = Set<String>()
                try readLog(state.applied + 1, committed) { entry in
                    if Self.add(entry, to: &state) { touched.insert(entry.unit) }
                }
                Self.sort(touched, in: &state)
                state.applied = committed
            }
            return units.map { unit in
                var found = Array((state.units[unit] ?? []).reversed().lazy.filter { $0.time <= time }.prefix(limit))
                let mine = own.filter { $0.unit == unit && $0.impression.time <= time }.map(\.impression)
                if !mine.isEmpty { found = Array((found + mine).sorted(by: >).prefix(limit)) }
                return found
            }
        }
    }

    /// A committed transaction's own log entries, appended after position `base`: taken at once when the index is
    /// built and had read the log up to `base`; otherwise the next ``latest`` reads them from the log.
    func committed(_ entries: [ImpressionLogEntry], after base: UInt64, now: Int64) {
        guard let last = entries.last?.position else { return }
        state.withLock { state in
            guard state.horizon != .max, state.applied == base else { return }
            var touched = Set<String>()
            for entry in entries where Self.add(entry, to: &state) { touched.insert(entry.unit) }
            Self.sort(touched, in: &state)
            state.applied = last
            Self.prune(&state, now: now)
        }
    }

    // MARK: - Keeping the invariant

    /// Builds the index, or lowers its horizon to `horizon` by adding the older entries it lacks.
    private static func extend(
        _ state: inout State, to horizon: Int64, committed: UInt64,
        _ readLog: (UInt64, UInt64, (ImpressionLogEntry) throws -> Void) throws -> Void
    ) throws {
        let building = state.horizon == .max
        let through = building ? committed : state.applied
        let oldHorizon = state.horizon
        var touched = Set<String>()
        try readLog(ImpressionLog.start(of: horizon), through) { entry in
            let time = entry.impression.time
            guard time >= horizon, building || time < oldHorizon else { return }
            state.units[entry.unit, default: []].append(entry.impression)
            state.count += 1
            touched.insert(entry.unit)
        }
        sort(touched, in: &state)
        state.horizon = horizon
        if building { state.applied = committed }
    }

    /// Adds one entry read past `applied` (when within the horizon); whether it was added.
    private static func add(_ entry: ImpressionLogEntry, to state: inout State) -> Bool {
        guard entry.impression.time >= state.horizon else { return false }
        state.units[entry.unit, default: []].append(entry.impression)
        state.count += 1
        return true
    }

    /// Restores time order in the units that took entries (nearly always in order already: log order is time order
    /// but for impressions committed late).
    private static func sort(_ units: Set<String>, in state: inout State) {
        for unit in units {
            guard let entries = state.units[unit], entries.count > 1 else { continue }
            var sorted = true
            for i in 1..<entries.count where entries[i] < entries[i - 1] {
                sorted = false
                break
            }
            if !sorted { state.units[unit]!.sort() }
        }
    }

    /// Drops entries older than the widest window by more than ``horizonSlack``, when the horizon trails by more
    /// than ``pruneSlack`` (so a sweep runs about once per hour of time).
    private static func prune(_ state: inout State, now: Int64) {
        guard state.horizon != .max else { return }
        let target = now.subtractingClamped(state.window).subtractingClamped(horizonSlack)
        guard target.subtractingClamped(pruneSlack - horizonSlack) > state.horizon else { return }
        var count = 0
        state.units = state.units.compactMapValues { entries in
            let kept = entries.drop(while: { $0.time < target })
            count += kept.count
            return kept.isEmpty ? nil : Array(kept)
        }
        state.count = count
        state.horizon = target
    }
}

extension Int64 {
    /// `self - other`, clamped at `Int64.min`.
    fileprivate func subtractingClamped(_ other: Int64) -> Int64 {
        let (result, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : result
    }
}
