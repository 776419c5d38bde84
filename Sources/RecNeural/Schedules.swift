import Foundation

/// A learning rate per step: linear warmup from 0 to `peak` over `warmupSteps`, then constant, linear or cosine
/// decay to `final` at `totalSteps` (held there after).
/// ```swift
/// let schedule = LearningRateSchedule(peak: 1e-3, warmupSteps: 100, totalSteps: 10_000, decay: .cosine)
/// schedule.rate(atStep: 0)      // 1e-5
/// schedule.rate(atStep: 99)     // 1e-3
/// ```
public struct LearningRateSchedule: Sendable {
    /// How the rate falls after warmup.
    public enum Decay: Sendable {
        /// Stays at the peak.
        case constant
        /// Falls in a straight line to `final`.
        case linear
        /// Falls along half a cosine to `final`.
        case cosine
    }

    /// The rate at the end of warmup.
    public var peak: Float
    /// Steps of linear warmup (0 for none).
    public var warmupSteps: Int
    /// The step at which decay reaches `final`.
    public var totalSteps: Int
    /// The decay after warmup.
    public var decay: Decay
    /// The rate at and after `totalSteps`.
    public var final: Float

    /// A schedule; `final` defaults to 0.
    public init(peak: Float, warmupSteps: Int = 0, totalSteps: Int, decay: Decay = .constant, final: Float = 0) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
        self.final = final
    }

    /// The rate for step `step` (0-based): during warmup `peak · (step + 1) / warmupSteps`.
    public func rate(atStep step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = Swift.max(totalSteps - warmupSteps, 1)
        let progress = Swift.min(Float(step - warmupSteps) / Float(span), 1)
        switch decay {
        case .constant: return peak
        case .linear: return final + (peak - final) * (1 - progress)
        case .cosine: return final + (peak - final) * 0.5 * (1 + cos(Float.pi * progress))
        }
    }
}
