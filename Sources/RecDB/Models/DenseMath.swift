import Foundation

/// Small dense linear algebra for the models: symmetric eigendecomposition, Cholesky solves, orthonormal columns.
/// Sizes here are a few hundred at most; the heavy products stay in the models' own SIMD loops.
enum DenseMath {
    /// Eigenvalues and eigenvectors of a symmetric `n × n` row-major matrix by cyclic Jacobi rotations, in
    /// descending order of eigenvalue. Eigenvector `j` is column `j` of the returned row-major matrix.
    static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<60 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] } }
            if off < 1e-22 { break }
            for p in 0..<n {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    guard abs(apq) > 1e-300 else { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] }
        var values = [Double](repeating: 0, count: n), vectors = [Double](repeating: 0, count: n * n)
        for (j, source) in order.enumerated() {
            values[j] = a[source * n + source]
            for k in 0..<n { vectors[k * n + j] = v[k * n + source] }
        }
        return (values, vectors)
    }

    /// Solves `A x = b` for a symmetric positive definite `n × n` row-major `A` by Cholesky factorisation.
    /// Returns nil when `A` is not positive definite.
    static func choleskySolve(_ matrix: [Double], _ b: [Double], n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = matrix[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard sum > 0 else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        var y = b
        for i in 0..<n {
            for k in 0..<i { y[i] -= l[i * n + k] * y[k] }
            y[i] /= l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for k in (i + 1)..<n { y[i] -= l[k * n + i] * y[k] }
            y[i] /= l[i * n + i]
        }
        return y
    }

    /// Makes the `columns` columns of a row-major `rows × columns` matrix orthonormal (modified Gram–Schmidt,
    /// twice for stability). A column that vanishes stays zero.
    static func orthonormalizeColumns(_ m: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        // Work column-major in doubles for accuracy and contiguous access.
        var q = [Double](repeating: 0, count: rows * columns)
        for r in 0..<rows { for c in 0..<columns { q[c * rows + r] = Double(m[r * columns + c]) } }
        q.withUnsafeMutableBufferPointer { q in
            for c in 0..<columns {
                let column = q.baseAddress! + c * rows
                for _ in 0..<2 {
                    for previous in 0..<c {
                        let other = q.baseAddress! + previous * rows
                        var dot = 0.0
                        for r in 0..<rows { dot += column[r] * other[r] }
                        for r in 0..<rows { column[r] -= dot * other[r] }
                    }
                }
                var norm = 0.0
                for r in 0..<rows { norm += column[r] * column[r] }
                norm = norm.squareRoot()
                let scale = norm > 1e-12 ? 1 / norm : 0
                for r in 0..<rows { column[r] *= scale }
            }
        }
        for r in 0..<rows { for c in 0..<columns { m[r * columns + c] = Float(q[c * rows + r]) } }
    }
}
