@testable import RecDB

extension InteractionLog {
    /// A log of `(user, item, weight, time)` events, sorted by user then time as ``interactionLog()`` returns it,
    /// over `users` user ids and `items` item ids.
    static func of(
        _ events: [(user: UInt32, item: UInt32, weight: Float, time: Int64)], users: Int, items: Int
    ) -> InteractionLog {
        var log = InteractionLog()
        log.userLimit = users
        log.itemLimit = items
        for event in events.sorted(by: { ($0.user, $0.time) < ($1.user, $1.time) }) {
            log.append(user: event.user, item: event.item, weight: event.weight, time: event.time)
        }
        return log
    }

    /// A log of weight-1 interactions, one per `(user, item)` pair, at times 0, 1, 2… in the order given.
    static func pairs(_ pairs: [(UInt32, UInt32)], users: Int, items: Int) -> InteractionLog {
        of(pairs.enumerated().map { ($0.element.0, $0.element.1, 1, Int64($0.offset)) }, users: users, items: items)
    }
}

extension Recommender {
    /// The scores the model gives every item id below `items` for `user` with training history `log` (−∞ for
    /// items it would not return).
    func scores(for user: UInt32, in log: InteractionLog, items: Int) -> [Float] {
        var split = EvaluationSplit(InteractionLog(), kind: .leaveLastOut)
        split.train = log
        let history = Evaluator(split: split, catalogItems: items).history(of: user)
        var result = [Float](repeating: 0, count: items)
        result.withUnsafeMutableBufferPointer { score(user: user, history: history, into: $0) }
        return result
    }
}
