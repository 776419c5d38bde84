/// A bump allocator for a tape's intermediates: values, gradients, masks and saved statistics.
///
/// Memory is handed out from chunks that never move during a step, so pointers stay valid until `reset()`. On reset
/// the chunks are merged into one big enough for the whole step; from the second step on, a step of the same shape
/// takes everything from that one chunk and allocates nothing (`systemAllocations` stops growing).
final class Arena<Element: BitwiseCopyable> {
    private var chunks: [UnsafeMutableBufferPointer<Element>] = []
    private var used = 0
    private var usedInEarlierChunks = 0
    private var highWater = 0
    /// How many chunks were ever allocated from the system.
    private(set) var systemAllocations = 0

    init(initialCapacity: Int = 1 << 16) {
        chunks.reserveCapacity(64)
        grow(atLeast: initialCapacity)
    }

    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    private func grow(atLeast count: Int) {
        let capacity = Swift.max(count, (chunks.last?.count ?? 0) * 2, 1 << 12)
        chunks.append(.allocate(capacity: capacity))
        systemAllocations += 1
    }

    /// `count` uninitialised elements, valid until `reset()`.
    func allocate(_ count: Int) -> UnsafeMutablePointer<Element> {
        if used + count > chunks[chunks.count - 1].count {
            usedInEarlierChunks += used
            used = 0
            grow(atLeast: count)
        }
        let p = chunks[chunks.count - 1].baseAddress! + used
        used += (count + 15) & ~15  // whole 16-element blocks, so SIMD16 loops may run to a round end
        highWater = Swift.max(highWater, usedInEarlierChunks + used)
        return p
    }

    /// Releases everything handed out; merges the chunks into one when the step needed several.
    func reset() {
        if chunks.count > 1 {
            for chunk in chunks { chunk.deallocate() }
            chunks.removeAll(keepingCapacity: true)
            grow(atLeast: highWater + highWater / 4)
        }
        used = 0
        usedInEarlierChunks = 0
    }
}
