import Foundation

extension Tape {
    // MARK: - Broadcasting arithmetic

    /// The broadcast shape of `a` and `b` (NumPy rules, aligned on the right), with each operand's strides in the
    /// output's 4-d index space (0 where it is broadcast).
    private func broadcast(_ a: Shape, _ b: Shape) -> (Shape, SIMD4<Int>, SIMD4<Int>) {
        let pa = a.padded, pb = b.padded
        var out = SIMD4<Int>(repeating: 1)
        for d in 0..<4 {
            precondition(pa[d] == pb[d] || pa[d] == 1 || pb[d] == 1, "cannot broadcast \(a) with \(b)")
            out[d] = Swift.max(pa[d], pb[d])
        }
        func strides(_ p: SIMD4<Int>) -> SIMD4<Int> {
            var s = SIMD4<Int>(repeating: 0)
            var run = 1
            for d in stride(from: 3, through: 0, by: -1) {
                s[d] = p[d] == 1 ? 0 : run
                run *= p[d]
            }
            return s
        }
        let rank = Swift.max(a.rank, b.rank)
        let shape = Shape((4 - rank..<4).map { out[$0] })
        return (shape, strides(pa), strides(pb))
    }

    /// Calls `body(outputIndex, aIndex, bIndex)` for every element of the broadcast output.
    @inline(__always)
    private func forEachBroadcast(
        _ out: Shape, _ sa: SIMD4<Int>, _ sb: SIMD4<Int>, _ body: (Int, Int, Int) -> Void
    ) {
        let p = out.padded
        var o = 0
        for i0 in 0..<p[0] {
            for i1 in 0..<p[1] {
                for i2 in 0..<p[2] {
                    let baseA = i0 * sa[0] + i1 * sa[1] + i2 * sa[2]
                    let baseB = i0 * sb[0] + i1 * sb[1] + i2 * sb[2]
                    for i3 in 0..<p[3] {
                        body(o, baseA + i3 * sa[3], baseB + i3 * sb[3])
                        o += 1
                    }
                }
            }
        }
    }

    /// `a + b` with broadcasting (a bias `[n]` onto `[rows, n]`, positions `[length, d]` onto `[batch, length, d]`…).
    public func add(_ a: Variable, _ b: Variable) -> Variable {
        elementwise(a, b, operation: .add(a.index, b.index), +)
    }

    /// `a ⊙ b` with broadcasting.
    public func multiply(_ a: Variable, _ b: Variable) -> Variable {
        elementwise(a, b, operation: .multiply(a.index, b.index), *)
    }

    // Inlined into `add` and `multiply`, so `f` becomes the operator itself rather than a call per element (which
    // was most of a SASRec request's encode time in recd).
    @inline(__always)
    private func elementwise(
        _ a: Variable, _ b: Variable, operation: Operation, _ f: (Float, Float) -> Float
    ) -> Variable {
        let sa = shape(a.index), sb = shape(b.index)
        let av = value(a.index), bv = value(b.index)
        if sa == sb || (sb.count <= sa.count && sa.count % sb.count == 0 && suffix(sb, of: sa)) {
            let (v, c) = output(sa, a, b, operation: operation)
            let inner = sb.count
            for start in stride(from: 0, to: sa.count, by: inner) {
                for j in 0..<inner { c[start + j] = f(av[start + j], bv[j]) }
            }
            return v
        }
        let (out, stridesA, stridesB) = broadcast(sa, sb)
        let (v, c) = output(out, a, b, operation: operation)
        forEachBroadcast(out, stridesA, stridesB) { o, ia, ib in c[o] = f(av[ia], bv[ib]) }
        return v
    }

    /// Whether `small`'s dimensions equal the trailing dimensions of `large` (so it repeats every `small.count`).
    private func suffix(_ small: Shape, of large: Shape) -> Bool {
        guard small.rank <= large.rank else { return false }
        for d in 0..<small.rank where small[d] != large[large.rank - small.rank + d] { return false }
        return true
    }

    func addBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int) {
        reduceBroadcast(i, g, a, b) { gv, _, _ in gv } _: { gv, _, _ in gv }
    }

    func multiplyBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int) {
        let av = value(a), bv = value(b)
        reduceBroadcast(i, g, a, b) { gv, ia, ib in gv * bv[ib] } _: { gv, ia, ib in gv * av[ia] }
    }

    /// Accumulates `da(g, ia, ib)` into a's gradient and `db` into b's, summing over broadcast dimensions.
    private func reduceBroadcast(
        _ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int,
        _ da: (Float, Int, Int) -> Float, _ db: (Float, Int, Int) -> Float
    ) {
        let out = shape(i)
        let ga = gradientBuffer(a), gb = gradientBuffer(b)
        let sa = shape(a), sb = shape(b)
        if sa == out && sb.count > 0 && suffix(sb, of: sa) {
            let inner = sb.count
            for start in stride(from: 0, to: out.count, by: inner) {
                for j in 0..<inner {
                    let o = start + j
                    if let ga { ga[o] += da(g[o], o, j) }
                    if let gb { gb[j] += db(g[o], o, j) }
                }
            }
            return
        }
        let (_, stridesA, stridesB) = broadcast(sa, sb)
        forEachBroadcast(out, stridesA, stridesB) { o, ia, ib in
            if let ga { ga[ia] += da(g[o], ia, ib) }
            if let gb { gb[ib] += db(g[o], ia, ib) }
        }
    }

    /// `s · a`.
    public func scale(_ a: Variable, _ s: Float) -> Variable {
        let n = shape(a.index).count
        let (v, c) = output(shape(a.index), a, operation: .scale(a.index, s))
        let av = value(a.index)
        for j in 0..<n { c[j] = av[j] * s }
        return v
    }

    func scaleBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ s: Float) {
        guard let ga = gradientBuffer(a) else { return }
        for j in 0..<shape(a).count { ga[j] += g[j] * s }
    }

    /// The sum of every element: a scalar.
    public func sum(_ a: Variable) -> Variable {
        let (v, c) = output(.scalar, a, operation: .sum(a.index))
        let av = value(a.index)
        var total: Double = 0
        for j in 0..<shape(a.index).count { total += Double(av[j]) }
        c[0] = Float(total)
        return v
    }

    func sumBackward(_ g: UnsafeMutablePointer<Float>, _ a: Int) {
        guard let ga = gradientBuffer(a) else { return }
        for j in 0..<shape(a).count { ga[j] += g[0] }
    }

    // MARK: - Activations

    /// max(0, x).
    public func relu(_ x: Variable) -> Variable {
        let n = shape(x.index).count
        let (v, c) = output(shape(x.index), x, operation: .relu(x.index))
        let xv = value(x.index)
        for j in 0..<n { c[j] = Swift.max(xv[j], 0) }
        return v
    }

    func reluBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ x: Int) {
        guard let gx = gradientBuffer(x) else { return }
        let xv = value(x)
        for j in 0..<shape(x).count where xv[j] > 0 { gx[j] += g[j] }
    }

    /// GELU with the exact Gaussian CDF, x · Φ(x) (PyTorch's default).
    public func gelu(_ x: Variable) -> Variable {
        let n = shape(x.index).count
        let (v, c) = output(shape(x.index), x, operation: .gelu(x.index))
        let xv = value(x.index)
        Parallel.forEachRange(n, work: n * 16) { range in
            for j in range { c[j] = 0.5 * xv[j] * (1 + erff(xv[j] * 0.70710678)) }
        }
        return v
    }

    func geluBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ x: Int) {
        guard let gx = gradientBuffer(x) else { return }
        let xv = value(x)
        let n = shape(x).count
        Parallel.forEachRange(n, work: n * 16) { range in
            for j in range {
                let t = xv[j]
                let cdf = 0.5 * (1 + erff(t * 0.70710678))
                let pdf = expf(-0.5 * t * t) * 0.39894228
                gx[j] += g[j] * (cdf + t * pdf)
            }
        }
    }

    /// Inverted dropout: in training, each element is zeroed with probability `rate` and the rest scaled by
    /// 1 / (1 − rate), the mask drawn from the tape's generator; in evaluation (or at rate 0), `x` itself.
    public func dropout(_ x: Variable, rate: Float) -> Variable {
        guard isTraining, rate > 0 else { return x }
        precondition(rate < 1, "dropout rate \(rate) must be below 1")
        let n = shape(x.index).count
        let mask = dropoutMask(count: n, rate: rate)
        let (v, c) = output(shape(x.index), x, operation: .dropout(x.index, mask: mask))
        let xv = value(x.index)
        for j in 0..<n { c[j] = xv[j] * mask[j] }
        return v
    }

    /// `count` inverted-dropout factors in the arena: 0 with probability `rate`, else 1 / (1 − rate). Two 24-bit
    /// uniforms come from each 64 random bits, drawn from a local copy of the tape's generator (no exclusive access
    /// to the tape per element).
    func dropoutMask(count n: Int, rate: Float) -> UnsafeMutablePointer<Float> {
        let mask = floats.allocate(n)
        let keep = 1 / (1 - rate)
        let threshold = UInt64(rate * Float(1 << 24))
        var g = generator
        for pair in stride(from: 0, to: n, by: 2) {
            let bits = g.next()
            mask[pair] = (bits >> 40) < threshold ? 0 : keep
            if pair + 1 < n { mask[pair + 1] = (bits >> 8) & 0xFF_FFFF < threshold ? 0 : keep }
        }
        generator = g
        return mask
    }

    func dropoutBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ x: Int, _ mask: UnsafeMutablePointer<Float>) {
        guard let gx = gradientBuffer(x) else { return }
        for j in 0..<shape(x).count { gx[j] += g[j] * mask[j] }
    }
}
