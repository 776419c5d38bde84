import Testing
@testable import RecNeural

/// NCF's op and network gradients, its scorer against the tape, NeuMF's pre-trained initialisation, and that each
/// variant learns a tiny implicit-feedback task.
@Suite struct NCFTests {
    @Test func concatenateGradient() {
        let a = randomParameter("a", Shape(3, 2), seed: 21)
        let b = randomParameter("b", Shape(3, 4), seed: 22)
        GradientCheck().check([a, b]) { t in
            let y = t.concatenate(t.parameter(a), t.parameter(b))
            #expect(t.shape(of: y) == Shape(3, 6))
            return y
        }
    }

    static func network(_ variant: NCFConfiguration.Variant, users: Int = 5, items: Int = 7, layers: Int = 2) -> NCFNetwork {
        var c = NCFConfiguration(userCount: users, itemCount: items)
        c.variant = variant
        c.factors = 2
        c.layers = layers
        c.seed = 3
        let network = NCFNetwork(c)
        // Larger embeddings than the 0.01 initialisation, so finite differences see every path.
        var g = SeededGenerator(seed: 9)
        for p in [network.gmfUser, network.gmfItem, network.mlpUser, network.mlpItem].compactMap({ $0 }) {
            p.initializeNormal(std: 1, using: &g)
        }
        for layer in network.tower { for i in layer.bias.value.indices { layer.bias.value[i] = 0.5 } }
        return network
    }

    @Test(arguments: NCFConfiguration.Variant.allCases)
    func networkGradient(variant: NCFConfiguration.Variant) {
        let network = Self.network(variant)
        let users: [Int32] = [0, 1, 4, 1], items: [Int32] = [2, 6, 0, 2]
        GradientCheck().check(network.parameters) { t in
            let u = t.scratchIntegers(4), i = t.scratchIntegers(4)
            _ = u.update(fromContentsOf: users)
            _ = i.update(fromContentsOf: items)
            return network.logits(t, users: UnsafeBufferPointer(u), items: UnsafeBufferPointer(i))
        }
    }

    /// The tape's logits for every item of a user, for comparison with the scorer.
    static func tapeLogits(_ network: NCFNetwork, user: Int) -> [Float] {
        let n = network.configuration.itemCount
        let tape = Tape(isTraining: false)
        let u = tape.scratchIntegers(n), i = tape.scratchIntegers(n)
        for k in 0..<n {
            u[k] = Int32(user)
            i[k] = Int32(k)
        }
        return Array(tape.values(of: network.logits(tape, users: UnsafeBufferPointer(u), items: UnsafeBufferPointer(i))))
    }

    @Test(arguments: NCFConfiguration.Variant.allCases)
    func scorerMatchesTheTape(variant: NCFConfiguration.Variant) {
        for layers in [1, 3] {
            let network = Self.network(variant, layers: layers)
            let scorer = NCFScorer(network: network)
            var scores = [Float](repeating: 0, count: 7)
            for user in 0..<5 {
                scores.withUnsafeMutableBufferPointer { scorer.scores(user: user, into: $0) }
                for (a, b) in zip(scores, Self.tapeLogits(network, user: user)) {
                    #expect(abs(a - b) <= 1e-4 * max(1, abs(b)), "\(variant) layers \(layers) user \(user)")
                }
            }
        }
    }

    @Test func neuMFFromPretrainedMixesBothOutputs() {
        let gmf = Self.network(.gmf), mlp = Self.network(.mlp)
        let neumf = NCFNetwork(neuMFFrom: gmf, mlp: mlp, alpha: 0.3)
        for user in 0..<5 {
            let expected = zip(Self.tapeLogits(gmf, user: user), Self.tapeLogits(mlp, user: user)).map {
                0.3 * $0 + 0.7 * $1
            }
            for (a, b) in zip(Self.tapeLogits(neumf, user: user), expected) { #expect(abs(a - b) < 1e-4) }
        }
    }

    /// Two groups of users, each meeting a random half of its own group's 10 items; chance puts a held-out item of
    /// the user's group in the top 5 of the 20 items about a quarter of the time.
    @Test(arguments: NCFConfiguration.Variant.allCases)
    func learnsGroupPreferences(variant: NCFConfiguration.Variant) {
        var g = SeededGenerator(seed: 4)
        var users: [Int32] = [], items: [Int32] = []
        var heldOut: [(user: Int, item: Int)] = []
        for user in 0..<60 {
            let group = user % 2
            var own = Array(0..<10).map { group * 10 + $0 }
            own.shuffle(using: &g)
            for item in own.prefix(6) {
                users.append(Int32(user))
                items.append(Int32(item))
            }
            heldOut.append((user, own[6]))
        }
        var c = NCFConfiguration(userCount: 61, itemCount: 20)
        c.variant = variant
        c.factors = 8
        c.layers = 2
        c.seed = 5
        let network = NCFNetwork(c)
        var settings = NCFTrainer.Settings()
        settings.batchSize = 64
        settings.learningRate = 0.01
        let trainer = NCFTrainer(network: network, users: users, items: items, settings: settings)
        let first = trainer.trainEpoch()
        var last = first
        for _ in 0..<40 { last = trainer.trainEpoch() }
        #expect(last < first * 0.8, "\(variant): loss \(first) → \(last)")
        let scorer = NCFScorer(network: network)
        #expect(!scorer.knows(user: 60) && scorer.knows(user: 0))
        var hits = 0
        var scores = [Float](repeating: 0, count: 20)
        for (user, item) in heldOut {
            scores.withUnsafeMutableBufferPointer { scorer.scores(user: user, into: $0) }
            let met = Set(zip(users, items).filter { $0.0 == Int32(user) }.map { Int($0.1) })
            let rank = (0..<20).filter { !met.contains($0) && scores[$0] > scores[item] }.count
            if rank < 5 { hits += 1 }
        }
        #expect(Double(hits) / Double(heldOut.count) > 0.6, "\(variant): \(hits) of \(heldOut.count) in the top 5")
    }
}
