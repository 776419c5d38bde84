import Foundation
import Synchronization

/// Decoded model data kept in memory per generation (content projections, session models, Gram matrices), so a
/// request does not decode them again. Entries of older generations of a model are dropped when a newer one loads.
/// One thread loads a given entry; others asking for it meanwhile wait for that load instead of repeating it.
final class ModelCache: Sendable {
    private struct State {
        var entries: [String: (generation: UInt32, value: any Sendable)] = [:]
        var records: [String: (bytes: [UInt8], record: ModelRecord)] = [:]
        /// Entries (key and generation) some thread is loading now.
        var loading: Set<String> = []
    }

    private let state = Mutex(State())

    /// The decoded model record stored as `stored`: decoded once, then returned while the stored bytes are the same.
    func record(_ name: String, stored: UnsafeRawBufferPointer) throws -> ModelRecord {
        let cached = state.withLock { state -> ModelRecord? in
            // memcmp: the generic byte-by-byte comparison was 1 % of a served RECOMMEND (a request reads every
            // kind's record for its default chain).
            guard let cached = state.records[name], cached.bytes.count == stored.count,
                stored.isEmpty
                    || cached.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, stored.baseAddress!, stored.count) == 0 })
            else { return nil }
            return cached.record
        }
        if let cached { return cached }
        let record = try ModelRecord.decode(stored, name: name)
        let bytes = Array(stored)
        state.withLock { $0.records[name] = (bytes, record) }
        return record
    }

    /// The cached value for `model`'s `generation` and `part`, made by `make` on first use.
    func value<T: Sendable>(model: String, generation: UInt32, part: String, make: () throws -> T) rethrows -> T {
        let key = model + "/" + part
        let loadKey = key + "@\(generation)"
        while true {
            // The cached value, or the right to load it (nil, nil while another thread loads it).
            let (cached, mayLoad) = state.withLock { state -> (T?, Bool) in
                if let entry = state.entries[key], entry.generation == generation, let value = entry.value as? T {
                    return (value, false)
                }
                return (nil, state.loading.insert(loadKey).inserted)
            }
            if let cached { return cached }
            if mayLoad { break }
            // Loads take milliseconds to seconds and happen once per generation: polling costs nothing that matters.
            usleep(500)
        }
        defer { _ = state.withLock { $0.loading.remove(loadKey) } }
        let value = try make()
        state.withLock { state in
            if (state.entries[key]?.generation ?? 0) <= generation { state.entries[key] = (generation, value) }
        }
        return value
    }
}
