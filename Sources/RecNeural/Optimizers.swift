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
                for i in range {
                    let grad = g[i] + l2 * theta[i]
                    m[i] = b1 * m[i] + (1 - b1) * grad
                    v[i] = b2 * v[i] + (1 - b2) * grad * grad
                    theta[i] = theta[i] * shrink - stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
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
/// factor `maxNorm / (norm + 1e-6)`); returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        var s: Float = 0
        for g in p.gradient { s += g * g }
        total += Double(s)
    }
    let norm = Float(total.squareRoot())
    if norm > maxNorm {
        let factor = maxNorm / (norm + 1e-6)
        for p in parameters { for i in p.gradient.indices { p.gradient[i] *= factor } }
    }
    return norm
}
