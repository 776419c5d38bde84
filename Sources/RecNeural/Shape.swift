/// The shape of a row-major tensor of rank 0 to 4: its dimensions, element count and strides.
///
/// Stored inline (no array), so building a node on the tape never allocates for its shape.
/// ```swift
/// let shape = Shape(2, 3, 4)   // rank 3, 24 elements, strides [12, 4, 1]
/// ```
public struct Shape: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The largest rank a shape can have.
    public static let maximumRank = 4

    /// How many dimensions (0 for a scalar).
    public let rank: Int
    private let storage: SIMD4<Int>

    /// A shape from its dimensions, outermost first; none for a scalar.
    public init(_ dimensions: Int...) {
        self.init(dimensions)
    }

    /// A shape from an array of dimensions, outermost first.
    public init(_ dimensions: [Int]) {
        precondition(dimensions.count <= Shape.maximumRank, "rank \(dimensions.count) exceeds \(Shape.maximumRank)")
        precondition(dimensions.allSatisfy { $0 >= 0 }, "negative dimension in \(dimensions)")
        var storage = SIMD4<Int>(repeating: 1)
        for (i, d) in dimensions.enumerated() { storage[i] = d }
        self.rank = dimensions.count
        self.storage = storage
    }

    /// The scalar shape (rank 0, one element).
    public static let scalar = Shape([])

    /// The size of dimension `axis` (0 is outermost); negative axes count from the end.
    public subscript(axis: Int) -> Int {
        let a = axis < 0 ? rank + axis : axis
        precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
        return storage[a]
    }

    /// The dimensions as an array (allocates; for messages and tests).
    public var dimensions: [Int] { (0..<rank).map { storage[$0] } }

    /// The number of elements.
    public var count: Int { storage[0] * storage[1] * storage[2] * storage[3] }

    /// The size of the innermost dimension (1 for a scalar).
    public var last: Int { rank == 0 ? 1 : storage[rank - 1] }

    /// The element count of all but the last dimension: the number of rows when the tensor is read as a matrix.
    public var rows: Int { rank == 0 ? 1 : count / Swift.max(last, 1) }

    /// The same shape with its last dimension set to `size` (a scalar becomes `[size]`); allocates nothing.
    public func replacingLast(_ size: Int) -> Shape {
        if rank == 0 { return Shape(rank: 1, storage: SIMD4(size, 1, 1, 1)) }
        var s = storage
        s[rank - 1] = size
        return Shape(rank: rank, storage: s)
    }

    /// The same shape with `size` appended as a new innermost dimension.
    public func appending(_ size: Int) -> Shape {
        precondition(rank < Shape.maximumRank, "rank \(rank) + 1 exceeds \(Shape.maximumRank)")
        var s = storage
        s[rank] = size
        return Shape(rank: rank + 1, storage: s)
    }

    private init(rank: Int, storage: SIMD4<Int>) {
        self.rank = rank
        self.storage = storage
    }

    /// Row-major strides in elements, one per dimension.
    public var strides: [Int] {
        var result = [Int](repeating: 1, count: rank)
        var s = 1
        for i in stride(from: rank - 1, through: 0, by: -1) {
            result[i] = s
            s *= storage[i]
        }
        return result
    }

    /// The dimensions padded on the left with 1s to rank 4, for broadcasting.
    var padded: SIMD4<Int> {
        var p = SIMD4<Int>(repeating: 1)
        for i in 0..<rank { p[4 - rank + i] = storage[i] }
        return p
    }

    /// `[2, 3, 4]`.
    public var description: String { "\(dimensions)" }
}
