import Foundation

/// What the sampled-softmax backward pass needs.
struct SampledSoftmaxRecord {
    var positive: Int
    var negatives: Int
    /// `[rows, 1 + negatives]` softmax of the corrected logits, the positive first.
    var probabilities: UnsafeMutablePointer<Float>
    var weights: UnsafeMutablePointer<Float>
    var totalWeight: Float
}

extension Tape {
    /// The weighted mean of `f(i)` over rows with a positive weight; `(loss, totalWeight)`.
    private func weightedMean(
        _ count: Int, _ weights: UnsafeMutablePointer<Float>, _ f: (Int) -> Double
    ) -> (Float, Float) {
        var total: Double = 0, weight: Double = 0
        for i in 0..<count where weights[i] > 0 {
            total += Double(weights[i]) * f(i)
            weight += Double(weights[i])
        }
        return weight > 0 ? (Float(total / weight), Float(weight)) : (0, 0)
    }

    private func savedWeights(_ weights: UnsafeBufferPointer<Float>?, count: Int) -> UnsafeMutablePointer<Float> {
        let w = floats.allocate(count)
        if let weights {
            precondition(weights.count == count, "loss: \(weights.count) weights for \(count) rows")
            w.update(from: weights.baseAddress!, count: count)
        } else {
            w.update(repeating: 1, count: count)
        }
        return w
    }

    // MARK: - Binary cross-entropy

    /// Binary cross-entropy on logits, −[t log σ(x) + (1 − t) log(1 − σ(x))], computed stably, averaged over
    /// elements with weight (`weights`, default 1; 0 drops a padded position).
    public func binaryCrossEntropy(
        logits: Variable, targets: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>? = nil
    ) -> Variable {
        let n = shape(logits.index).count
        precondition(targets.count == n, "binaryCrossEntropy: \(targets.count) targets for \(n) logits")
        let t = floats.allocate(n)
        t.update(from: targets.baseAddress!, count: n)
        let w = savedWeights(weights, count: n)
        let x = value(logits.index)
        let (loss, total) = weightedMean(n, w) { i in
            let xi = Double(x[i])
            return Swift.max(xi, 0) - xi * Double(t[i]) + log1p(exp(-abs(xi)))
        }
        let (v, c) = output(.scalar, logits,
            operation: .binaryCrossEntropy(logits: logits.index, targets: t, weights: w, totalWeight: total))
        c[0] = loss
        return v
    }

    func binaryCrossEntropyBackward(
        _ g: UnsafeMutablePointer<Float>, _ logits: Int, _ t: UnsafeMutablePointer<Float>,
        _ w: UnsafeMutablePointer<Float>, _ total: Float
    ) {
        guard let gx = gradientBuffer(logits), total > 0 else { return }
        let x = value(logits)
        for i in 0..<shape(logits).count where w[i] > 0 {
            gx[i] += g[0] * w[i] / total * (1 / (1 + expf(-x[i])) - t[i])
        }
    }

    // MARK: - BPR

    /// Bayesian personalised ranking, −log σ(positive − negative), averaged over weighted pairs.
    public func bpr(positive: Variable, negative: Variable, weights: UnsafeBufferPointer<Float>? = nil) -> Variable {
        let n = shape(positive.index).count
        precondition(shape(negative.index).count == n, "bpr: positive and negative counts differ")
        let w = savedWeights(weights, count: n)
        let p = value(positive.index), q = value(negative.index)
        let (loss, total) = weightedMean(n, w) { i in
            let d = Double(q[i] - p[i])  // softplus(negative − positive)
            return Swift.max(d, 0) + log1p(exp(-abs(d)))
        }
        let (v, c) = output(.scalar, positive, negative,
            operation: .bpr(positive: positive.index, negative: negative.index, weights: w, totalWeight: total))
        c[0] = loss
        return v
    }

    func bprBackward(
        _ g: UnsafeMutablePointer<Float>, _ positive: Int, _ negative: Int, _ w: UnsafeMutablePointer<Float>,
        _ total: Float
    ) {
        guard total > 0 else { return }
        let p = value(positive), q = value(negative)
        let gp = gradientBuffer(positive), gq = gradientBuffer(negative)
        for i in 0..<shape(positive).count where w[i] > 0 {
            let s = 1 / (1 + expf(p[i] - q[i]))  // σ(negative − positive)
            let d = g[0] * w[i] / total * s
            gp?[i] -= d
            gq?[i] += d
        }
    }

    // MARK: - Full softmax cross-entropy

    /// Softmax cross-entropy of `[rows, classes]` logits against class `targets` (one per row), averaged over rows
    /// with weight.
    public func softmaxCrossEntropy(
        logits: Variable, targets: UnsafeBufferPointer<Int32>, weights: UnsafeBufferPointer<Float>? = nil
    ) -> Variable {
        let s = shape(logits.index)
        let rows = s.rows, classes = s.last
        precondition(targets.count == rows, "softmaxCrossEntropy: \(targets.count) targets for \(rows) rows")
        let t = integers.allocate(rows)
        t.update(from: targets.baseAddress!, count: rows)
        let w = savedWeights(weights, count: rows)
        let probabilities = floats.allocate(rows * classes)
        let x = value(logits.index)
        Parallel.forEachRange(rows, work: rows * classes * 8) { range in
            softmaxRows(x + range.lowerBound * classes, into: probabilities + range.lowerBound * classes,
                rows: range.count, width: classes, logarithm: true)
        }
        let (loss, total) = weightedMean(rows, w) { r in
            precondition(t[r] >= 0 && Int(t[r]) < classes, "softmaxCrossEntropy: target \(t[r]) out of range")
            return -Double(probabilities[r * classes + Int(t[r])])
        }
        let (v, c) = output(.scalar, logits,
            operation: .softmaxCrossEntropy(logits: logits.index, targets: t, weights: w, probabilities: probabilities,
                totalWeight: total))
        c[0] = loss
        return v
    }

    func softmaxCrossEntropyBackward(
        _ g: UnsafeMutablePointer<Float>, _ logits: Int, _ t: UnsafeMutablePointer<Int32>,
        _ w: UnsafeMutablePointer<Float>, _ logProbabilities: UnsafeMutablePointer<Float>, _ total: Float
    ) {
        guard let gx = gradientBuffer(logits), total > 0 else { return }
        let s = shape(logits)
        let rows = s.rows, classes = s.last
        Parallel.forEachRange(rows, work: rows * classes * 8) { range in
            for r in range where w[r] > 0 {
                let f = g[0] * w[r] / total
                let lp = logProbabilities + r * classes, out = gx + r * classes
                for k in 0..<classes { out[k] += f * expf(lp[k]) }
                out[Int(t[r])] -= f
            }
        }
    }

    // MARK: - Sampled softmax with logQ correction

    /// Sampled softmax cross-entropy: each row's positive logit `[rows]` against `[rows, samples]` negative logits
    /// (negatives shared by the batch, drawn from a proposal q), each logit corrected by − log q(item) so the loss
    /// estimates the full softmax (Yi et al. 2019). A negative equal to the row's positive (an accidental hit) is
    /// left out. `positiveLogQ` is `[rows]`, `negativeLogQ` and `negativeIDs` are `[samples]`, `positiveIDs` `[rows]`.
    public func sampledSoftmax(
        positive: Variable, negatives: Variable, positiveIDs: UnsafeBufferPointer<Int32>,
        negativeIDs: UnsafeBufferPointer<Int32>, positiveLogQ: UnsafeBufferPointer<Float>,
        negativeLogQ: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>? = nil
    ) -> Variable {
        let rows = shape(positive.index).count, samples = shape(negatives.index).last
        precondition(shape(negatives.index).count == rows * samples, "sampledSoftmax: negatives must be [rows, samples]")
        precondition(positiveIDs.count == rows && positiveLogQ.count == rows, "sampledSoftmax: per-row inputs")
        precondition(negativeIDs.count == samples && negativeLogQ.count == samples, "sampledSoftmax: per-sample inputs")
        let w = savedWeights(weights, count: rows)
        let width = samples + 1
        let corrected = floats.allocate(rows * width)
        let p = value(positive.index), q = value(negatives.index)
        // Where each sampled item sits among the samples, to mask accidental hits without a compare per logit.
        var samplesOfItem: [Int32: [Int]] = [:]
        for s in 0..<samples { samplesOfItem[negativeIDs[s], default: []].append(s) }
        for r in 0..<rows {
            let row = corrected + r * width, logits = q + r * samples
            row[0] = p[r] - positiveLogQ[r]
            for s in 0..<samples { row[1 + s] = logits[s] - negativeLogQ[s] }
            for s in samplesOfItem[positiveIDs[r]] ?? [] { row[1 + s] = -.infinity }
        }
        let probabilities = floats.allocate(rows * width), logNormalizers = floats.allocate(rows)
        softmaxRows(corrected, into: probabilities, rows: rows, width: width, logarithm: false,
            logNormalizers: logNormalizers)
        let (loss, total) = weightedMean(rows, w) { r in Double(logNormalizers[r]) - Double(corrected[r * width]) }
        let record = SampledSoftmaxRecord(positive: positive.index, negatives: negatives.index,
            probabilities: probabilities, weights: w, totalWeight: total)
        let (v, c) = output(.scalar, positive, negatives, operation: .sampledSoftmax(record))
        c[0] = loss
        return v
    }

    func sampledSoftmaxBackward(_ g: UnsafeMutablePointer<Float>, _ record: SampledSoftmaxRecord) {
        guard record.totalWeight > 0 else { return }
        let rows = shape(record.positive).count, samples = shape(record.negatives).last
        let width = samples + 1
        let gp = gradientBuffer(record.positive), gn = gradientBuffer(record.negatives)
        for r in 0..<rows where record.weights[r] > 0 {
            let f = g[0] * record.weights[r] / record.totalWeight
            let pr = record.probabilities + r * width
            gp?[r] += f * (pr[0] - 1)
            if let gn { for s in 0..<samples { gn[r * samples + s] += f * pr[1 + s] } }
        }
    }
}
