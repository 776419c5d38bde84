/// A (distance, node) pair; ordered by distance, smaller is closer.
struct Neighbor: Comparable {
    var distance: Float
    var node: UInt32

    static func < (lhs: Neighbor, rhs: Neighbor) -> Bool {
        lhs.distance < rhs.distance || (lhs.distance == rhs.distance && lhs.node < rhs.node)
    }
}

/// A binary heap over preallocated storage: a max-heap (`isMax`) keeps the worst of the best found on top,
/// a min-heap the closest candidate. No allocation after creation; capacity grows only when asked for more.
struct NeighborHeap {
    private(set) var storage: UnsafeMutablePointer<Neighbor>
    private(set) var capacity: Int
    private(set) var count = 0
    let isMax: Bool

    init(capacity: Int, isMax: Bool) {
        self.capacity = max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
        self.isMax = isMax
    }

    func deallocate() { storage.deallocate() }

    var isEmpty: Bool { count == 0 }
    var top: Neighbor { storage[0] }

    mutating func removeAll() { count = 0 }

    @inline(__always)
    private func above(_ a: Neighbor, _ b: Neighbor) -> Bool { isMax ? b < a : a < b }

    mutating func push(_ element: Neighbor) {
        if count == capacity {
            let bigger = UnsafeMutablePointer<Neighbor>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: storage, count: count)
            storage.deallocate()
            storage = bigger
            capacity *= 2
        }
        var index = count
        count += 1
        while index > 0 {
            let parent = (index - 1) >> 1
            guard above(element, storage[parent]) else { break }
            storage[index] = storage[parent]
            index = parent
        }
        storage[index] = element
    }

    @discardableResult
    mutating func pop() -> Neighbor {
        let result = storage[0]
        count -= 1
        if count > 0 {
            let last = storage[count]
            var index = 0
            while true {
                let left = 2 * index + 1
                if left >= count { break }
                var child = left
                if left + 1 < count && above(storage[left + 1], storage[left]) { child = left + 1 }
                guard above(storage[child], last) else { break }
                storage[index] = storage[child]
                index = child
            }
            storage[index] = last
        }
        return result
    }

    /// The elements in no particular order.
    var elements: UnsafeBufferPointer<Neighbor> { UnsafeBufferPointer(start: storage, count: count) }
}

/// Marks visited nodes in a bitset, one bit per node: 128 KB for a million nodes, so the set stays in the L2 cache
/// (a 16-bit stamp per node, 2 MB there, did not). It remembers which words a search set, so the next search clears
/// only those (or sweeps the whole set when most were touched).
struct VisitedSet {
    private var words: UnsafeMutablePointer<UInt64>
    private var wordCount: Int
    /// Indices of the words set since the last reset; each word is noted once (when it turns non-zero), so at most
    /// `wordCount` of them.
    private var touched: UnsafeMutablePointer<UInt32>
    private var touchedCount = 0

    init(capacity: Int) {
        wordCount = (max(capacity, 1024) + 63) >> 6
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: 0, count: wordCount)
        touched = .allocate(capacity: wordCount)
    }

    /// Nodes the set holds without growing.
    var capacity: Int { wordCount << 6 }

    func deallocate() {
        words.deallocate()
        touched.deallocate()
    }

    /// Starts a new search over nodes below `nodeCount`.
    mutating func reset(nodeCount: Int) {
        let needed = (nodeCount + 63) >> 6
        if needed > wordCount {
            deallocate()
            wordCount = max(needed, wordCount * 2)
            words = .allocate(capacity: wordCount)
            words.initialize(repeating: 0, count: wordCount)
            touched = .allocate(capacity: wordCount)
            touchedCount = 0
            return
        }
        if touchedCount * 16 > wordCount {
            words.update(repeating: 0, count: wordCount)
        } else {
            for i in 0..<touchedCount { words[Int(touched[i])] = 0 }
        }
        touchedCount = 0
    }

    /// Marks `node`; returns true when it was not marked in this search yet.
    @inline(__always)
    mutating func insert(_ node: UInt32) -> Bool {
        let index = Int(node >> 6)
        let bit: UInt64 = 1 << UInt64(node & 63)
        let word = words[index]
        if word & bit != 0 { return false }
        if word == 0 {
            touched[touchedCount] = UInt32(truncatingIfNeeded: index)
            touchedCount += 1
        }
        words[index] = word | bit
        return true
    }

    @inline(__always)
    func contains(_ node: UInt32) -> Bool { words[Int(node >> 6)] & (1 << UInt64(node & 63)) != 0 }
}

/// Scratch memory for searches, reused across queries by one thread: heaps and the visited set. Not `Sendable`:
/// one query uses it at a time (``SearchContextPool`` hands it from one query to the next).
final class SearchContext {
    var candidates = NeighborHeap(capacity: 512, isMax: false)
    var results = NeighborHeap(capacity: 512, isMax: true)
    var visited = VisitedSet(capacity: 1 << 16)
    var scratch: [Neighbor] = []
    /// Of the nodes the last filtered walk scored, how many the filter accepted: the local selectivity.
    var scoredAccepted = 0
    var scoredTotal = 0
    /// The first broken link list the last walk met (see ``GraphView``), nil when it met none.
    var linkFault: LinkFault?
    /// In use by a search of its thread (see ``ThreadSearchContext``).
    var borrowed = false
    /// Counts re-ranks from a resident copy; each checks one candidate, in turn, against the vector table (see
    /// `VectorIndexSnapshot.rerankExactly`).
    var rerankTurn = 0
    /// A query prepared for scoring int8 codes (weights, and L2 targets), grown to the largest dimension seen.
    private var queryWeights = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var queryTargets = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var queryCapacity = 0

    /// Buffers of at least `dimension` floats for a prepared query; valid until the next call.
    func queryBuffers(dimension: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        if dimension > queryCapacity {
            queryWeights.deallocate()
            queryTargets.deallocate()
            queryWeights = .allocate(capacity: dimension)
            queryTargets = .allocate(capacity: dimension)
            queryCapacity = dimension
        }
        return (queryWeights, queryTargets)
    }

    /// Notes a broken list; the first one is kept. Out of line: it never runs on a sound graph.
    @inline(never)
    func noteLinkFault(_ fault: LinkFault) {
        if linkFault == nil { linkFault = fault }
    }

    deinit {
        candidates.deallocate()
        results.deallocate()
        visited.deallocate()
        queryWeights.deallocate()
        queryTargets.deallocate()
    }
}
