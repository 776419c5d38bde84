import Foundation
import Testing

@testable import RecDB

/// CFGAN: its generator learns a user's taste from the training items alone, and ALS/BPR trained with its synthetic
/// interactions store them apart from the events (never in a user's history, SHOW USER or SHOW STATS).
@Suite("CFGAN augmentation")
struct CFGANTests {
    /// 4 tastes of 10 items (taste t: items 10t … 10t + 9); 80 users, user u of taste u mod 4. Users 0–59 have 6 of
    /// their taste's items, users 60–79 only 2 (the sparse ones).
    static var tasteLog: InteractionLog {
        var pairs: [(UInt32, UInt32)] = []
        for user in 0..<80 {
            let base = (user % 4) * 10
            for k in 0..<(user < 60 ? 6 : 2) { pairs.append((UInt32(user), UInt32(base + (user * 3 + k * 7) % 10))) }
        }
        return .pairs(pairs, users: 80, items: 40)
    }

    static var small: CFGANModel.Parameters {
        var p = CFGANModel.Parameters()
        p.hidden = 16
        p.epochs = 150
        p.learningRate = 0.01
        p.batchUsers = 16
        return p
    }

    @Test func syntheticItemsConcentrateOnTheUsersTaste() {
        let model = CFGANModel(log: Self.tasteLog, parameters: Self.small)
        #expect(model.discriminatorLoss.isFinite)
        let pairs = model.synthesise(sparseUsers: 2, perUser: 3)
        #expect(pairs.count == 60 && pairs.allSatisfy { $0.user >= 60 }, "\(pairs.count) pairs")
        // Chance: 8 of the 38 items a sparse user lacks are of their taste (21 %).
        let own = pairs.filter { Int($0.item) / 10 == Int($0.user) % 4 }.count
        #expect(Double(own) / Double(max(pairs.count, 1)) >= 0.8, "\(own) of \(pairs.count) of the user's taste")
        // None is an item the user has.
        let log = Self.tasteLog
        let had = Set((0..<log.count).map { UInt64(log.users[$0]) << 32 | UInt64(log.items[$0]) })
        #expect(pairs.allSatisfy { !had.contains(UInt64($0.user) << 32 | UInt64($0.item)) })
    }

    @Test func augmentedLogKeepsItsOrderAndWeighsSyntheticPairs() {
        var augmentation = CFGANAugmentation()
        augmentation.weight = 0.3
        augmentation.sparseUsers = 2
        augmentation.gan = Self.small
        augmentation.gan.epochs = 5
        let (log, synthetic) = augmentation.augment(Self.tasteLog)
        #expect(log.count == Self.tasteLog.count + synthetic.count && !synthetic.isEmpty)
        #expect(zip(log.users, log.users.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(log.weights.filter { $0 == 0.3 }.count == synthetic.count)
    }

    @Test(arguments: ["als", "bpr"])
    func refreshStoresSyntheticInteractionsApartFromEvents(kind: String) throws {
        try TemporaryDirectory.with { folder in
            let db = try NCFTests.makeDatabase(folder)
            var augmentation = CFGANAugmentation()
            augmentation.weight = 0.3
            augmentation.sparseUsers = 7  // every user of this shop has 7 items
            augmentation.itemsPerUser = 2
            augmentation.gan = Self.small
            augmentation.gan.epochs = 20
            var als = ALSModel.Parameters()
            als.factors = 8
            var bpr = BPRModel.Parameters()
            bpr.factors = 8
            let spec: ModelSpec = kind == "als"
                ? .als(als, augmentation: augmentation) : .bpr(bpr, augmentation: augmentation)
            let statsBefore = try db.query("SHOW STATS")
            let userBefore = try db.query("SHOW USER 'u0' HISTORY LIMIT 100")
            let report = try db.refresh(spec, threads: 1)
            #expect(report.record.parameters["augment_weight"] == 0.3)
            let synthetic = try db.read { r in try r.syntheticInteractions(report.record) }
            #expect(synthetic.count == 2 * NCFTests.users)
            // Stored apart: no synthetic pair is an event, and the events, history and stats are unchanged.
            try db.read { r in
                for pair in synthetic.prefix(20) {
                    let seen = try r.seenItems(ofUserID: pair.user)
                    #expect(!seen.contains(pair.item))
                }
            }
            #expect(try db.query("SHOW STATS") == statsBefore)
            #expect(try db.query("SHOW USER 'u0' HISTORY LIMIT 100") == userBefore)
            // The model serves as usual.
            let top = NCFTests.ids(try db.query("RECOMMEND 3 ITEMS FOR USER u0 USING \(kind) STRICT"))
            #expect(top.count == 3)
            // A refresh without augmentation stores none.
            let plain = try db.refresh(kind == "als" ? .als(als) : .bpr(bpr), threads: 1)
            #expect(try db.read { r in try r.syntheticInteractions(plain.record) }.isEmpty)
        }
    }

    @Test func evaluationTrainsTheGANOnTheTrainingSplitAndBadWeightsAreRefused() throws {
        try TemporaryDirectory.with { folder in
            let db = try NCFTests.makeDatabase(folder)
            var augmentation = CFGANAugmentation()
            augmentation.weight = 0.3
            augmentation.sparseUsers = 7
            augmentation.gan = Self.small
            augmentation.gan.epochs = 10
            var als = ALSModel.Parameters()
            als.factors = 8
            let (_, rows) = try db.evaluate([.als(als, augmentation: augmentation)], split: .leaveLastOut, k: 3, threads: 1)
            #expect(rows.count == 1 && rows[0].result.ndcg >= 0)
            augmentation.weight = -1
            #expect {
                try db.refresh(.als(als, augmentation: augmentation), threads: 1)
            } throws: { error in
                (error as? RecDBError)?.code == .invalidArgument && "\(error)".contains("augment_weight")
            }
        }
    }
}
