import COpenBLAS
import Foundation

/// SASRec's request-time pass for one history without a tape: the newest position's hidden state, the same function
/// as ``SASRecForward/newestHidden(recentItems:attention:)`` up to rounding, computed straight into one scratch
/// buffer. Serving needs no gradients, so it records no nodes, keeps no saved statistics, adds each bias by starting
/// the product from it (sgemm with beta = 1), adds each residual the same way, and normalises rows with SIMD sums.
///
/// Every block but the last runs over all `n` rows (their outputs are the last block's keys and values); the last
/// block computes its query, attention, feed-forward and the final norm for the newest row alone.
struct SASRecServingPass {
    let configuration: SASRecConfiguration
    /// Every weight in `SASRecNetwork.parameters` order; weight i starts at `offsets[i]`.
    let values: UnsafeBufferPointer<Float>
    let offsets: [Int]

    private func weight(_ index: Int) -> UnsafePointer<Float> { values.baseAddress! + offsets[index] }

    /// Floats of scratch `newestHidden` needs for `n` items.
    static func scratchCount(n: Int, dimension d: Int) -> Int { 7 * n * d + n * n + 2 * d }

    /// Writes the newest position's hidden state of `items` (network ids, oldest first, 1 ≤ n ≤ `maxLength`, no
    /// padding) into `query` (`dimension` floats) and that row's last-block attention weights into `attention`
    /// (`heads × n`, head by head). `scratch` holds ``scratchCount(n:dimension:)`` floats.
    func newestHidden(
        items: UnsafeBufferPointer<Int32>, query: UnsafeMutableBufferPointer<Float>,
        attention: UnsafeMutableBufferPointer<Float>, scratch: UnsafeMutableBufferPointer<Float>
    ) {
        let n = items.count, d = configuration.dimension, length = configuration.maxLength
        let heads = configuration.heads, headWidth = d / heads
        precondition(n >= 1 && n <= length, "newestHidden: \(n) items, not 1 to \(length)")
        precondition(query.count == d && attention.count == heads * n, "newestHidden: output sizes")
        precondition(scratch.count >= Self.scratchCount(n: n, dimension: d), "newestHidden: scratch too small")
        let rows = n * d
        let x = scratch.baseAddress!, normed = x + rows, q = normed + rows, k = q + rows, v = k + rows
        let attended = v + rows, inner = attended + rows, scores = inner + rows, row = scores + n * n
        let rowInner = row + d

        // Item embeddings × √d plus the positions they take when left-padded (the newest at maxLength − 1).
        let items0 = weight(0), positions0 = weight(1), scale = Float(d).squareRoot()
        for t in 0..<n {
            precondition(items[t] >= 0 && Int(items[t]) <= configuration.itemCount,
                "newestHidden: item \(items[t]) outside the table of \(configuration.itemCount + 1) rows")
            let item = items0 + Int(items[t]) * d, position = positions0 + (length - n + t) * d, out = x + t * d
            for c in 0..<d { out[c] = item[c] * scale + position[c] }
        }
        let slots = SASRecBlock.Slot.allCases.count
        let attentionScale = 1 / Float(headWidth).squareRoot()
        for b in 0..<configuration.blocks {
            let first = SASRecForward.firstBlockWeight + b * slots
            func w(_ slot: SASRecBlock.Slot) -> UnsafePointer<Float> { weight(first + slot.rawValue) }
            let last = b == configuration.blocks - 1
            layerNorm(x, rows: n, width: d, gamma: w(.attentionNormScale), beta: w(.attentionNormShift), into: normed)
            linear(normed, rows: n, w(.keyWeight), w(.keyBias), into: k, width: d)
            linear(normed, rows: n, w(.valueWeight), w(.valueBias), into: v, width: d)
            if !last {
                linear(normed, rows: n, w(.queryWeight), w(.queryBias), into: q, width: d)
                for h in 0..<heads {
                    let column = h * headWidth
                    gemm(false, true, n, n, headWidth, alpha: attentionScale, q + column, d, k + column, d,
                        beta: 0, scores, n)
                    for i in 0..<n { softmax(scores + i * n, count: i + 1, zeroingTo: n) }
                    gemm(false, false, n, headWidth, n, scores, n, v + column, d, beta: 0, attended + column, d)
                }
                // x += attended · Woᵀ + bo, then x += relu(LN(x) · W1ᵀ + b1) · W2ᵀ + b2.
                addLinear(attended, rows: n, w(.outputWeight), w(.outputBias), into: x, width: d)
                layerNorm(x, rows: n, width: d, gamma: w(.feedForwardNormScale), beta: w(.feedForwardNormShift),
                    into: normed)
                linear(normed, rows: n, w(.innerWeight), w(.innerBias), into: inner, width: d)
                activate(inner, count: rows)
                addLinear(inner, rows: n, w(.outerWeight), w(.outerBias), into: x, width: d)
                continue
            }
            // The last block: the newest row's query against every key.
            let newestNormed = normed + (n - 1) * d, newest = x + (n - 1) * d
            linear(newestNormed, rows: 1, w(.queryWeight), w(.queryBias), into: q, width: d)
            for h in 0..<heads {
                let column = h * headWidth
                let p = attention.baseAddress! + h * n
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(headWidth), attentionScale, k + column,
                    Int32(d), q + column, 1, 0, p, 1)
                softmax(p, count: n, zeroingTo: n)
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(headWidth), 1, v + column, Int32(d), p, 1, 0,
                    attended + column, 1)
            }
            addLinear(attended, rows: 1, w(.outputWeight), w(.outputBias), into: newest, width: d)
            layerNorm(newest, rows: 1, width: d, gamma: w(.feedForwardNormScale), beta: w(.feedForwardNormShift),
                into: row)
            linear(row, rows: 1, w(.innerWeight), w(.innerBias), into: rowInner, width: d)
            activate(rowInner, count: d)
            addLinear(rowInner, rows: 1, w(.outerWeight), w(.outerBias), into: newest, width: d)
            let final = SASRecForward.firstBlockWeight + configuration.blocks * slots
            layerNorm(newest, rows: 1, width: d, gamma: weight(final), beta: weight(final + 1), into: query.baseAddress!)
        }
    }

    /// out = input · Wᵀ + bias (`W` is `[width, width]`, PyTorch's `[out, in]`).
    private func linear(
        _ input: UnsafePointer<Float>, rows: Int, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, width: Int
    ) {
        for r in 0..<rows { (out + r * width).update(from: bias, count: width) }
        product(input, rows: rows, w, into: out, width: width)
    }

    /// out += input · Wᵀ + bias: a residual connection.
    private func addLinear(
        _ input: UnsafePointer<Float>, rows: Int, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, width: Int
    ) {
        for r in 0..<rows {
            let o = out + r * width
            for c in 0..<width { o[c] += bias[c] }
        }
        product(input, rows: rows, w, into: out, width: width)
    }

    /// out += input · Wᵀ.
    private func product(
        _ input: UnsafePointer<Float>, rows: Int, _ w: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        width: Int
    ) {
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(width), Int32(width), 1, w, Int32(width), input, 1, 1, out, 1)
        } else {
            gemm(false, true, rows, width, width, input, width, w, width, beta: 1, out, width)
        }
    }

    /// The feed-forward activation in place.
    private func activate(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch configuration.activation {
        case .relu: for j in 0..<count { values[j] = Swift.max(values[j], 0) }
        case .gelu: for j in 0..<count { values[j] = 0.5 * values[j] * (1 + erff(values[j] * 0.70710678)) }
        }
    }

    /// Softmax of the first `count` values in place; the values from `count` to `total` become 0 (masked keys).
    private func softmax(_ p: UnsafeMutablePointer<Float>, count: Int, zeroingTo total: Int) {
        var largest = -Float.infinity
        for j in 0..<count { largest = Swift.max(largest, p[j]) }
        var sum: Float = 0
        for j in 0..<count {
            p[j] = expf(p[j] - largest)
            sum += p[j]
        }
        let inverse = 1 / sum
        for j in 0..<count { p[j] *= inverse }
        for j in count..<Swift.max(count, total) { p[j] = 0 }
    }

    /// Row-wise layer normalisation (biased variance, ε = 1e-5, as the tape's), eight lanes at a time when the width
    /// allows.
    private func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        let lanes = width % 8 == 0 ? width / 8 : 0
        for r in 0..<rows {
            let input = x + r * width, output = out + r * width
            var mean: Float = 0, variance: Float = 0
            if lanes > 0 {
                let raw = UnsafeRawPointer(input)
                func lane(_ j: Int) -> SIMD8<Float> { raw.loadUnaligned(fromByteOffset: j * 32, as: SIMD8<Float>.self) }
                var total = SIMD8<Float>()
                for j in 0..<lanes { total += lane(j) }
                mean = total.sum() / Float(width)
                var squares = SIMD8<Float>()
                for j in 0..<lanes {
                    let centred = lane(j) - mean
                    squares += centred * centred
                }
                variance = squares.sum() / Float(width)
            } else {
                for c in 0..<width { mean += input[c] }
                mean /= Float(width)
                for c in 0..<width { variance += (input[c] - mean) * (input[c] - mean) }
                variance /= Float(width)
            }
            let inverse = 1 / (variance + 1e-5).squareRoot()
            for c in 0..<width { output[c] = (input[c] - mean) * inverse * gamma[c] + beta[c] }
        }
    }
}
