import Foundation
import RecDB
import RecTestSupport
import Testing

/// "Offline top 10 equals served top 10", the check the parity tests of every model kind share (RecDBTests' built-in
/// kinds, RecTextTests' text kinds): a shop written twice — whole (what evaluation splits) and with each user's last
/// two events held out (what serves) — and each held-out user's offline ranking compared with the list a statement
/// serves.
///
/// The fixture's item ids run opposite to time (every user's latest events are on the lowest ids), so a model
/// handed the history in item-id order sees the oldest items as the newest.
public struct ServingParity {
    public static let words = [
        ["dark", "murder", "detective", "thriller", "mystery", "crime", "night"],
        ["italian", "recipes", "cooking", "kitchen", "baking", "pasta", "bread"],
        ["hose", "garden", "shovel", "plants", "lawn", "seeds", "soil"],
    ]
    public static let tastes = 3, itemsPerTaste = 14, usersPerTaste = 12, eventsPerUser = 9

    /// One user's events in time order: external ids, minute, explicit session (odd users) or none.
    public struct Event: Sendable {
        public var user: String, item: String, minute: Int64, session: String?
    }

    /// Users `u0…u35`, a taste each; 3 events in a first visit, then 6 in a second one, on distinct items of the
    /// taste whose ids fall as time goes on. Even users' visits are split by a 3-hour pause; odd users' by their
    /// explicit session ids, only 5 minutes apart (shorter than the gap).
    public static let events: [Event] = {
        var events: [Event] = []
        var minute: Int64 = 0
        for user in 0..<(tastes * usersPerTaste) {
            let taste = user % tastes
            let positions = (0..<eventsPerUser).map { k in (user * 5 + k * 3) % itemsPerTaste }.sorted(by: >)
            for (k, position) in positions.enumerated() {
                if k == 3 { minute += user % 2 == 0 ? 180 : 5 }
                let session = user % 2 == 1 ? "s\(user)-\(k < 3 ? "a" : "b")" : nil
                let item = "i\(taste * itemsPerTaste + position)"
                events.append(Event(user: "u\(user)", item: item, minute: minute, session: session))
                minute += 1
            }
            minute += 1000
        }
        return events
    }()

    /// The catalog: item `iN` has internal id N (written in order), with a title and description of its taste.
    public static func writeItems(_ db: RecDatabase) throws {
        try db.write { w in
            for id in 0..<(tastes * itemsPerTaste) {
                let taste = id / itemsPerTaste, i = id % itemsPerTaste, words = Self.words[taste]
                let internalID = try w.upsertItem(
                    "i\(id)",
                    attributes: [
                        "title": .string("\(words[i % 7].capitalized) \(words[(i + 2) % 7]) volume\(id)"),
                        "description": .string("A \(words[(i + 3) % 7]) \(words[(i + 5) % 7]) item"),
                    ])
                #expect(internalID == UInt32(id))
            }
        }
    }

    /// Writes `events` in one transaction, creating users and sessions as they come.
    public static func writeEvents(_ db: RecDatabase, _ events: [Event]) throws {
        try db.write { w in
            for e in events {
                let time = Timestamp(milliseconds: 1_700_000_000_000 + e.minute * 60_000)
                _ = try w.addEvent(EventInput(user: e.user, item: e.item, type: "view", timestamp: time, session: e.session))
            }
        }
    }

    /// Every event of the fixture (evaluation splits it).
    public let full: RecDatabase
    /// The catalog and the training events only: the database that serves.
    public let served: RecDatabase
    /// The leave-last-out split of `full`.
    public let split: EvaluationSplit
    /// Each user's second-to-last event, the split's validation part: written to ``served`` after its models are
    /// refreshed, it makes the test part's histories (``Evaluator/TestHistory/withValidation``).
    public let validationEvents: [Event]
    /// The catalog's items, for the models that train on them.
    public let catalog: [Item]
    /// The evaluator over ``split``: what ranks offline.
    public let evaluator: Evaluator

    /// Writes both databases into `folder` (without syncing).
    public init(in folder: TemporaryDirectory) throws {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        full = try RecDatabase.open(at: folder.appending("full"), create: true, options: options)
        try Self.writeItems(full)
        try Self.writeEvents(full, Self.events)
        let (log, catalog) = try full.read { r -> (InteractionLog, [Item]) in
            var items: [Item] = []
            try r.forEachItem { items.append($0); return .next }
            return (try r.interactionLog(), items)
        }
        self.catalog = catalog
        split = EvaluationSplit(log, kind: .leaveLastOut)
        // Each user's last two events held out (validation and test).
        let byUser = Dictionary(grouping: Self.events, by: \.user)
        let trainingEvents = Self.events.filter { e in
            let own = byUser[e.user]!
            return own.firstIndex { $0.item == e.item }! < own.count - 2
        }
        validationEvents = Self.events.filter { e in
            let own = byUser[e.user]!
            return own.firstIndex { $0.item == e.item }! == own.count - 2
        }
        served = try RecDatabase.open(at: folder.appending("train"), create: true, options: options)
        try Self.writeItems(served)
        try Self.writeEvents(served, trainingEvents)
        evaluator = Evaluator(split: split, catalogItems: catalog.count, sessionGap: full.sessionGap)
    }

    /// For every held-out user, expects `model`'s offline top 10 to equal the items `statement` (with `$u` the user)
    /// serves, and hands `check` each served answer's items; returns how many users were compared.
    @discardableResult
    /// With `atTest` the offline ranking is the test part's (validation events in the history), for a ``served``
    /// that holds them.
    public func expectOfflineEqualsServed(
        _ model: any Recommender, statement: String, name: String, atTest: Bool = false,
        check: ([QueryValue]) -> Void = { _ in }, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Int {
        var compared = 0
        for user in split.test.keys.sorted() {
            let offline = evaluator.ranking(for: user, model: model, atTest: atTest).map { "i\($0)" }
            let id = try #require(try full.read { r in try r.externalUserID(user) })
            let answer = try served.query(statement, parameters: ["u": .string(id)])
            let items = try #require(answer["items"]?.arrayValue, sourceLocation: sourceLocation)
            #expect(
                offline == items.compactMap { $0["id"]?.stringValue }, "\(name), user \(id)",
                sourceLocation: sourceLocation)
            check(items)
            compared += 1
        }
        #expect(compared == Self.tastes * Self.usersPerTaste, sourceLocation: sourceLocation)
        return compared
    }
}
