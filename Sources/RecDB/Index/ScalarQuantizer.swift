import CRecSupport

/// What a space's graph walks score: the vectors themselves, or compact codes of them.
///
/// With `int8` or `float16` each vector is kept once at full precision (in the vector table) and the graph holds
/// its codes beside its level-0 lists (one signed byte or one half float per dimension); a walk scores those codes
/// (a quarter or half of the bytes to fetch), and the best candidates are then re-ranked exactly from the
/// full-precision vectors (the re-rank depth is a query knob, see
/// ``VectorIndexSnapshot/search(_:k:ef:rerank:allowed:context:)``).
public enum VectorCodes: String, Sendable, Hashable, Codable, CaseIterable {
    /// 32-bit floats: exact distances during the walk, no re-rank.
    case float32
    /// One signed byte per dimension with a per-dimension scale and centre (scalar quantisation).
    case int8
    /// One IEEE half float per dimension (11 significant bits: distances within about 0.1 % of the exact ones),
    /// converted with F16C where the CPU has it.
    case float16

    /// Parses `float32` (or `f32`, `float`), `int8` (or `i8`, `sq8`) and `float16` (or `f16`, `fp16`, `half`).
    public init?(name: String) {
        switch name.lowercased() {
        case "float32", "f32", "float": self = .float32
        case "int8", "i8", "sq8": self = .int8
        case "float16", "f16", "fp16", "half": self = .float16
        default: return nil
        }
    }

    /// Bytes per dimension of what the graph keeps for each node.
    public var bytesPerDimension: Int {
        switch self {
        case .float32: 4
        case .int8: 1
        case .float16: 2
        }
    }

    var code: UInt8 {
        switch self {
        case .float32: 0
        case .int8: 1
        case .float16: 2
        }
    }

    init?(code: UInt8) {
        switch code {
        case 0: self = .float32
        case 1: self = .int8
        case 2: self = .float16
        default: return nil
        }
    }
}

/// Per-dimension scalar quantisation to int8: `x[i] ≈ centre[i] + scale[i] × c[i]` with `c[i]` in −127…127, the
/// range of each dimension fitted to the vectors of one build. Stored as one value per generation:
/// `centre[dimension], scale[dimension]` (float32, native byte order).
struct ScalarQuantizer {
    let dimension: Int
    let centre: [Float]
    let scale: [Float]

    /// Fits each dimension's range to the vectors of `nodes` (rows of `vectors`, `dimension` floats each).
    init(fitting vectors: UnsafePointer<Float>, nodes: [UInt32], dimension: Int) {
        var low = [Float](repeating: .infinity, count: dimension)
        var high = [Float](repeating: -.infinity, count: dimension)
        for node in nodes {
            let row = vectors + Int(node) * dimension
            for i in 0..<dimension {
                low[i] = min(low[i], row[i])
                high[i] = max(high[i], row[i])
            }
        }
        var centre = [Float](repeating: 0, count: dimension), scale = [Float](repeating: 1, count: dimension)
        for i in 0..<dimension where low[i] <= high[i] {
            centre[i] = (low[i] + high[i]) / 2
            let step = (high[i] - low[i]) / 254
            scale[i] = step > 0 && step.isFinite ? step : 1
        }
        self.dimension = dimension
        self.centre = centre
        self.scale = scale
    }

    /// Reads a stored quantiser: exactly `2 × dimension` finite floats, every scale positive. Throws `corrupted`
    /// prefixed with `what`.
    init(stored raw: UnsafeRawBufferPointer, dimension: Int, _ what: @autoclosure () -> String) throws {
        guard raw.count == 2 * dimension * 4 else {
            throw RecDBError(.corrupted, "\(what()): \(raw.count) bytes; \(2 * dimension * 4) expected")
        }
        var values = [Float](repeating: 0, count: 2 * dimension)
        values.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
        let centre = Array(values[0..<dimension]), scale = Array(values[dimension...])
        guard centre.allSatisfy(\.isFinite), scale.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw RecDBError(.corrupted, "\(what()): a centre is not finite or a scale is not positive")
        }
        self.dimension = dimension
        self.centre = centre
        self.scale = scale
    }

    /// The stored form (see the type's description).
    var bytes: [UInt8] {
        (centre + scale).withUnsafeBytes { Array($0) }
    }

    /// Writes the codes of `vector` to `codes`.
    func encode(_ vector: UnsafePointer<Float>, into codes: UnsafeMutablePointer<Int8>) {
        for i in 0..<dimension {
            let level = ((vector[i] - centre[i]) / scale[i]).rounded()
            codes[i] = Int8(max(-127, min(127, level.isFinite ? level : 0)))
        }
    }

    /// Fills `weights` (and for L2 `targets`) for `query` so that ``CodeScorer`` turns a node's codes into the
    /// metric's distance; returns the constant term of the inner product.
    func prepare(
        _ query: UnsafePointer<Float>, metric: Metric, weights: UnsafeMutablePointer<Float>,
        targets: UnsafeMutablePointer<Float>
    ) -> Float {
        var offset: Float = 0
        for i in 0..<dimension {
            switch metric {
            case .l2:
                targets[i] = (query[i] - centre[i]) / scale[i]
                weights[i] = scale[i] * scale[i]
            case .cosine, .innerProduct:
                weights[i] = query[i] * scale[i]
                offset += query[i] * centre[i]
            }
        }
        return offset
    }
}

/// Float16 codes: each dimension's value rounded to the nearest IEEE half float.
enum HalfCodes {
    /// Writes the half-float bit patterns of `vector` (`dimension` floats) to `codes`.
    static func encode(_ vector: UnsafePointer<Float>, dimension: Int, into codes: UnsafeMutablePointer<UInt16>) {
        for i in 0..<dimension { codes[i] = Float16(vector[i]).bitPattern }
    }
}

/// One query as a walk over codes scores it: for int8 the prepared weights (and targets for L2), for float16 the
/// query itself; the kernel is chosen once (AVX2 + FMA, and F16C for float16, where the CPU has them, else the
/// portable C loop).
struct CodeScorer {
    let metric: Metric
    let dimension: Int
    let weights: UnsafePointer<Float>
    let targets: UnsafePointer<Float>
    let offset: Float
    let avx2: Bool
    let kind: VectorCodes

    init(
        metric: Metric, dimension: Int, weights: UnsafePointer<Float>, targets: UnsafePointer<Float>, offset: Float,
        avx2: Bool, kind: VectorCodes = .int8
    ) {
        self.metric = metric
        self.dimension = dimension
        self.weights = weights
        self.targets = targets
        self.offset = offset
        self.avx2 = avx2
        self.kind = kind
    }

    /// The approximate distance (same order as ``Metric``'s: negated inner product, squared L2) of `codes`.
    @inline(__always)
    func callAsFunction(_ codes: UnsafeRawPointer) -> Float {
        let n = dimension
        if kind == .float16 {
            let halves = codes.assumingMemoryBound(to: UInt16.self)
            switch metric {
            case .l2:
                return avx2 ? recdb_l2_f16_f16c(weights, halves, n) : recdb_l2_f16(weights, halves, n)
            case .cosine, .innerProduct:
                return -(avx2 ? recdb_dot_f16_f16c(weights, halves, n) : recdb_dot_f16(weights, halves, n))
            }
        }
        let bytes = codes.assumingMemoryBound(to: Int8.self)
        switch metric {
        case .l2:
            return avx2 ? recdb_l2_i8_avx2(targets, weights, bytes, n) : recdb_l2_i8(targets, weights, bytes, n)
        case .cosine, .innerProduct:
            return -(offset + (avx2 ? recdb_dot_i8_avx2(weights, bytes, n) : recdb_dot_i8(weights, bytes, n)))
        }
    }
}
