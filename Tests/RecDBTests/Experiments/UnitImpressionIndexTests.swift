import Foundation
import Testing

@testable import RecDB

/// The impression log and the unit index in memory that replaced the on-disk unit index: attribution after a reopen,
/// impressions another writer committed, the window's edge, pruning and back-dated events, and a format-3 file.
@Suite("Unit impression index")
struct UnitImpressionIndexTests {
    static let create = ExperimentTests.create + " WINDOW 1 HOURS"
    static let start = Timestamp(milliseconds: 1_800_000_000_000)

    static func at<R>(minutes: Int64, _ body: () throws -> R) rethrows -> R {
        try Timestamp.$pinned.withValue(Timestamp(milliseconds: start.milliseconds + minutes * 60_000), operation: body)
    }

    static func clicks(_ db: RecDatabase) throws -> Int {
        let rows = try db.query("SHOW EXPERIMENT ranker")["variants"]?.arrayValue ?? []
        return Int(rows.compactMap { $0["clicks"]?.numberValue }.reduce(0, +))
    }

    static func show(_ db: RecDatabase, _ user: String, count: Int = 4) throws -> [String] {
        ExperimentTests.items(try db.query("RECOMMEND \(count) ITEMS FOR USER '\(user)' IN EXPERIMENT ranker"))
    }

    /// Impressions recorded, the database closed and opened again: the new process's index is built from the log and
    /// credits events that name no recommendation, and still ignores items the page did not show.
    @Test func attributionAfterReopenReadsTheLog() throws {
        try TemporaryDirectory.with { folder in
            var shown: [String: [String]] = [:]
            do {
                let db = try RecommendTests.makeDatabase(folder)
                _ = try db.query(Self.create)
                try Self.at(minutes: 0) { for user in 0..<12 { shown["u\(user)"] = try Self.show(db, "u\(user)") } }
                #expect(!db.unitImpressions.isBuilt)
            }
            var options = RecDatabase.Options()
            options.storage.noSync = true
            let db = try RecDatabase.open(at: folder.appending("db"), options: options)
            try Self.at(minutes: 10) {
                for user in 0..<12 {
                    let items = try #require(shown["u\(user)"])
                    _ = try db.query("EVENT click USER 'u\(user)' ITEM $i", parameters: ["i": .string(items[user % 4])])
                    _ = try db.query("EVENT click USER 'u\(user)' ITEM 'zz-not-shown'")
                }
            }
            #expect(db.unitImpressions.isBuilt && db.unitImpressions.count == 12)
            #expect(try Self.clicks(db) == 12)
        }
    }

    /// Impressions another writer committed (written here without telling the index, as another process's are) are
    /// read from the log's end by the next event; so are impressions recorded in the event's own transaction.
    @Test func anotherWritersImpressionsAreSeen() throws {
        try RecommendTests.with { db in
            _ = try db.query(Self.create)
            try Self.at(minutes: 0) {
                let first = try Self.show(db, "u1")
                _ = try db.query("EVENT click USER 'u1' ITEM $i", parameters: ["i": .string(first[0])])
                #expect(db.unitImpressions.isBuilt && db.unitImpressions.count == 1)
                // "Another process": an impression appended by a transaction the index is not told about.
                let experiment = try #require(try db.read { r in try r.experiment("ranker") })
                let other = Impression(
                    id: .fresh(in: experiment.number), experiment: "ranker", variant: 0, unit: "u:u2",
                    items: ["t1", "t2"], time: Timestamp.now.milliseconds)
                try db.environment.write { txn in
                    var w = try CatalogWriter(database: db, handle: txn.handle)
                    try w.record(other)
                    try w.flush()
                }
                #expect(db.unitImpressions.count == 1)
                _ = try db.query("EVENT click USER 'u2' ITEM 't2'")
                #expect(db.unitImpressions.count == 2)
                #expect(try Self.clicks(db) == 2)
                // Recorded and credited in one transaction.
                let mine = Impression(
                    id: .fresh(in: experiment.number), experiment: "ranker", variant: 1, unit: "u:u3",
                    items: ["g4"], time: Timestamp.now.milliseconds)
                let credited = try db.write { w in
                    try w.record(mine)
                    return try w.attribute(
                        EventQuery(type: "click", user: "u3", item: "g4"), sequence: 1, time: Timestamp.now)
                }
                #expect(credited == [mine.id])
                #expect(db.unitImpressions.count == 3)
            }
        }
    }

    /// An event is credited inside the window and not after it; an event back-dated before the index's horizon
    /// extends the horizon and is credited as it was before.
    @Test func windowEdgeAndBackDatedEvents() throws {
        try RecommendTests.with { db in
            _ = try db.query(Self.create)
            let early = try Self.at(minutes: 0) { try Self.show(db, "u4") }
            let late = try Self.at(minutes: 600) { try Self.show(db, "u5") }
            try Self.at(minutes: 59) { _ = try db.query("EVENT click USER 'u4' ITEM $i", parameters: ["i": .string(early[0])]) }
            #expect(try Self.clicks(db) == 1)
            try Self.at(minutes: 61) { _ = try db.query("EVENT click USER 'u4' ITEM $i", parameters: ["i": .string(early[1])]) }
            #expect(try Self.clicks(db) == 1, "credited after the window closed")
            try Self.at(minutes: 610) { _ = try db.query("EVENT click USER 'u5' ITEM $i", parameters: ["i": .string(late[0])]) }
            #expect(try Self.clicks(db) == 2)
            // Back to minute 30: before the horizon the index moved to at minute 610 only if it pruned; either way the
            // early page is found again.
            try Self.at(minutes: 30) { _ = try db.query("EVENT click USER 'u4' ITEM $i", parameters: ["i": .string(early[2])]) }
            #expect(try Self.clicks(db) == 3)
        }
    }

    /// The index against a brute-force reading of every committed entry, over random batches committed with or
    /// without telling the index, random times (some back-dated past the horizon) and a clock that moves past
    /// pruning: within each query's window, both give the same candidates in the same order.
    @Test func matchesABruteForceScanOfTheLog() throws {
        var random = SplitMix(seed: 11)
        let index = UnitImpressionIndex()
        var log: [ImpressionLogEntry] = []
        let hour: Int64 = 3_600_000
        let window = 2 * hour
        var now: Int64 = 100 * hour
        func read(_ from: UInt64, _ through: UInt64, _ body: (ImpressionLogEntry) throws -> Void) rethrows {
            for entry in log where entry.position >= from && entry.position <= through { try body(entry) }
        }
        for round in 0..<400 {
            now += Int64(random.next() % 600_000)
            let base = log.last?.position ?? 0
            var batch: [ImpressionLogEntry] = []
            for _ in 0..<Int(random.next() % 6) {
                let time = now - Int64(random.next() % 5_000)
                let position = ImpressionLog.position(after: batch.last?.position ?? base, time: time)
                let id = RecommendationID(experiment: UInt32(1 + random.next() % 2), number: random.next())
                batch.append(ImpressionLogEntry(position: position, unit: "u:\(random.next() % 7)", impression: .init(time: time, id: id)))
            }
            let own = random.next() % 3 == 0 ? batch : []
            if own.isEmpty {
                log += batch
                if random.next() % 2 == 0 { index.committed(batch, after: base, now: now) }
            }
            let committed = log.last?.position ?? 0
            let time = random.next() % 10 == 0 ? now - Int64(random.next() % UInt64(30 * hour)) : now
            let units = ["u:\(random.next() % 7)", "s:none"]
            let found = try index.latest(
                8, of: units, atOrBefore: time, window: window, committed: committed, own: own, now: now, readLog: read)
            for (unit, candidates) in zip(units, found) {
                let all = (log + own).filter { $0.unit == unit && $0.impression.time <= time }.map(\.impression)
                let expected = Array(all.sorted(by: >).prefix(8)).filter { $0.time >= time - window }
                #expect(candidates.filter { $0.time >= time - window } == expected, "round \(round)")
            }
            if !own.isEmpty {
                log += own
                if random.next() % 2 == 0 { index.committed(own, after: base, now: now) }
            }
        }
        #expect(index.count < log.count, "pruning kept every entry")
    }

    /// A format-3 file: impressions indexed in `experiment_unit_impressions`, no log. Opening it writable moves the
    /// unit index into the log, empties it and raises the format; events then credit the old impressions.
    @Test func aFormat3FileIsMigrated() throws {
        try TemporaryDirectory.with { folder in
            var shown: [String] = []
            do {
                let db = try RecommendTests.makeDatabase(folder)
                _ = try db.query(Self.create)
                try Self.at(minutes: 0) { shown = try Self.show(db, "u7") }
                try Self.at(minutes: 1) { _ = try Self.show(db, "u8") }
                // Rewrite it as format 3 wrote it: the unit index instead of the log.
                let env = db.environment
                let former = try env.database(ImpressionLog.formerUnitIndexName, key: BytesCodec.self, value: BytesCodec.self)
                let log = try #require(db.experimentSchema?.impressionLog)
                try env.write { txn in
                    var entries: [ImpressionLogEntry] = []
                    try log.scanRaw(in: txn) { key, value in
                        entries.append(try ImpressionLog.entry(position: try UInt64Codec.decode(key), value: value))
                        return .next
                    }
                    #expect(entries.count == 2)
                    for entry in entries {
                        var key = BinaryWriter()
                        key.write(entry.unit)
                        key.write(entry.impression.time)
                        key.write(entry.impression.id.experiment)
                        key.write(entry.impression.id.number)
                        try former.put(key.bytes, [1], in: &txn)
                    }
                    try log.removeAll(in: &txn)
                    var format = BinaryWriter()
                    format.write(UInt32(3))
                    try db.schema.meta.put("format", RecDatabase.magic + format.bytes, in: &txn)
                }
            }
            let db = try RecDatabase.open(at: folder.appending("db"))
            let former = try db.environment.database(
                ImpressionLog.formerUnitIndexName, key: BytesCodec.self, value: BytesCodec.self)
            let log = try #require(db.experimentSchema?.impressionLog)
            let (logged, left, format) = try db.read { r in
                (try log.count(in: r.txn), try former.count(in: r.txn), try r.schema.meta.get("format", in: r.txn))
            }
            #expect(logged == 2 && left == 0)
            #expect(format?.suffix(4) == [0, 0, 0, UInt8(RecDatabase.formatVersion)])
            try Self.at(minutes: 5) {
                _ = try db.query("EVENT click USER 'u7' ITEM $i", parameters: ["i": .string(shown[0])])
            }
            #expect(try Self.clicks(db) == 1)
            // New impressions append after the migrated ones.
            try Self.at(minutes: 6) { _ = try Self.show(db, "u9") }
            #expect(try db.read { r in try r.lastImpressionLogPosition() } >= ImpressionLog.start(of: Self.start.milliseconds + 6 * 60_000))
        }
    }
}
