/// Where a SASRec forward pass reads its weights, every one in `SASRecNetwork.parameters` order.
enum SASRecWeightSource {
    /// The trainable parameters: the pass records them so gradients flow into them.
    case parameters([Parameter])
    /// A frozen copy read in place (`values` from `offsets[i]` for weight i, of `shapes[i]`): a constant pass.
    case frozen(values: UnsafeBufferPointer<Float>, offsets: [Int], shapes: [Shape])
}

/// SASRec's forward pass on a tape, written once for training (over parameters) and serving (over frozen weights):
/// item embeddings × √d plus positions, dropout, the pre-norm blocks, a final layer norm.
struct SASRecForward {
    let configuration: SASRecConfiguration
    let tape: Tape
    let weights: SASRecWeightSource

    /// Index of the first block weight in the parameter order (after the item and position tables).
    static let firstBlockWeight = 2

    /// Weight `index` as a tape variable.
    func dense(_ index: Int) -> Variable {
        switch weights {
        case .parameters(let parameters):
            return tape.parameter(parameters[index])
        case .frozen(let values, let offsets, let shapes):
            let start = offsets[index]
            return tape.borrowedConstant(UnsafeBufferPointer(rebasing: values[start..<(start + shapes[index].count)]),
                shape: shapes[index])
        }
    }

    /// Rows of the table at `index` (0 items, 1 positions).
    func gather(_ index: Int, rows: UnsafeBufferPointer<Int32>) -> Variable {
        switch weights {
        case .parameters(let parameters):
            return tape.gather(parameters[index], rows: rows)
        case .frozen(let values, let offsets, let shapes):
            let start = offsets[index]
            return tape.gather(frozen: UnsafeBufferPointer(rebasing: values[start..<(start + shapes[index].count)]),
                width: shapes[index].last, rows: rows)
        }
    }

    /// See `SASRecNetwork.hidden(_:items:batch:)`.
    func hidden(items: UnsafeBufferPointer<Int32>, batch: Int) -> Variable {
        let length = configuration.maxLength
        precondition(items.count == batch * length, "hidden: \(items.count) ids for \(batch) × \(length)")
        return hidden(items: items, rows: batch, length: length, positions: nil, segments: nil)
    }

    /// See `SASRecNetwork.hidden(_:packedItems:positions:segments:rows:)`.
    func hidden(
        packedItems items: UnsafeBufferPointer<Int32>, positions: UnsafeBufferPointer<Int32>,
        segments: UnsafeBufferPointer<Int32>, rows: Int
    ) -> Variable {
        let length = configuration.maxLength
        precondition(items.count == rows * length && positions.count == items.count && segments.count == items.count,
            "hidden: packed rows need \(rows) × \(length) ids, positions and segments")
        return hidden(items: items, rows: rows, length: length, positions: positions, segments: segments)
    }

    /// See `SASRecNetwork.hidden(_:recentItems:)`.
    func hidden(recentItems items: UnsafeBufferPointer<Int32>) -> Variable {
        let n = items.count, length = configuration.maxLength
        precondition(n >= 1 && n <= length, "hidden: \(n) items, not 1 to \(length)")
        let positions = tape.scratchIntegers(n)
        for t in 0..<n { positions[t] = Int32(length - n + t) }
        return hidden(items: items, rows: 1, length: n, positions: UnsafeBufferPointer(positions), segments: nil)
    }

    func hidden(
        items: UnsafeBufferPointer<Int32>, rows: Int, length: Int, positions: UnsafeBufferPointer<Int32>?,
        segments: UnsafeBufferPointer<Int32>?
    ) -> Variable {
        let d = configuration.dimension
        let keyMask = tape.scratchFloats(rows * length)
        for i in 0..<items.count { keyMask[i] = items[i] == 0 ? 0 : 1 }
        let embedded = tape.scale(gather(0, rows: items), Float(d).squareRoot())
        var x: Variable
        if let positions {
            x = tape.reshape(tape.add(embedded, gather(1, rows: positions)), Shape(rows, length, d))
        } else {
            x = tape.add(tape.reshape(embedded, Shape(rows, length, d)), dense(1))
        }
        x = tape.multiply(tape.dropout(x, rate: configuration.dropout),
            tape.constant(shape: Shape(rows, length, 1)) { _ = $0.update(fromContentsOf: keyMask) })
        for b in 0..<configuration.blocks {
            x = block(Self.firstBlockWeight + b * SASRecBlock.Slot.allCases.count, x,
                keyMask: segments == nil ? UnsafeBufferPointer(keyMask) : nil, segments: segments)
        }
        let final = Self.firstBlockWeight + configuration.blocks * SASRecBlock.Slot.allCases.count
        return tape.layerNorm(x, gamma: dense(final), beta: dense(final + 1))
    }

    func linear(_ x: Variable, _ first: Int, _ weight: SASRecBlock.Slot, _ bias: SASRecBlock.Slot) -> Variable {
        tape.add(tape.matmul(x, dense(first + weight.rawValue), transposeB: true), dense(first + bias.rawValue))
    }

    /// One block whose weights start at parameter index `first`.
    func block(
        _ first: Int, _ x: Variable, keyMask: UnsafeBufferPointer<Float>?, segments: UnsafeBufferPointer<Int32>?
    ) -> Variable {
        let rate = configuration.dropout
        func weight(_ slot: SASRecBlock.Slot) -> Variable { dense(first + slot.rawValue) }
        let normed = tape.layerNorm(x, gamma: weight(.attentionNormScale), beta: weight(.attentionNormShift))
        let attended = tape.attention(
            query: linear(normed, first, .queryWeight, .queryBias),
            key: linear(normed, first, .keyWeight, .keyBias),
            value: linear(normed, first, .valueWeight, .valueBias),
            heads: configuration.heads, causal: true, keyMask: keyMask, segments: segments,
            dropout: configuration.attentionDropout)
        let projected = tape.dropout(linear(attended, first, .outputWeight, .outputBias), rate: rate)
        return feedForward(first, tape.add(x, projected))
    }

    /// The second half of the block whose weights start at `first`: `afterAttention` plus its normed feed-forward
    /// (dropout is the identity on a serving tape).
    func feedForward(_ first: Int, _ afterAttention: Variable) -> Variable {
        let rate = configuration.dropout
        let normed = tape.layerNorm(afterAttention, gamma: dense(first + SASRecBlock.Slot.feedForwardNormScale.rawValue),
            beta: dense(first + SASRecBlock.Slot.feedForwardNormShift.rawValue))
        var inner = linear(normed, first, .innerWeight, .innerBias)
        inner = configuration.activation == .relu ? tape.relu(inner) : tape.gelu(inner)
        let outer = linear(tape.dropout(inner, rate: rate), first, .outerWeight, .outerBias)
        return tape.add(afterAttention, tape.dropout(outer, rate: rate))
    }
}
