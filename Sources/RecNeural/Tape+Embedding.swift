extension Tape {
    /// Rows of an embedding table: `table[rows[i]]` for each i, shape `[rows.count, width]` (reshape for
    /// `[batch, length, width]`). The backward pass scatter-adds into the table's gradient, touching only the rows
    /// used, and the table's `zeroGradient()` clears only those. `rows` is usually arena scratch
    /// (`scratchIntegers`); it is copied.
    public func gather(_ table: Parameter, rows: UnsafeBufferPointer<Int32>) -> Variable {
        precondition(table.shape.rank == 2, "gather: table \(table.name) must be a matrix")
        let width = table.shape[1], count = rows.count
        let saved = integers.allocate(count)
        let c = floats.allocate(count * width)
        let v = record(Node(shape: Shape(count, width), value: c, requiresGradient: true,
            operation: .gather(table, rows: saved)))
        let source = table.value.baseAddress!
        for i in 0..<count {
            let r = Int(rows[i])
            precondition(r >= 0 && r < table.shape[0], "gather: row \(r) outside \(table.name) \(table.shape)")
            saved[i] = rows[i]
            (c + i * width).update(from: source + r * width, count: width)
        }
        return v
    }

    /// Rows of a frozen table (`[tableRows, width]` row-major, read in place): `table[rows[i]]` for each i, shape
    /// `[rows.count, width]`, a constant (no gradient).
    public func gather(
        frozen table: UnsafeBufferPointer<Float>, width: Int, rows: UnsafeBufferPointer<Int32>
    ) -> Variable {
        let tableRows = table.count / width, count = rows.count
        let c = floats.allocate(count * width)
        for i in 0..<count {
            let r = Int(rows[i])
            precondition(r >= 0 && r < tableRows, "gather: row \(r) outside a frozen table of \(tableRows) rows")
            (c + i * width).update(from: table.baseAddress! + r * width, count: width)
        }
        return leaf(c, shape: Shape(count, width))
    }

    func gatherBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ table: Parameter, _ rows: UnsafeMutablePointer<Int32>) {
        let width = table.shape[1], count = shape(i)[0]
        let target = table.gradient.baseAddress!
        for j in 0..<count {
            let r = Int(rows[j])
            let dst = target + r * width, src = g + j * width
            for k in 0..<width { dst[k] += src[k] }
            table.touchedRows.append(rows[j])
        }
    }

    /// Row-wise dot products of two `[rows, width]` tensors: `[rows]` (a positive item's score per position).
    public func rowwiseDot(_ a: Variable, _ b: Variable) -> Variable {
        let sa = shape(a.index)
        precondition(sa == shape(b.index), "rowwiseDot: \(sa) and \(shape(b.index))")
        let rows = sa.rows, width = sa.last
        let (v, c) = output(Shape(rows), a, b, operation: .rowwiseDot(a.index, b.index))
        let av = value(a.index), bv = value(b.index)
        for r in 0..<rows {
            var s: Float = 0
            for k in 0..<width { s += av[r * width + k] * bv[r * width + k] }
            c[r] = s
        }
        return v
    }

    func rowwiseDotBackward(_ i: Int, _ g: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int) {
        let sa = shape(a)
        let rows = sa.rows, width = sa.last
        let av = value(a), bv = value(b)
        let ga = gradientBuffer(a), gb = gradientBuffer(b)
        for r in 0..<rows {
            for k in 0..<width {
                let o = r * width + k
                ga?[o] += g[r] * bv[o]
                gb?[o] += g[r] * av[o]
            }
        }
    }
}
