import COpenBLAS

/// The elementwise and row kernels of the MiniLM forward pass, over raw pointers with `SIMD16<Float>`, and the one
/// matrix product all dense layers use. Nothing here allocates.
enum MiniLMKernels {
    typealias V = SIMD16<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    // The generic SIMD helpers (`clamped`, `pointwiseMax`, `replacing(with:where:)`) compile to lane-by-lane loops
    // through the stack; these bitwise versions stay in vector registers.

    @inline(__always)
    static func bits(_ v: V) -> SIMD16<Int32> { unsafeBitCast(v, to: SIMD16<Int32>.self) }

    @inline(__always)
    static func float(_ v: SIMD16<Int32>) -> V { unsafeBitCast(v, to: V.self) }

    /// Lanes of `a` where `mask` is set, else of `b`.
    @inline(__always)
    static func select(_ mask: SIMDMask<SIMD16<Int32>>, _ a: V, _ b: V) -> V {
        let m = unsafeBitCast(mask, to: SIMD16<Int32>.self)
        return float((bits(a) & m) | (bits(b) & ~m))
    }

    @inline(__always)
    static func maximum(_ a: V, _ b: V) -> V { select(a .> b, a, b) }

    /// C[m×n] = A[m×k] · Bᵀ with B stored `[n, k]` row-major (PyTorch's `[out, in]`), then `+ bias` on every row
    /// when given. `lda`, `ldb`, `ldc` are row strides.
    static func linear(
        _ a: UnsafePointer<Float>, lda: Int, rows: Int, inputs: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outputs: Int,
        into c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
            1, a, Int32(lda), weight, Int32(inputs), 0, c, Int32(ldc))
        guard let bias else { return }
        precondition(outputs % 16 == 0)
        for row in 0..<rows {
            let out = c + row * ldc
            var j = 0
            while j < outputs {
                store(load(out + j) + load(bias + j), out + j)
                j += 16
            }
        }
    }

    /// x[row] = LayerNorm(x[row] + y[row] + bias) · gamma + beta, for `rows` rows of `width` (a multiple of 16);
    /// biased variance, as BERT.
    static func addBiasLayerNorm(
        _ x: UnsafeMutablePointer<Float>, adding y: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
        rows: Int, width: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float
    ) {
        for row in 0..<rows {
            let p = x + row * width
            var sum = V()
            var j = 0
            while j < width {
                var v = load(p + j)
                if let y { v += load(y + row * width + j) }
                if let bias { v += load(bias + j) }
                store(v, p + j)
                sum += v
                j += 16
            }
            let mean = sum.sum() / Float(width)
            var squares = V()
            j = 0
            while j < width {
                let d = load(p + j) - V(repeating: mean)
                squares += d * d
                j += 16
            }
            let inverse = 1 / (squares.sum() / Float(width) + eps).squareRoot()
            j = 0
            while j < width {
                let normalised = (load(p + j) - V(repeating: mean)) * inverse
                store(normalised * load(gamma + j) + load(beta + j), p + j)
                j += 16
            }
        }
    }

    /// e^x for each lane: range reduction by ln 2, a degree-6 polynomial, and the exponent set by bits.
    /// Relative error about 2e-7 for x in [-87, 88]; smaller x gives 0.
    @inline(__always)
    static func exp(_ x: V) -> V {
        let low = V(repeating: -87.3)
        let high = V(repeating: 88.0)
        let x = select(x .< low, low, select(x .> high, high, x))
        let magic = V(repeating: 12_582_912)  // 1.5 · 2^23: adding it rounds to an integer
        let shifted = x * V(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        var r = x - n * V(repeating: 0.693_145_75)
        r -= n * V(repeating: 1.428_606_8e-6)
        var p = V(repeating: 1.0 / 720)
        p = p * r + V(repeating: 1.0 / 120)
        p = p * r + V(repeating: 1.0 / 24)
        p = p * r + V(repeating: 1.0 / 6)
        p = p * r + V(repeating: 0.5)
        p = p * r + V(repeating: 1)
        p = p * r + V(repeating: 1)
        let bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((bits &+ 127) &<< 23, to: V.self)
        return p * scale
    }

    /// GELU in place, the exact erf form 0.5·x·(1 + erf(x/√2)), with erf from Abramowitz–Stegun 7.1.26
    /// (absolute error below 1.5e-7) written so that 1 + erf keeps its relative accuracy for negative x.
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 16 == 0)
        var i = 0
        while i < count {
            let v = load(x + i)
            let z = v * V(repeating: 0.707_106_78)
            let a = float(bits(z) & SIMD16<Int32>(repeating: 0x7FFF_FFFF))
            let t = 1 / (1 + V(repeating: 0.327_591_1) * a)
            var q = V(repeating: 1.061_405_429)
            q = q * t + V(repeating: -1.453_152_027)
            q = q * t + V(repeating: 1.421_413_741)
            q = q * t + V(repeating: -0.284_496_736)
            q = q * t + V(repeating: 0.254_829_592)
            q = q * t
            let tail = q * exp(-(a * a))  // 1 - erf(|z|)
            let onePlusErf = select(z .>= 0, 2 - tail, tail)
            store(V(repeating: 0.5) * v * onePlusErf, x + i)
            i += 16
        }
    }

    /// Softmax of each of `rows` rows of `count` values, in place; row stride `ld`.
    static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, count: Int, ld: Int) {
        let full = count & ~15
        for row in 0..<rows {
            let p = s + row * ld
            var maximum = -Float.infinity
            var j = 0
            if full > 0 {
                var m = V(repeating: -.infinity)
                while j < full {
                    m = Self.maximum(m, load(p + j))
                    j += 16
                }
                maximum = m.max()
            }
            while j < count {
                maximum = Swift.max(maximum, p[j])
                j += 1
            }
            var sum: Float = 0
            var vsum = V()
            j = 0
            while j < full {
                let e = exp(load(p + j) - V(repeating: maximum))
                store(e, p + j)
                vsum += e
                j += 16
            }
            sum = vsum.sum()
            if j < count {
                var tail = V(repeating: -.infinity)
                for k in j..<count { tail[k - j] = p[k] - maximum }
                let e = exp(tail)
                for k in j..<count {
                    let value = tail[k - j] == -.infinity ? 0 : e[k - j]
                    p[k] = value
                    sum += value
                }
            }
            let inverse = 1 / sum
            j = 0
            while j < full {
                store(load(p + j) * inverse, p + j)
                j += 16
            }
            while j < count {
                p[j] *= inverse
                j += 1
            }
        }
    }
}
