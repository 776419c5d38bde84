import Foundation

extension Tape {
    /// Layer normalisation over the last dimension: (x − mean) / sqrt(var + eps) · gamma + beta, biased variance
    /// (as PyTorch's `LayerNorm`). `gamma` and `beta` are `[width]`.
    public func layerNorm(_ x: Variable, gamma: Variable, beta: Variable, epsilon: Float = 1e-5) -> Variable {
        let sx = shape(x.index)
        let rows = sx.rows, width = sx.last
        precondition(shape(gamma.index).count == width && shape(beta.index).count == width, "layerNorm: widths")
        let normalized = floats.allocate(rows * width), inverse = floats.allocate(rows)
        let (v, c) = output(sx, x, gamma, beta,
            operation: .layerNorm(x: x.index, gamma: gamma.index, beta: beta.index, normalized: normalized,
                inverseDeviation: inverse))
        let xv = value(x.index), gv = value(gamma.index), bv = value(beta.index)
        Parallel.forEachRange(rows, work: rows * width * 8) { range in
            for r in range {
                let row = xv + r * width
                var mean: Float = 0
                for k in 0..<width { mean += row[k] }
                mean /= Float(width)
                var variance: Float = 0
                for k in 0..<width { variance += (row[k] - mean) * (row[k] - mean) }
                variance /= Float(width)
                let inv = 1 / (variance + epsilon).squareRoot()
                inverse[r] = inv
                for k in 0..<width {
                    let h = (row[k] - mean) * inv
                    normalized[r * width + k] = h
                    c[r * width + k] = h * gv[k] + bv[k]
                }
            }
        }
        return v
    }

    func layerNormBackward(
        _ i: Int, _ g: UnsafeMutablePointer<Float>, _ x: Int, _ gamma: Int, _ beta: Int,
        _ normalized: UnsafeMutablePointer<Float>, _ inverse: UnsafeMutablePointer<Float>
    ) {
        let sx = shape(x)
        let rows = sx.rows, width = sx.last
        let gammaValues = value(gamma)
        if let gg = gradientBuffer(gamma) {
            for r in 0..<rows { for k in 0..<width { gg[k] += g[r * width + k] * normalized[r * width + k] } }
        }
        if let gb = gradientBuffer(beta) {
            for r in 0..<rows { for k in 0..<width { gb[k] += g[r * width + k] } }
        }
        guard let gx = gradientBuffer(x) else { return }
        Parallel.forEachRange(rows, work: rows * width * 8) { range in
            for r in range {
                var meanD: Float = 0, meanDH: Float = 0
                for k in 0..<width {
                    let d = g[r * width + k] * gammaValues[k]
                    meanD += d
                    meanDH += d * normalized[r * width + k]
                }
                meanD /= Float(width)
                meanDH /= Float(width)
                for k in 0..<width {
                    let d = g[r * width + k] * gammaValues[k]
                    gx[r * width + k] += inverse[r] * (d - meanD - normalized[r * width + k] * meanDH)
                }
            }
        }
    }

    /// Softmax over the last dimension.
    public func softmax(_ x: Variable) -> Variable {
        let sx = shape(x.index)
        let (v, c) = output(sx, x, operation: .softmax(x.index))
        softmaxRows(value(x.index), into: c, rows: sx.rows, width: sx.last, logarithm: false)
        return v
    }

    /// Log-softmax over the last dimension (x − logsumexp(x)), stable for large logits.
    public func logSoftmax(_ x: Variable) -> Variable {
        let sx = shape(x.index)
        let (v, c) = output(sx, x, operation: .logSoftmax(x.index))
        softmaxRows(value(x.index), into: c, rows: sx.rows, width: sx.last, logarithm: true)
        return v
    }

    func softmaxBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ x: Int) {
        guard let gx = gradientBuffer(x) else { return }
        let sx = shape(x), y = value(i)
        let rows = sx.rows, width = sx.last
        for r in 0..<rows {
            var dot: Float = 0
            for k in 0..<width { dot += g[r * width + k] * y[r * width + k] }
            for k in 0..<width { gx[r * width + k] += y[r * width + k] * (g[r * width + k] - dot) }
        }
    }

    func logSoftmaxBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ x: Int) {
        guard let gx = gradientBuffer(x) else { return }
        let sx = shape(x), y = value(i)
        let rows = sx.rows, width = sx.last
        for r in 0..<rows {
            var total: Float = 0
            for k in 0..<width { total += g[r * width + k] }
            for k in 0..<width { gx[r * width + k] += g[r * width + k] - expf(y[r * width + k]) * total }
        }
    }
}

/// Row-wise softmax (or log-softmax) of `rows × width` values; rows whose maximum is −∞ (every entry masked) come
/// out as zeros. With `logNormalizers`, each row's log Σ exp (so log-probability k is `x[k] − logNormalizers[r]`)
/// is written there too (−∞ for a fully masked row).
func softmaxRows(
    _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, width: Int, logarithm: Bool,
    logNormalizers: UnsafeMutablePointer<Float>? = nil
) {
    for r in 0..<rows {
        let row = x + r * width, out = y + r * width
        var maximum = -Float.infinity
        for k in 0..<width { maximum = Swift.max(maximum, row[k]) }
        if maximum == -.infinity {
            out.update(repeating: 0, count: width)
            logNormalizers?[r] = -.infinity
            continue
        }
        var total: Float = 0
        for k in 0..<width {
            let e = expf(row[k] - maximum)
            out[k] = e
            total += e
        }
        logNormalizers?[r] = logf(total) + maximum
        if logarithm {
            let logTotal = logf(total) + maximum
            for k in 0..<width { out[k] = row[k] - logTotal }
        } else {
            let inv = 1 / total
            for k in 0..<width { out[k] *= inv }
        }
    }
}
