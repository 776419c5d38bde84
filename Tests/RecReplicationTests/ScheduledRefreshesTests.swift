import Testing

@testable import RecReplication

/// ``ScheduledRefreshes``: nodes that fire near the same slot instant name the same slot and message id, so
/// JetStream keeps one `REFRESH` entry per model and slot.
@Suite struct ScheduledRefreshesTests {
    @Test func nodesWithSlightlyDifferentClocksAgreeOnTheSlot() {
        let interval = 300.0
        let instant = 1_765_000_200.0  // a multiple of 300
        let slots = [-2.5, -0.01, 0, 0.4, 3].map { ScheduledRefreshes.slot(at: instant + $0, interval: interval) }
        #expect(Set(slots).count == 1 && slots[0] == Int64(instant / interval))
        #expect(ScheduledRefreshes.slot(at: instant + interval, interval: interval) == slots[0] + 1)
    }

    @Test func messageIDsAreSubjectSafeAndSharedByEveryNode() {
        #expect(ScheduledRefreshes.messageID(model: "als", slot: 7) == "sched-als-7")
        #expect(ScheduledRefreshes.messageID(model: "my.model x", slot: 7) == "sched-my_model_x-7")
    }
}
