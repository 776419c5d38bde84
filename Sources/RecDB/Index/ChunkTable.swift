/// Raw pointers to the chunks of a stored array (vectors, level-0 links, bitmaps), resolved on first use.
/// A chunk that does not exist resolves to nil. Not `Sendable`: it belongs to one snapshot (one read transaction),
/// and resolving writes the table without a lock.
final class ChunkTable {
    let count: Int
    let pointers: UnsafeMutablePointer<UnsafeRawPointer?>
    let states: UnsafeMutablePointer<UInt8>  // 0 unresolved, 1 resolved
    private let resolver: (Int) -> UnsafeRawPointer?

    init(count: Int, resolver: @escaping (Int) -> UnsafeRawPointer?) {
        self.count = count
        pointers = .allocate(capacity: max(count, 1))
        pointers.initialize(repeating: nil, count: max(count, 1))
        states = .allocate(capacity: max(count, 1))
        states.initialize(repeating: 0, count: max(count, 1))
        self.resolver = resolver
    }

    /// A table over memory that is already laid out (an in-memory graph): every chunk is resolved.
    convenience init(base: UnsafeRawPointer, chunkBytes: Int, count: Int) {
        self.init(count: count) { base + $0 * chunkBytes }
        for chunk in 0..<count { _ = self[chunk] }
    }

    deinit {
        pointers.deallocate()
        states.deallocate()
    }

    @inline(__always)
    subscript(chunk: Int) -> UnsafeRawPointer? {
        if chunk >= count { return nil }
        if states[chunk] != 0 { return pointers[chunk] }
        return resolve(chunk)
    }

    @inline(never)
    func resolve(_ chunk: Int) -> UnsafeRawPointer? {
        let pointer = resolver(chunk)
        pointers[chunk] = pointer
        states[chunk] = 1
        return pointer
    }
}

/// A ``ChunkTable`` seen through raw pointers: no reference counting on the hot path. Valid while the table lives.
struct ChunkPointers {
    let count: Int
    let pointers: UnsafeMutablePointer<UnsafeRawPointer?>
    let states: UnsafeMutablePointer<UInt8>
    unowned(unsafe) let table: ChunkTable

    init(_ table: ChunkTable) {
        count = table.count
        pointers = table.pointers
        states = table.states
        self.table = table
    }

    @inline(__always)
    subscript(chunk: Int) -> UnsafeRawPointer? {
        if chunk >= count { return nil }
        if states[chunk] != 0 { return pointers[chunk] }
        return table.resolve(chunk)
    }
}

/// A bitmap stored in chunks of `BitmapChunks.bitsPerChunk` bits; a missing chunk is all zeros.
struct BitmapChunks {
    static let chunkShift = 14
    static let bitsPerChunk = 1 << chunkShift
    static let bytesPerChunk = bitsPerChunk / 8
    /// Raw pointers: whoever made the table keeps it alive (a ``VectorIndexSnapshot``).
    let table: ChunkPointers

    init(table: ChunkTable) { self.table = ChunkPointers(table) }

    /// The 64 bits for nodes `base ..< base + 64` (`base` a multiple of 64).
    @inline(__always)
    func word(at base: Int) -> UInt64 {
        guard let chunk = table[base >> Self.chunkShift] else { return 0 }
        return chunk.loadUnaligned(fromByteOffset: ((base & (Self.bitsPerChunk - 1)) >> 6) * 8, as: UInt64.self)
    }

    @inline(__always)
    func contains(_ node: UInt32) -> Bool {
        let index = Int(node)
        guard let chunk = table[index >> Self.chunkShift] else { return false }
        let bit = index & (Self.bitsPerChunk - 1)
        return chunk.loadUnaligned(fromByteOffset: (bit >> 6) * 8, as: UInt64.self) & (1 << UInt64(bit & 63)) != 0
    }
}
