import Foundation

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), with PyTorch's update rules.
///
/// `.adam` adds `weightDecay · θ` to the gradient (L2); `.adamW` shrinks parameters that `decays` by
/// `learningRate · weightDecay · θ` before the Adam step (decoupled). Moments are allocated once, at `init`.
/// ```swift
/// let optimizer = AdamOptimizer(parameters: model.parameters, variant: .adamW, weightDecay: 0.01)
/// optimizer.step(learningRate: schedule.rate(atStep: step))
/// ```
public final class AdamOptimizer {
    /// How weight decay is applied.
    public enum Variant: Sendable {
        /// Adam, weight decay as an L2 term added to the gradient.
        case adam
        /// AdamW, weight decay decoupled from the gradient.
        case adamW
    }

    /// The parameters updated, in order.
    public let parameters: [Parameter]
    /// Adam or AdamW.
    public let variant: Variant
    /// β₁, the first moment's decay.
    public let beta1: Float
    /// β₂, the second moment's decay.
    public let beta2: Float
    /// ε, added to the root of the second moment.
    public let epsilon: Float
    /// The weight decay coefficient λ.
    public let weightDecay: Float
    /// Steps taken so far.
    public private(set) var stepCount = 0
    private let firstMoments: [UnsafeMutableBufferPointer<Float>]
    private let secondMoments: [UnsafeMutableBufferPointer<Float>]

    /// An optimizer over `parameters`, moments zero.
    public init(
        parameters: [Parameter], variant: Variant = .adam, beta1: Float = 0.9, beta2: Float = 0.999,
        epsilon: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.parameters = parameters
        self.variant = variant
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { p in
            let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.shape.count)
            m.initialize(repeating: 0)
            return m
        }
        secondMoments = parameters.map { p in
            let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.shape.count)
            m.initialize(repeating: 0)
            return m
        }
    }

    deinit {
        for m in firstMoments { m.deallocate() }
        for m in secondMoments { m.deallocate() }
    }

    /// One update of every parameter from its accumulated gradient (gradients are left as they are).
    public func step(learningRate: Float) {
        stepCount += 1
        let t = Float(stepCount)
        let correction1 = 1 - powf(beta1, t), correction2 = 1 - powf(beta2, t)
        let stepSize = learningRate / correction1
        let rootCorrection2 = correction2.squareRoot()
        for (index, parameter) in parameters.enumerated() {
            let theta = parameter.value.baseAddress!, g = parameter.gradient.baseAddress!
            let m = firstMoments[index].baseAddress!, v = secondMoments[index].baseAddress!
            let n = parameter.shape.count
            let l2: Float = variant == .adam && parameter.decays ? weightDecay : 0
            let shrink: Float = variant == .adamW && parameter.decays ? 1 - learningRate * weightDecay : 1
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            Parallel.forEachRange(n, work: n * 8) { range in
                // Sixteen lanes at a time (the same operations in the same order as the scalar tail, so results do
                // not depend on where a range starts), then the rest one by one.
                typealias Lanes = SIMD16<Float>
                let (gRaw, mRaw, vRaw, thetaRaw) = (UnsafeMutableRawPointer(g), UnsafeMutableRawPointer(m),
                    UnsafeMutableRawPointer(v), UnsafeMutableRawPointer(theta))
                var i = range.lowerBound
                while i + 16 <= range.upperBound {
                    let offset = i * MemoryLayout<Float>.stride
                    let thetaI = thetaRaw.loadUnaligned(fromByteOffset: offset, as: Lanes.self)
                    let grad = gRaw.loadUnaligned(fromByteOffset: offset, as: Lanes.self) + l2 * thetaI
                    let mi = b1 * mRaw.loadUnaligned(fromByteOffset: offset, as: Lanes.self) + (1 - b1) * grad
                    let vi = b2 * vRaw.loadUnaligned(fromByteOffset: offset, as: Lanes.self) + (1 - b2) * grad * grad
                    let updated = thetaI * shrink - stepSize * mi / (vi.squareRoot() / rootCorrection2 + eps)
                    mRaw.storeBytes(of: mi, toByteOffset: offset, as: Lanes.self)
                    vRaw.storeBytes(of: vi, toByteOffset: offset, as: Lanes.self)
                    thetaRaw.storeBytes(of: updated, toByteOffset: offset, as: Lanes.self)
                    i += 16
                }
                while i < range.upperBound {
                    let grad = g[i] + l2 * theta[i]
                    m[i] = b1 * m[i] + (1 - b1) * grad
                    v[i] = b2 * v[i] + (1 - b2) * grad * grad
                    theta[i] = theta[i] * shrink - stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
                    i += 1
                }
            }
        }
    }

    /// Clears every parameter's gradient (sparse tables only where written).
    public func zeroGradients() {
        for p in parameters { p.zeroGradient() }
    }
}

/// Scales all gradients together so their global L2 norm is at most `maxNorm` (as PyTorch's `clip_grad_norm_`,
/// factor `maxNorm / (norm + 1e-6)`); returns the norm before clipping. A table with a sparse gradient (rows written
/// only by `Tape.gather`) is read and scaled only in those rows, the rest being zero.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        p.forEachGradientSpan { span in total += Double(sumOfSquares(span)) }
    }
    let norm = Float(total.squareRoot())
    if norm > maxNorm {
        let factor = maxNorm / (norm + 1e-6)
        for p in parameters { p.forEachGradientSpan { span in for i in span.indices { span[i] *= factor } } }
    }
    return norm
}

/// Σ x², sixteen lanes at a time.
private func sumOfSquares(_ x: UnsafeMutableBufferPointer<Float>) -> Float {
    var lanes = SIMD16<Float>()
    guard let base = x.baseAddress else { return 0 }
    let raw = UnsafeRawPointer(base)
    var i = 0
    while i + 16 <= x.count {
        let chunk = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: SIMD16<Float>.self)
        lanes += chunk * chunk
        i += 16
    }
    var sum = lanes.sum()
    while i < x.count {
        sum += x[i] * x[i]
        i += 1
    }
    return sum
}

extension Parameter {
    /// Calls `body` on the parts of the gradient that may be non-zero: the whole of it, or, for a table whose
    /// gradient is sparse, each written row once (in ascending order). A table no op wrote is read whole, so a
    /// gradient set by hand still counts.
    func forEachGradientSpan(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        guard !gradientIsDense, shape.rank >= 2, !touchedRows.isEmpty else {
            body(gradient)
            return
        }
        let width = shape.last
        var previous: Int32 = -1
        for row in touchedRows.sorted() where row != previous {
            previous = row
            body(UnsafeMutableBufferPointer(rebasing: gradient[(Int(row) * width)..<((Int(row) + 1) * width)]))
        }
    }
}
