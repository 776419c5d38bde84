import Foundation

/// Decoded model data kept in memory per generation (content projections, session models, Gram matrices), so a
/// request does not decode them again. Entries of older generations of a model are dropped when a newer one loads.
final class ModelCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (generation: UInt32, value: Any)] = [:]
    private var records: [String: (bytes: [UInt8], record: ModelRecord)] = [:]

    /// The decoded model record stored as `stored`: decoded once, then returned while the stored bytes are the same.
    func record(_ name: String, stored: UnsafeRawBufferPointer) throws -> ModelRecord {
        lock.lock()
        if let cached = records[name], cached.bytes.elementsEqual(stored) {
            lock.unlock()
            return cached.record
        }
        lock.unlock()
        let record = try ModelRecord.decode(stored, name: name)
        lock.lock()
        records[name] = (Array(stored), record)
        lock.unlock()
        return record
    }

    /// The cached value for `model`'s `generation` and `part`, made by `make` on first use.
    func value<T>(model: String, generation: UInt32, part: String, make: () throws -> T) rethrows -> T {
        let key = model + "/" + part
        lock.lock()
        if let entry = entries[key], entry.generation == generation, let value = entry.value as? T {
            lock.unlock()
            return value
        }
        lock.unlock()
        let value = try make()
        lock.lock()
        if (entries[key]?.generation ?? 0) <= generation { entries[key] = (generation, value) }
        lock.unlock()
        return value
    }
}
