import Testing
@testable import RecNeural

/// Central finite differences against the tape's gradients.
///
/// The function under test maps parameters to a tensor `y`; the checked scalar is Σ y ⊙ R for a fixed random R, so
/// every output element's gradient path is exercised. Each evaluation uses a fresh tape with the same seed, so
/// dropout masks repeat. Float32 forward passes with step `epsilon` = 1e-2 leave about 1e-4 of noise: an analytic
/// gradient `a` passes against the numeric `n` when |a − n| ≤ absolute + relative · max(|a|, |n|).
struct GradientCheck {
    var epsilon: Float = 1e-2
    var absolute: Float = 2e-3
    var relative: Float = 1e-2

    /// Returns the largest relative error seen; records an issue for each element out of tolerance.
    @discardableResult
    func check(
        _ parameters: [Parameter], sourceLocation: SourceLocation = #_sourceLocation,
        _ build: (Tape) -> Variable
    ) -> Float {
        func evaluate(backward: Bool) -> Float {
            let tape = Tape(seed: 42)
            let y = build(tape)
            var g = SeededGenerator(seed: 7)
            let projection = tape.constant(shape: tape.shape(of: y)) { r in
                for i in r.indices { r[i] = g.nextNormal() }
            }
            let loss = tape.shape(of: y).count == 1 && tape.shape(of: y).rank == 0
                ? y : tape.sum(tape.multiply(y, projection))
            if backward { tape.backward(loss) }
            return tape.scalar(loss)
        }
        for p in parameters {
            p.gradient.update(repeating: 0)
            p.gradientIsDense = true
        }
        _ = evaluate(backward: true)
        let analytic = parameters.map { Array($0.gradient) }
        var worst: Float = 0
        for (pi, p) in parameters.enumerated() {
            for i in p.value.indices {
                let saved = p.value[i]
                p.value[i] = saved + epsilon
                let plus = evaluate(backward: false)
                p.value[i] = saved - epsilon
                let minus = evaluate(backward: false)
                p.value[i] = saved
                let numeric = (plus - minus) / (2 * epsilon)
                let a = analytic[pi][i]
                let error = abs(a - numeric)
                let scale = max(abs(a), abs(numeric))
                worst = max(worst, error / max(scale, 1e-3))
                if error > absolute + relative * scale {
                    Issue.record(
                        "\(p.name)[\(i)]: analytic \(a), numeric \(numeric)", sourceLocation: sourceLocation)
                }
            }
        }
        return worst
    }
}

/// A parameter of `shape` with normal values from `seed`.
func randomParameter(_ name: String, _ shape: Shape, seed: UInt64, std: Float = 1) -> Parameter {
    let p = Parameter(name, shape: shape)
    var g = SeededGenerator(seed: seed)
    p.initializeNormal(std: std, using: &g)
    return p
}
