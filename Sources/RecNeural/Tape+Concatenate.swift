extension Tape {
    /// `a` and `b` side by side along the last dimension: `[rows, p]` and `[rows, q]` give `[rows, p + q]` (the
    /// leading dimensions must agree). NCF joins a user's and an item's embeddings with it before its tower.
    public func concatenate(_ a: Variable, _ b: Variable) -> Variable {
        let sa = shape(a.index), sb = shape(b.index)
        precondition(sa.rank >= 1 && sa.rank == sb.rank && sa.rows == sb.rows
            && sa.replacingLast(1) == sb.replacingLast(1), "concatenate: \(sa) and \(sb)")
        let p = sa.last, q = sb.last, rows = sa.rows
        let (v, c) = output(sa.replacingLast(p + q), a, b, operation: .concatenate(a.index, b.index))
        let av = value(a.index), bv = value(b.index)
        for r in 0..<rows {
            (c + r * (p + q)).update(from: av + r * p, count: p)
            (c + r * (p + q) + p).update(from: bv + r * q, count: q)
        }
        return v
    }

    func concatenateBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int) {
        let p = shape(a).last, q = shape(b).last, rows = shape(a).rows
        let ga = gradientBuffer(a), gb = gradientBuffer(b)
        for r in 0..<rows {
            let row = g + r * (p + q)
            if let ga { for k in 0..<p { ga[r * p + k] += row[k] } }
            if let gb { for k in 0..<q { gb[r * q + k] += row[p + k] } }
        }
    }
}
