import COpenBLAS

/// One sgemm call in row-major terms: C[m×n] = alpha · op(A) · op(B) + beta · C.
@inline(__always)
func gemm(
    _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

extension Tape {
    /// The matrix product op(a) · op(b). `b` is a matrix `[k, n]` (or `[n, k]` with `transposeB`, PyTorch's
    /// `[out, in]` weight layout). Without `transposeA`, `a` may have any rank: its leading dimensions are rows, its
    /// last is `k`, and they are kept in the result (`[batch, length, k] · [k, n] → [batch, length, n]`). With
    /// `transposeA`, `a` is a matrix `[k, m]`. Transposes are sgemm flags, never copies.
    public func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
        let sa = shape(a.index), sb = shape(b.index)
        precondition(sb.rank == 2, "matmul: b must be a matrix, got \(sb)")
        precondition(!transposeA || sa.rank == 2, "matmul: a transposed must be a matrix, got \(sa)")
        let k = transposeA ? sa[0] : sa.last
        let m = transposeA ? sa[1] : sa.rows
        let n = transposeB ? sb[0] : sb[1]
        precondition((transposeB ? sb[1] : sb[0]) == k, "matmul: \(sa) and \(sb) do not chain")
        let (v, c) = output(transposeA ? Shape(m, n) : sa.replacingLast(n), a, b,
            operation: .matmul(a: a.index, b: b.index, transposeA: transposeA, transposeB: transposeB))
        gemm(transposeA, transposeB, m, n, k, value(a.index), transposeA ? m : k, value(b.index),
            transposeB ? k : n, beta: 0, c, n)
        return v
    }

    func matmulBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int, _ ta: Bool, _ tb: Bool) {
        let sa = shape(a), sb = shape(b)
        let k = ta ? sa[0] : sa.last, m = ta ? sa[1] : sa.rows, n = tb ? sb[0] : sb[1]
        let av = value(a), bv = value(b)
        let lda = ta ? m : k, ldb = tb ? k : n
        if let ga = gradientBuffer(a) {
            if ta {  // a is [k, m]: dA = op(B) · dCᵀ
                gemm(tb, true, k, m, n, bv, ldb, g, n, beta: 1, ga, lda)
            } else {  // dA[m, k] = dC · op(B)ᵀ
                gemm(false, !tb, m, k, n, g, n, bv, ldb, beta: 1, ga, lda)
            }
        }
        if let gb = gradientBuffer(b) {
            if tb {  // b is [n, k]: dB = dCᵀ · op(A)
                gemm(true, ta, n, k, m, g, n, av, lda, beta: 1, gb, ldb)
            } else {  // dB[k, n] = op(A)ᵀ · dC
                gemm(!ta, false, k, n, m, av, lda, g, n, beta: 1, gb, ldb)
            }
        }
    }

    /// Matrix products over a leading batch dimension: `a` is `[batch, m, k]` (`[batch, k, m]` with `transposeA`),
    /// `b` is `[batch, k, n]` (`[batch, n, k]` with `transposeB`); the result is `[batch, m, n]`.
    public func batchedMatmul(
        _ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false
    ) -> Variable {
        let sa = shape(a.index), sb = shape(b.index)
        precondition(sa.rank == 3 && sb.rank == 3 && sa[0] == sb[0], "batchedMatmul: \(sa) and \(sb)")
        let batch = sa[0]
        let m = transposeA ? sa[2] : sa[1], k = transposeA ? sa[1] : sa[2]
        let n = transposeB ? sb[1] : sb[2]
        precondition((transposeB ? sb[2] : sb[1]) == k, "batchedMatmul: \(sa) and \(sb) do not chain")
        let (v, c) = output(Shape(batch, m, n), a, b,
            operation: .batchedMatmul(a: a.index, b: b.index, transposeA: transposeA, transposeB: transposeB))
        let av = value(a.index), bv = value(b.index)
        let lda = transposeA ? m : k, ldb = transposeB ? k : n
        Parallel.forEachRange(batch, work: batch * m * n * k) { range in
            for i in range {
                gemm(transposeA, transposeB, m, n, k, av + i * m * k, lda, bv + i * k * n, ldb, beta: 0,
                    c + i * m * n, n)
            }
        }
        return v
    }

    func batchedMatmulBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int, _ ta: Bool, _ tb: Bool) {
        let sa = shape(a), sb = shape(b)
        let batch = sa[0]
        let m = ta ? sa[2] : sa[1], k = ta ? sa[1] : sa[2], n = tb ? sb[1] : sb[2]
        let av = value(a), bv = value(b)
        let lda = ta ? m : k, ldb = tb ? k : n
        let ga = gradientBuffer(a), gb = gradientBuffer(b)
        Parallel.forEachRange(batch, work: 2 * batch * m * n * k) { range in
            for t in range {
                let gt = g + t * m * n, at = av + t * m * k, bt = bv + t * k * n
                if let ga {
                    if ta { gemm(tb, true, k, m, n, bt, ldb, gt, n, beta: 1, ga + t * m * k, lda) }
                    else { gemm(false, !tb, m, k, n, gt, n, bt, ldb, beta: 1, ga + t * m * k, lda) }
                }
                if let gb {
                    if tb { gemm(true, ta, n, k, m, gt, n, at, lda, beta: 1, gb + t * k * n, ldb) }
                    else { gemm(!ta, false, k, n, m, at, lda, gt, n, beta: 1, gb + t * k * n, ldb) }
                }
            }
        }
    }
}
