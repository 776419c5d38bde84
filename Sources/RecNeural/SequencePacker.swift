/// Places variable-length sequences end to end into rows of a fixed length (first-fit decreasing), so a batch of
/// short histories fills a few full rows instead of one mostly padded row each.
///
/// Each sequence gets a row, its first slot there, and a segment number (1, 2, … within the row) that tells attention
/// which positions belong together. Storage is kept between calls.
struct SequencePacker {
    /// Per sequence, in the order given to `pack`: its row, first slot and segment number.
    private(set) var places: [(row: Int, slot: Int, segment: Int)] = []
    private var order: [(position: Int, count: Int)] = []
    private var rowFill: [(used: Int, segments: Int)] = []

    /// Packs sequences of `lengths` (each at most `rowLength`) and returns the number of rows used.
    mutating func pack(lengths: some Sequence<Int>, rowLength: Int) -> Int {
        order.removeAll(keepingCapacity: true)
        for (position, count) in lengths.enumerated() {
            precondition(count >= 0 && count <= rowLength, "pack: a sequence of \(count) in rows of \(rowLength)")
            order.append((position, count))
        }
        order.sort { $0.count > $1.count || ($0.count == $1.count && $0.position < $1.position) }
        places.removeAll(keepingCapacity: true)
        places.append(contentsOf: repeatElement((row: 0, slot: 0, segment: 0), count: order.count))
        rowFill.removeAll(keepingCapacity: true)
        // Rows fill in order, so only the last few can have room; scanning from the first is still cheap here.
        for (position, count) in order {
            var row = 0
            while row < rowFill.count && rowFill[row].used + count > rowLength { row += 1 }
            if row == rowFill.count { rowFill.append((used: 0, segments: 0)) }
            places[position] = (row: row, slot: rowFill[row].used, segment: rowFill[row].segments + 1)
            rowFill[row].used += count
            rowFill[row].segments += 1
        }
        return rowFill.count
    }
}
