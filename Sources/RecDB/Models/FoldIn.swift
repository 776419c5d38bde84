import Foundation

/// Real-time fold-in: a user's collaborative vector solved against a factor model's fixed item factors from the
/// user's current history, so events since the last refresh (or a brand-new user's first clicks) personalise at
/// once, without retraining. The solve is the ALS user step done exactly (Cholesky):
/// `(YᵀY + λI + Σ (cᵢ − 1) yᵢyᵢᵀ) x = Σ cᵢ yᵢ` with confidence `cᵢ = α · weightᵢ`.
enum FoldIn {
    /// `YᵀY` over the first `solved` of `dimension` columns of row-major item factors.
    static func gram(_ items: [Float], dimension: Int, solved f: Int) -> [Float] {
        var gram = [Double](repeating: 0, count: f * f)
        let rows = items.count / max(dimension, 1)
        items.withUnsafeBufferPointer { items in
            for r in 0..<rows {
                let y = items.baseAddress! + r * dimension
                for a in 0..<f {
                    let ya = Double(y[a])
                    guard ya != 0 else { continue }
                    for b in a..<f { gram[a * f + b] += ya * Double(y[b]) }
                }
            }
        }
        for a in 0..<f { for b in 0..<a { gram[a * f + b] = gram[b * f + a] } }
        return gram.map { Float($0) }
    }

    /// The user vector for `history` (item vectors with the summed weights of the user's events). Vectors have
    /// `dimension` entries of which the first `solved` are solved; the rest (BPR's bias column) are set to 1.
    static func solve(
        history: [(vector: [Float], weight: Float)], gram: [Float], dimension: Int, solved f: Int,
        regularization: Float, alpha: Float
    ) -> [Float]? {
        guard !history.isEmpty, f >= 0, f <= dimension, gram.count == f * f else { return nil }
        // Vectors of another length (a damaged value read by a caller that did not check it) take no part.
        let history = history.filter { $0.vector.count == dimension }
        var a = gram.map(Double.init)
        for d in 0..<f { a[d * f + d] += Double(regularization) }
        var b = [Double](repeating: 0, count: f)
        for (y, weight) in history where weight > 0 {
            let confidence = Double(alpha * weight)
            for i in 0..<f {
                let yi = Double(y[i])
                b[i] += confidence * yi
                guard yi != 0 else { continue }
                for j in 0..<f { a[i * f + j] += (confidence - 1) * yi * Double(y[j]) }
            }
        }
        guard b.contains(where: { $0 != 0 }) else { return nil }
        var x = DenseMath.choleskySolve(a, b, n: f)
        if x == nil {
            // Weights below 1/α make the system indefinite; more ridge makes it definite.
            for d in 0..<f { a[d * f + d] += 1 }
            x = DenseMath.choleskySolve(a, b, n: f)
        }
        guard let x else { return nil }
        return x.map(Float.init) + [Float](repeating: 1, count: dimension - f)
    }
}
