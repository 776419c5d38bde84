/// A train / validation / test division of an interaction log.
public struct EvaluationSplit: Sendable {
    /// How the held-out parts are chosen; the raw value is the name used by `recctl` and stored in results.
    public enum Kind: String, Sendable, CaseIterable {
        /// Per user in time order: the last interaction is the test, the one before it validation.
        case leaveLastOut = "leave-last-out"
        /// By time over the whole log: the first 80 % of events train, the next 10 % validate, the last 10 % test.
        case temporal
        /// Cold items: a random 10 % of items (seeded) lose every interaction to the test part, another 5 % to
        /// validation; the models never see them in training. Measures what content models add for new items.
        case coldItems = "cold-items"
        /// Per user in time order: the first 80 % of a user's interactions train, the next 10 % validate, the last
        /// 10 % test (at least one each, for users with 3 or more interactions; users with fewer only train). The
        /// paper protocol of `recctl report paper`; unlike `temporal`, it needs no real clock across users.
        case perUser = "per-user-80-10-10"
    }

    /// Which division this is.
    public var kind: Kind
    /// What the models train on, still sorted by user then time: every interaction not in a held-out part's
    /// span (the last two per user, the last 20 % of time, or the held-out 15 % of items).
    public var train: InteractionLog
    /// Held-out items per user: validation and test (only items the user has not met in training).
    public var validation: [UInt32: [UInt32]]
    /// Held-out test items per user, none of them met by that user in training; users with none are absent.
    public var test: [UInt32: [UInt32]]
    /// Users left out of the test because their held-out items all appeared in their training history.
    public var skippedUsers = 0
    /// The validation part's events (sorted by user, then time), whatever their weight. Under the standard protocol
    /// they join each user's history when the test part is scored (``Evaluator/TestHistory``), while the models
    /// stay trained on ``train`` alone — as events that arrived after the last refresh reach `RECOMMEND`.
    public var validationEvents = InteractionLog()

    /// Splits `log` (sorted by user then time).
    public init(_ log: InteractionLog, kind: Kind) {
        self.kind = kind
        validation = [:]
        test = [:]
        switch kind {
        case .leaveLastOut:
            var keep = [Bool](repeating: true, count: log.count)
            var heldOut: [(user: UInt32, validation: UInt32, test: UInt32, trainRange: Range<Int>)] = []
            for (user, range) in log.userRanges() where range.count >= 3 {
                let last = range.upperBound - 1
                keep[last] = false
                keep[last - 1] = false
                heldOut.append((user, log.items[last - 1], log.items[last], range.lowerBound..<(last - 1)))
            }
            train = log.filter { keep[$0] }
            let validationIndices = Set(heldOut.map(\.trainRange.upperBound))
            validationEvents = log.filter { validationIndices.contains($0) }
            for entry in heldOut {
                let seen = Set(entry.trainRange.map { log.items[$0] })
                if !seen.contains(entry.validation) { validation[entry.user] = [entry.validation] }
                if seen.contains(entry.test) {
                    skippedUsers += 1
                } else {
                    test[entry.user] = [entry.test]
                }
            }
        case .perUser:
            (train, validationEvents, validation, test, skippedUsers) = Self.perUserParts(of: log)
        case .temporal:
            let sortedTimes = log.times.sorted()
            let trainEnd = sortedTimes.isEmpty ? 0 : sortedTimes[min(sortedTimes.count - 1, sortedTimes.count * 8 / 10)]
            let validationEnd = sortedTimes.isEmpty ? 0 : sortedTimes[min(sortedTimes.count - 1, sortedTimes.count * 9 / 10)]
            train = log.filter { log.times[$0] < trainEnd }
            validationEvents = log.filter { log.times[$0] >= trainEnd && log.times[$0] < validationEnd }
            var seen: [UInt32: Set<UInt32>] = [:]
            for index in 0..<train.count { seen[train.users[index], default: []].insert(train.items[index]) }
            var validationSets: [UInt32: Set<UInt32>] = [:], testSets: [UInt32: Set<UInt32>] = [:]
            var heldOutUsers = Set<UInt32>()
            for index in 0..<log.count where log.times[index] >= trainEnd {
                let user = log.users[index], item = log.items[index]
                guard let known = seen[user], log.weights[index] > 0 else { continue }
                if log.times[index] < validationEnd { heldOutUsers.insert(user) }
                guard !known.contains(item) else { continue }
                if log.times[index] < validationEnd {
                    validationSets[user, default: []].insert(item)
                } else {
                    testSets[user, default: []].insert(item)
                }
            }
            validation = validationSets.mapValues { $0.sorted() }
            test = testSets.mapValues { $0.sorted() }
            skippedUsers = 0
        case .coldItems:
            // A fixed hash of the item id decides its part, so the split is the same on every run.
            func part(_ item: UInt32) -> Int {
                var x = UInt64(item) &+ 0x9E37_79B9_7F4A_7C15
                x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
                x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
                x ^= x >> 31
                let bucket = Int(x % 100)
                return bucket < 10 ? 2 : bucket < 15 ? 1 : 0
            }
            train = log.filter { part(log.items[$0]) == 0 }
            validationEvents = log.filter { part(log.items[$0]) == 1 }
            var trainUsers = Set<UInt32>()
            for user in train.users { trainUsers.insert(user) }
            var validationSets: [UInt32: Set<UInt32>] = [:], testSets: [UInt32: Set<UInt32>] = [:]
            for index in 0..<log.count where log.weights[index] > 0 && trainUsers.contains(log.users[index]) {
                switch part(log.items[index]) {
                case 2: testSets[log.users[index], default: []].insert(log.items[index])
                case 1: validationSets[log.users[index], default: []].insert(log.items[index])
                default: break
                }
            }
            validation = validationSets.mapValues { $0.sorted() }
            test = testSets.mapValues { $0.sorted() }
        }
    }
}

extension EvaluationSplit {
    /// The parts of the per-user chronological 80/10/10 division (``Kind/perUser``): training log, validation
    /// events, validation and test items per user, and the users whose test items all appeared in their training
    /// part.
    private static func perUserParts(of log: InteractionLog)
        -> (InteractionLog, InteractionLog, [UInt32: [UInt32]], [UInt32: [UInt32]], Int)
    {
        var validation: [UInt32: [UInt32]] = [:], test: [UInt32: [UInt32]] = [:], skippedUsers = 0
        var keep = [Bool](repeating: true, count: log.count)
        var heldOut: [(user: UInt32, trainRange: Range<Int>, validation: Range<Int>, test: Range<Int>)] = []
        for (user, range) in log.userRanges() where range.count >= 3 {
            let tail = max(1, Int((Double(range.count) * 0.1).rounded()))
            let testStart = range.upperBound - tail, validationStart = testStart - tail
            guard validationStart > range.lowerBound else { continue }
            for index in validationStart..<range.upperBound { keep[index] = false }
            heldOut.append((user, range.lowerBound..<validationStart, validationStart..<testStart, testStart..<range.upperBound))
        }
        let train = log.filter { keep[$0] }
        var inValidation = [Bool](repeating: false, count: log.count)
        for entry in heldOut {
            for index in entry.validation { inValidation[index] = true }
        }
        let validationEvents = log.filter { inValidation[$0] }
        for entry in heldOut {
            let seen = Set(entry.trainRange.map { log.items[$0] })
            func unseen(_ range: Range<Int>) -> [UInt32] {
                Array(Set(range.filter { log.weights[$0] > 0 }.map { log.items[$0] }).subtracting(seen)).sorted()
            }
            let validationItems = unseen(entry.validation), testItems = unseen(entry.test)
            if !validationItems.isEmpty { validation[entry.user] = validationItems }
            if testItems.isEmpty { skippedUsers += 1 } else { test[entry.user] = testItems }
        }
        return (train, validationEvents, validation, test, skippedUsers)
    }
}
