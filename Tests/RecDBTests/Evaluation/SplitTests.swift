import Testing

@testable import RecDB

/// Leave-last-out and temporal splits of small logs whose outcome is worked out by hand.
@Suite("Evaluation splits")
struct SplitTests {
    @Test func leaveLastOutHoldsOutTheLastTwoEventsPerUser() {
        let log = InteractionLog.of(
            [
                // user 0: 1 2 | 3 (validation) | 4 (test)
                (0, 1, 1, 10), (0, 2, 1, 11), (0, 3, 1, 12), (0, 4, 1, 13),
                // user 1: two events → training only
                (1, 1, 1, 20), (1, 5, 1, 21),
                // user 2: 5 | 6 | 5 → the test item was met in training: skipped, but its validation item stays
                (2, 5, 1, 30), (2, 6, 1, 31), (2, 5, 1, 32),
                // user 3: 7 | 7 | 8 → the validation item was met in training: no validation entry; test 8
                (3, 7, 1, 40), (3, 7, 1, 41), (3, 8, 1, 42),
                // user 4: one event → training only
                (4, 9, 1, 50),
            ], users: 5, items: 10)
        let split = EvaluationSplit(log, kind: .leaveLastOut)
        #expect(split.kind == .leaveLastOut)
        #expect(split.test == [0: [4], 3: [8]])
        #expect(split.validation == [0: [3], 2: [6]])
        #expect(split.skippedUsers == 1)
        // Training: user 0's first two, user 1's two, user 2's first, user 3's first, user 4's one.
        let train = (0..<split.train.count).map {
            (split.train.users[$0], split.train.items[$0], split.train.times[$0])
        }
        #expect(train.map(\.0) == [0, 0, 1, 1, 2, 3, 4])
        #expect(train.map(\.1) == [1, 2, 1, 5, 5, 7, 9])
        #expect(train.map(\.2) == [10, 11, 20, 21, 30, 40, 50])
        #expect(split.train.userLimit == 5 && split.train.itemLimit == 10)
    }

    /// The last event is the test even when the log's order by time puts it elsewhere in the file: the log is sorted
    /// by user then time, so "last" is the newest.
    @Test func leaveLastOutTakesTheNewestEvents() {
        let log = InteractionLog.of([(0, 3, 1, 300), (0, 1, 1, 100), (0, 2, 1, 200)], users: 1, items: 4)
        let split = EvaluationSplit(log, kind: .leaveLastOut)
        #expect(split.test == [0: [3]])
        #expect(split.validation == [0: [2]])
        #expect(split.train.items == [1])
    }

    @Test func temporalSplitsEightyTenTenByTime() {
        // 30 events at times 0…29: training is times < the 24th (80 %), validation 24…26, test 27…29.
        var events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)] = []
        // Training: user 0 items 0 1 2 3 (t 0–3), user 1 items 0 1 5 6 (t 4–7), user 2 items 0…7 twice (t 8–23).
        for (t, item) in [0, 1, 2, 3].enumerated() { events.append((0, UInt32(item), 1, Int64(t))) }
        for (t, item) in [0, 1, 5, 6].enumerated() { events.append((1, UInt32(item), 1, Int64(4 + t))) }
        for t in 8..<24 { events.append((2, UInt32((t - 8) % 8), 1, Int64(t))) }
        events += [
            (0, 4, 1, 24),  // validation, new to user 0 → relevant
            (3, 2, 1, 25),  // user 3 has no training events → left out
            (1, 0, 1, 26),  // user 1 met item 0 in training → not relevant
            (0, 0, 1, 27),  // test, met in training → not relevant
            (1, 3, 1, 28),  // test, new to user 1 → relevant
            (3, 5, 1, 29),  // user 3 again: no training → left out
        ]
        let log = InteractionLog.of(events, users: 4, items: 8)
        let split = EvaluationSplit(log, kind: .temporal)
        #expect(split.kind == .temporal)
        #expect(split.train.count == 24)
        #expect(split.train.times.allSatisfy { $0 < 24 })
        #expect(split.validation == [0: [4]])
        #expect(split.test == [1: [3]])
        #expect(split.skippedUsers == 0)
        // Every test user has training events.
        #expect(split.test.keys.allSatisfy { user in split.train.users.contains(user) })
    }

    /// Held-out events with a weight of zero or less (a return) are not relevant items.
    @Test func temporalIgnoresNegativeHeldOutEvents() {
        var events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)] = []
        for t in 0..<8 { events.append((0, UInt32(t % 4), 1, Int64(t))) }
        events += [(0, 5, 1, 8), (0, 6, -5, 9)]
        // 10 events: training t < 8, validation t = 8, test t = 9 (a return).
        let split = EvaluationSplit(.of(events, users: 1, items: 7), kind: .temporal)
        #expect(split.train.count == 8)
        #expect(split.validation == [0: [5]])
        #expect(split.test.isEmpty)
    }

    /// The validation span's events, which join the histories of the test part under the standard protocol, are
    /// exactly the events left out of training and of the test; merged back with training, they give the log
    /// without its test events, in the log's order.
    @Test func validationEventsAreTheSpanBetweenTrainingAndTest() {
        let log = InteractionLog.of(
            [
                (0, 1, 1, 10), (0, 2, 1, 11), (0, 3, 1, 12), (0, 4, 1, 13),
                (1, 1, 1, 20), (1, 5, 1, 21),
                (2, 5, 1, 30), (2, 6, 1, 31), (2, 5, 1, 32),
            ], users: 3, items: 7)
        let lastOut = EvaluationSplit(log, kind: .leaveLastOut)
        #expect(lastOut.validationEvents.users == [0, 2] && lastOut.validationEvents.items == [3, 6])
        #expect(lastOut.validationEvents.times == [12, 31])
        let merged = lastOut.train.merged(with: lastOut.validationEvents)
        #expect(merged.users == [0, 0, 0, 1, 1, 2, 2] && merged.items == [1, 2, 3, 1, 5, 5, 6])
        #expect(merged.times == [10, 11, 12, 20, 21, 30, 31])
        #expect(merged.userLimit == 3 && merged.itemLimit == 7)

        // Per user 80/10/10: 20 events of user 0 → 16 train, 2 validation (t 16, 17), 2 test.
        let long = InteractionLog.of((0..<20).map { (0, UInt32($0), 1, Int64($0)) }, users: 1, items: 20)
        let perUser = EvaluationSplit(long, kind: .perUser)
        #expect(perUser.train.count == 16 && perUser.validationEvents.times == [16, 17])
        #expect(perUser.validation == [0: [16, 17]] && perUser.test == [0: [18, 19]])
        #expect(perUser.train.merged(with: perUser.validationEvents).times == (0..<18).map { Int64($0) })
    }
}

