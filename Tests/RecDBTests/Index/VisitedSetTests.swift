import Testing

@testable import RecDB

/// The visited bitset of graph walks: a reset forgets every mark, whether it clears the touched words one by one
/// (few marks) or sweeps the set (many), and the set grows for larger graphs.
@Suite("Visited set")
struct VisitedSetTests {
    @Test(arguments: [10, 5_000])
    func resetForgetsEveryMark(marks: Int) {
        var set = VisitedSet(capacity: 10_000)
        defer { set.deallocate() }
        var generator = VectorIndexTests.Generator(state: UInt64(marks))
        for _ in 0..<3 {
            set.reset(nodeCount: 10_000)
            var marked = Set<UInt32>()
            for _ in 0..<marks {
                let node = UInt32(Int((generator.next() + 1) / 2 * 9_999))
                let inserted = set.insert(node), expected = marked.insert(node).inserted
                #expect(inserted == expected)
            }
            for node in marked { #expect(set.contains(node)) }
            set.reset(nodeCount: 10_000)
            for node in marked { #expect(!set.contains(node)) }
        }
    }

    @Test func growsForALargerGraph() {
        var set = VisitedSet(capacity: 100)
        defer { set.deallocate() }
        set.reset(nodeCount: 50)
        let first = set.insert(7)
        #expect(first)
        set.reset(nodeCount: 1_000_000)
        #expect(set.capacity >= 1_000_000)
        #expect(!set.contains(7))
        let added = set.insert(999_999), again = set.insert(999_999)
        #expect(added && !again && set.contains(999_999))
    }
}
