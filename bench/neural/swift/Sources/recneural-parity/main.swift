// Trains a small SASRec for a few steps with dropout off and the full softmax loss, and writes everything PyTorch
// needs to repeat it: the initial weights, the batches, and the Swift side's per-step losses and gradients.
// Usage: recneural-parity <out.json> [steps]
import Foundation
import RecNeural

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: recneural-parity <out.json> [steps]\n".utf8))
    exit(2)
}
let steps = arguments.count > 2 ? Int(arguments[2])! : 20
var configuration = SASRecConfiguration(itemCount: 50)
configuration.dimension = 32
configuration.heads = 2
configuration.maxLength = 10
configuration.dropout = 0
configuration.loss = .fullSoftmax
configuration.seed = 3
let (batchSize, learningRate, weightDecay): (Int, Float, Float) = (16, 1e-3, 0.01)
let network = SASRecNetwork(configuration)
let optimizer = AdamOptimizer(parameters: network.parameters, variant: .adamW, weightDecay: weightDecay)

let initial: [[String: Any]] = network.parameters.map {
    ["name": $0.name, "shape": $0.shape.dimensions, "values": Array($0.value), "decays": $0.decays]
}

// Batches: left-padded random walks over the items, some sequences shorter than the window.
var generator = SeededGenerator(seed: 9)
var batches: [[String: [Int32]]] = []
var losses: [Float] = []
var gradients: [[[Float]]] = []
let length = configuration.maxLength, rows = batchSize * length
let tape = Tape(seed: 1)
for _ in 0..<steps {
    var inputs = [Int32](repeating: 0, count: rows), targets = [Int32](repeating: 0, count: rows)
    for b in 0..<batchSize {
        let n = 3 + Int(generator.next() % UInt64(length - 2))
        var item = Int32(1 + generator.next() % 50)
        for t in (length - n)..<length {
            inputs[b * length + t] = item
            item = Int32(1 + (Int(item) + Int(generator.next() % 3)) % 50)
            targets[b * length + t] = item
        }
    }
    batches.append(["inputs": inputs, "targets": targets])
    tape.reset()
    let weightsPerRow = targets.map { $0 == 0 ? Float(0) : 1 }
    let hidden = inputs.withUnsafeBufferPointer { network.hidden(tape, items: $0, batch: batchSize) }
    let logits = tape.matmul(tape.reshape(hidden, Shape(rows, configuration.dimension)),
        tape.parameter(network.itemEmbedding), transposeB: true)
    let loss = targets.withUnsafeBufferPointer { t in
        weightsPerRow.withUnsafeBufferPointer { w in tape.softmaxCrossEntropy(logits: logits, targets: t, weights: w) }
    }
    tape.backward(loss)
    losses.append(tape.scalar(loss))
    gradients.append(network.parameters.map { Array($0.gradient) })
    optimizer.step(learningRate: learningRate)
    optimizer.zeroGradients()
}

let report: [String: Any] = [
    "config": [
        "items": configuration.itemCount, "dimension": configuration.dimension, "heads": configuration.heads,
        "blocks": configuration.blocks, "max_length": length, "batch_size": batchSize,
        "learning_rate": learningRate, "weight_decay": weightDecay,
    ],
    "weights": initial, "batches": batches, "losses": losses, "gradients": gradients,
]
try JSONSerialization.data(withJSONObject: report).write(to: URL(fileURLWithPath: arguments[1]))
print("wrote \(steps) steps to \(arguments[1])")
