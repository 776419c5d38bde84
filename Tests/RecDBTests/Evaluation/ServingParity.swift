import Foundation
import Testing

@testable import RecDB

/// "Offline top 10 equals served top 10", the check the parity tests of every model kind share: ``ServingParityTests``'
/// shop written twice — whole (what evaluation splits) and with each user's last two events held out (what serves) —
/// and each held-out user's offline ranking compared with the list a statement serves.
///
/// Here rather than in RecDBTestSupport: it reads the evaluator's internals (`@testable`), which a support library
/// built without `-enable-testing` cannot.
struct ServingParity {
    typealias Fixture = ServingParityTests

    /// Every event of the fixture (evaluation splits it).
    let full: RecDatabase
    /// The catalog and the training events only: the database that serves.
    let served: RecDatabase
    /// The leave-last-out split of `full`.
    let split: EvaluationSplit
    /// The catalog's items, for the models that train on them.
    let catalog: [Item]
    let evaluator: Evaluator

    /// Writes both databases into `folder` (without syncing).
    init(in folder: TemporaryDirectory) throws {
        var options = RecDatabase.Options()
        options.storage.noSync = true
        full = try folder.createDatabase("full", options: options)
        try Fixture.writeItems(full)
        try Fixture.writeEvents(full, Fixture.events)
        let (log, catalog) = try full.read { r -> (InteractionLog, [Item]) in
            var items: [Item] = []
            try r.forEachItem { items.append($0); return .next }
            return (try r.interactionLog(), items)
        }
        self.catalog = catalog
        split = EvaluationSplit(log, kind: .leaveLastOut)
        // Each user's last two events held out (validation and test).
        let byUser = Dictionary(grouping: Fixture.events, by: \.user)
        let trainingEvents = Fixture.events.filter { e in
            let own = byUser[e.user]!
            return own.firstIndex { $0.item == e.item }! < own.count - 2
        }
        served = try folder.createDatabase("train", options: options)
        try Fixture.writeItems(served)
        try Fixture.writeEvents(served, trainingEvents)
        evaluator = Evaluator(split: split, catalogItems: catalog.count, sessionGap: full.sessionGap)
    }

    /// For every held-out user, expects `model`'s offline top 10 to equal the items `statement` (with `$u` the user)
    /// serves, and hands `check` each served answer's items; returns how many users were compared.
    @discardableResult
    func expectOfflineEqualsServed(
        _ model: any Recommender, statement: String, name: String, check: ([QueryValue]) -> Void = { _ in },
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Int {
        var compared = 0
        for user in split.test.keys.sorted() {
            let offline = evaluator.ranking(for: user, model: model).map { "i\($0)" }
            let id = try #require(try full.read { r in try r.externalUserID(user) })
            let answer = try served.query(statement, parameters: ["u": .string(id)])
            let items = try #require(answer["items"]?.arrayValue, sourceLocation: sourceLocation)
            #expect(
                offline == items.compactMap { $0["id"]?.stringValue }, "\(name), user \(id)",
                sourceLocation: sourceLocation)
            check(items)
            compared += 1
        }
        #expect(compared == Fixture.tastes * Fixture.usersPerTaste, sourceLocation: sourceLocation)
        return compared
    }
}
