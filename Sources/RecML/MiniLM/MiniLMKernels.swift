import COpenBLAS

/// The row kernels of the MiniLM forward pass (bias, residual, LayerNorm) over raw pointers with `SIMD16<Float>`,
/// and the one matrix product all dense layers use. GELU and softmax are in C (`CRecML`, minilm_kernels.c), where they can use
/// AVX2 or AVX-512. Nothing here allocates.
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
}
