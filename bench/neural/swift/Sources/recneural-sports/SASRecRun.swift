import Foundation
import RecNeural
import SportsSplit

/// Trains SASRec on the split's training parts with early stopping on validation NDCG@10, then scores test with the
/// best weights; or, in timing mode, only trains a fixed number of epochs.
struct SASRecRun {
    var configuration: SASRecConfiguration
    var settings: SASRecTrainer.Settings
    var maxEpochs: Int
    var patience: Int
    var evaluateEvery: Int
    /// Training stops at the first evaluation after this many minutes (0: no limit).
    var maxMinutes: Double
    /// Whether the full run scores the test targets too (off while screening settings on validation).
    var scoresTest: Bool
    /// Where the full run writes the kept weights (empty: nowhere), for a later `test` run.
    var weightsPath: String
    let split: SequenceSplit

    init(split: SequenceSplit, options: inout Options) {
        self.split = split
        var c = SASRecConfiguration(itemCount: split.itemCount)
        c.dimension = options.int("dim", 64)
        c.blocks = options.int("blocks", 2)
        c.heads = options.int("heads", 1)
        c.maxLength = options.int("maxlen", 50)
        c.dropout = options.float("dropout", 0.5)
        c.attentionDropout = options.float("attn_dropout", 0)
        let negatives = options.int("negatives", 256)
        switch options.string("loss", "ssm") {
        case "ssm": c.loss = .sampledSoftmax(negatives: negatives)
        case "full": c.loss = .fullSoftmax
        case "bce": c.loss = .binaryCrossEntropy
        case let other: fail("loss=\(other): expected ssm, full or bce")
        }
        c.seed = UInt64(options.int("seed", 1))
        configuration = c
        maxEpochs = options.int("epochs", 200)
        patience = options.int("patience", 5)
        evaluateEvery = options.int("eval_every", 2)
        maxMinutes = Double(options.float("max_minutes", 0))
        scoresTest = options.int("test", 1) != 0
        weightsPath = options.string("save", "")
        let batchSize = options.int("batch", 128)
        let batches = (split.userCount + batchSize - 1) / batchSize
        let decay: LearningRateSchedule.Decay
        switch options.string("decay", "constant") {
        case "constant": decay = .constant
        case "linear": decay = .linear
        case "cosine": decay = .cosine
        case let other: fail("decay=\(other): expected constant, linear or cosine")
        }
        settings = SASRecTrainer.Settings(schedule: LearningRateSchedule(peak: options.float("lr", 1e-3),
            warmupSteps: options.int("warmup", 0), totalSteps: batches * maxEpochs, decay: decay))
        settings.batchSize = batchSize
        settings.weightDecay = options.float("weight_decay", 0)
        settings.seed = UInt64(options.int("seed", 1))
        settings.packsSequences = options.int("pack", 1) != 0
    }

    /// Trains `epochs` epochs and reports seconds per epoch (no evaluation).
    func time(epochs: Int) -> [String: Any] {
        let network = SASRecNetwork(configuration)
        let trainer = SASRecTrainer(network: network, sequences: split.training, settings: settings)
        var seconds: [Double] = [], losses: [Float] = []
        for epoch in 1...epochs {
            let start = ContinuousClock.now
            losses.append(trainer.trainEpoch())
            seconds.append((ContinuousClock.now - start) / .seconds(1))
            log("swift time epoch \(epoch): loss \(losses.last!), \(String(format: "%.2f", seconds.last!)) s")
        }
        return ["side": "recdb", "seconds_per_epoch": seconds, "losses": losses.map(Double.init),
            "packs": settings.packsSequences]
    }

    /// The full run: early stopping on validation NDCG@10 every `evaluateEvery` epochs, best weights restored.
    func run() -> [String: Any] {
        let network = SASRecNetwork(configuration)
        let trainer = SASRecTrainer(network: network, sequences: split.training, settings: settings)
        var trainSeconds = 0.0, epochSeconds = 0.0, capped = false
        var curve: [[String: Any]] = []
        let runStart = ContinuousClock.now
        let outcome = EarlyStopping.run(
            parameters: network.parameters, maxEpochs: maxEpochs, patience: patience, evaluateEvery: evaluateEvery,
            trainEpoch: {
                let start = ContinuousClock.now
                let loss = trainer.trainEpoch()
                epochSeconds = (ContinuousClock.now - start) / .seconds(1)
                trainSeconds += epochSeconds
                return loss
            },
            validate: { evaluate(network, .validation).ndcg },
            onEpoch: { epoch in
                let seconds = epochSeconds
                var point: [String: Any] = ["epoch": epoch.epoch, "loss": Double(epoch.loss), "seconds": seconds]
                if let ndcg = epoch.validationMetric {
                    point["val_ndcg10"] = ndcg
                    log(String(format: "swift epoch %d: loss %.4f, %.1f s, val NDCG@10 %.4f (best epoch %d)",
                        epoch.epoch, epoch.loss, seconds, ndcg, epoch.bestEpoch ?? 0))
                } else {
                    log(String(format: "swift epoch %d: loss %.4f, %.1f s", epoch.epoch, epoch.loss, seconds))
                }
                curve.append(point)
                guard epoch.validationMetric != nil, maxMinutes > 0,
                    (ContinuousClock.now - runStart) / .seconds(60) > maxMinutes
                else { return false }
                log("swift: stopping at the \(maxMinutes)-minute cap")
                capped = true
                return true
            })
        if !weightsPath.isEmpty { save(network, to: weightsPath) }
        let validation = evaluate(network, .validation)
        var result: [String: Any] = ["side": "recdb", "val_ndcg10": validation.ndcg, "val_hr10": validation.hitRate,
            "best_epoch": outcome.bestEpoch ?? 0, "epochs": outcome.epochs, "capped": capped,
            "seconds_per_epoch": trainSeconds / Double(max(outcome.epochs, 1)),
            "wall_seconds": (ContinuousClock.now - runStart) / .seconds(1), "curve": curve]
        if scoresTest { result.merge(testScores(network)) { $1 } }
        return result
    }

    /// Test HR@10 / NDCG@10 (and validation again) of weights a full run saved with `save=PATH`.
    func test(weightsFrom path: String) -> [String: Any] {
        let network = SASRecNetwork(configuration)
        load(network, from: path)
        let validation = evaluate(network, .validation)
        return ["side": "recdb", "val_ndcg10": validation.ndcg, "val_hr10": validation.hitRate]
            .merging(testScores(network)) { $1 }
    }

    private func testScores(_ network: SASRecNetwork) -> [String: Any] {
        let test = evaluate(network, .test)
        return ["test_ndcg10": test.ndcg, "test_hr10": test.hitRate]
    }

    /// Every weight in `network.parameters` order, Float32 in machine byte order.
    private func save(_ network: SASRecNetwork, to path: String) {
        var data = Data()
        for p in network.parameters { data.append(Data(buffer: UnsafeBufferPointer(p.value))) }
        guard FileManager.default.createFile(atPath: path, contents: data) else { fail("cannot write \(path)") }
    }

    private func load(_ network: SASRecNetwork, from path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
        let expected = network.parameters.reduce(0) { $0 + $1.shape.count } * MemoryLayout<Float>.size
        guard data.count == expected else {
            fail("\(path): \(data.count) bytes, but these settings need \(expected)")
        }
        var offset = 0
        for p in network.parameters {
            let bytes = p.shape.count * MemoryLayout<Float>.size
            _ = data[offset..<(offset + bytes)].copyBytes(to: UnsafeMutableRawBufferPointer(p.value))
            offset += bytes
        }
    }

    /// Full-ranking HR@10 / NDCG@10 of `network` for every user's `target`.
    func evaluate(_ network: SASRecNetwork, _ target: SequenceSplit.Target) -> RankingEvaluator {
        let d = configuration.dimension, users = split.userCount, columns = split.itemCount + 1
        let histories = (0..<users).map { split.history($0, for: target) }
        var queries = [Float](repeating: 0, count: users * d)
        let encoder = SASRecEncoder(network: network)
        queries.withUnsafeMutableBufferPointer { encoder.encode(histories: histories, into: $0) }
        var evaluator = RankingEvaluator()
        let tape = Tape(isTraining: false)
        let chunk = 512
        for first in stride(from: 0, to: users, by: chunk) {
            let count = min(chunk, users - first)
            tape.reset()
            let q = tape.constant(queries[(first * d)..<((first + count) * d)], shape: Shape(count, d))
            let scores = tape.values(of: tape.matmul(q, tape.parameter(network.itemEmbedding), transposeB: true))
            for u in 0..<count {
                let row = UnsafeMutableBufferPointer(rebasing: scores[(u * columns)..<((u + 1) * columns)])
                evaluator.add(scores: row, history: histories[first + u], target: split.targetItem(first + u, target))
            }
        }
        return evaluator
    }
}
