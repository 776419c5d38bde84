import Foundation
import Testing

@testable import RecDB

/// IRGAN: the game's two steps do what they claim on a tiny two-taste task (the discriminator learns to tell real
/// items from the generator's, the generator's policy gradient raises the discriminator's reward), and the kind
/// refreshes, serves and refuses bad parameters like BPR.
@Suite("IRGAN model")
struct IRGANTests {
    /// 40 users; those of taste t (u mod 2) have 5 of the 10 items of their taste (items 0–9 taste 0, 10–19 taste 1).
    static var tasteLog: InteractionLog {
        var pairs: [(UInt32, UInt32)] = []
        for user in 0..<40 {
            let base = (user % 2) * 10
            for k in 0..<5 { pairs.append((UInt32(user), UInt32(base + (user * 3 + k * 2) % 10))) }
        }
        return .pairs(pairs, users: 40, items: 20)
    }

    static var small: IRGANModel.Parameters {
        var p = IRGANModel.Parameters()
        p.pretraining.factors = 8
        p.pretraining.iterations = 30
        p.pretraining.learningRate = 0.05
        p.rounds = 3
        p.learningRate = 0.05
        p.batchUsers = 8
        return p
    }

    @Test func theGeneratorsPolicyGradientRaisesTheDiscriminatorsReward() {
        var p = Self.small
        p.pretraining.iterations = 2  // a weak generator, with room to learn
        let log = Self.tasteLog
        let bpr = BPRModel(log: log, parameters: p.pretraining, threads: 1)
        let game = IRGANGame(log: log, pretrained: bpr, parameters: p)
        game.trainDiscriminator(passes: 20, round: 0)
        // The discriminator now prefers a user's real items to the other taste's.
        var real: Float = 0, other: Float = 0
        for user in 0..<40 {
            let base = (user % 2) * 10
            for item in 0..<10 {
                real += game.reward(user: user, item: base + item)
                other += game.reward(user: user, item: (base + 10) % 20 + item)
            }
        }
        #expect(real > other, "reward of own taste \(real), of the other \(other)")
        let before = game.meanReward()
        game.trainGenerator(passes: 30, round: 0)
        let after = game.meanReward()
        #expect(after > before + 0.05, "mean reward \(before) → \(after)")
    }

    @Test func trainingReportsRewardsAndLearnsTheTastes() {
        let model = IRGANModel(log: Self.tasteLog, parameters: Self.small, threads: 1)
        #expect(model.rewards.count == 4 && model.rewards.allSatisfy(\.isFinite))
        var right = 0
        for user in 0..<40 {
            let scores = model.scores(for: UInt32(user), in: Self.tasteLog, items: 20)
            let top = scores.indices.sorted { scores[$0] > scores[$1] }.prefix(5)
            right += top.filter { $0 / 10 == user % 2 }.count
        }
        #expect(right >= 180, "\(right) of 200 top-5 items of the user's taste")
    }

    @Test func refreshServesLikeBPRAndKeepsTheGenerationOnBadParameters() throws {
        try TemporaryDirectory.with { folder in
            let db = try NCFTests.makeDatabase(folder)
            var p = Self.small
            p.pretraining.iterations = 60
            let report = try db.refresh(.irgan(p), threads: 1)
            #expect(report.record.kind == .irgan && report.record.space == "irgan@1")
            var right = 0
            for user in 0..<NCFTests.users {
                let top = NCFTests.ids(try db.query(
                    "RECOMMEND 3 ITEMS FOR USER $u USING irgan STRICT", parameters: ["u": .string("u\(user)")]))
                #expect(top.count == 3 && !top.contains { NCFTests.seen(user).contains($0) })
                right += top.filter { $0.hasPrefix(NCFTests.taste(user)) }.count
            }
            #expect(Double(right) / Double(3 * NCFTests.users) >= 0.8, "\(right) of \(3 * NCFTests.users)")
            let sale = NCFTests.ids(try db.query("RECOMMEND 4 ITEMS FOR USER u0 USING irgan WHERE tags = 'sale' STRICT"))
            #expect(!sale.isEmpty && sale.allSatisfy { Int($0.dropFirst())! % 3 == 0 }, "\(sale)")
            let similar = NCFTests.ids(try db.query("RECOMMEND 3 ITEMS SIMILAR TO ITEM 'a1' USING irgan STRICT"))
            #expect(similar.count == 3)
            // Parameters go into the record and back.
            let record = try #require(try db.model("irgan"))
            #expect(record.parameters["rounds"] == 3 && record.parameters["gan_learning_rate"] == 0.05)
            #expect(StoredIRGAN(parameterTable: record.parameters) == StoredIRGAN(p))
            // A bad parameter is refused before training, naming it; the stored generation keeps serving.
            var bad = p
            bad.temperature = 0
            #expect {
                try db.refresh(.irgan(bad), threads: 1)
            } throws: { error in
                (error as? RecDBError)?.code == .invalidArgument && "\(error)".contains("temperature")
            }
            #expect(try db.model("irgan")?.generation == 1)
            let again = NCFTests.ids(try db.query("RECOMMEND 3 ITEMS FOR USER u0 USING irgan STRICT"))
            #expect(again.count == 3)
            let second = try db.refresh(.irgan(p), threads: 1)
            #expect(second.record.generation == 2 && second.record.space == "irgan@2")
            #expect(try db.spaces().map(\.name).filter { $0.hasPrefix("irgan") } == ["irgan@2"])
        }
    }

    @Test func evaluationScoresItThroughTheRegistry() throws {
        try TemporaryDirectory.with { folder in
            let db = try NCFTests.makeDatabase(folder)
            try db.refresh(.irgan(Self.small), threads: 1)
            let evaluation = try db.query("EVALUATE MODEL irgan K 3")
            #expect(evaluation["model"]?.stringValue == "irgan" && (evaluation["ndcg"]?.numberValue ?? -1) >= 0)
        }
    }
}
