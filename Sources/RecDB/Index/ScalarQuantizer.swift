import CRecSupport

/// What a space's graph walks score: the vectors themselves, or compact codes of them.
///
/// With `int8` each vector is kept once at full precision (in the vector table) and the graph holds one signed
/// byte per dimension beside its level-0 lists; a walk scores those codes (a quarter of the bytes to fetch), and
/// the best candidates are then re-ranked exactly from the full-precision vectors (the re-rank depth is a query
/// knob, see ``VectorIndexSnapshot/search(_:k:ef:rerank:allowed:context:)``).
public enum VectorCodes: String, Sendable, Hashable, Codable, CaseIterable {
    /// 32-bit floats: exact distances during the walk, no re-rank.
    case float32
    /// One signed byte per dimension with a per-dimension scale and centre (scalar quantisation).
    case int8

    /// Parses `float32` (or `f32`, `float`) and `int8` (or `i8`, `sq8`).
    public init?(name: String) {
        switch name.lowercased() {
        case "float32", "f32", "float": self = .float32
        case "int8", "i8", "sq8": self = .int8
        default: return nil
        }
    }

    var code: UInt8 { self == .float32 ? 0 : 1 }

    init?(code: UInt8) {
        switch code {
        case 0: self = .float32
        case 1: self = .int8
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

/// One query as a walk over int8 codes scores it: the prepared weights (and targets for L2), with the kernel
/// chosen once (AVX2 + FMA where the CPU has them, else the portable C loop).
struct CodeScorer {
    let metric: Metric
    let dimension: Int
    let weights: UnsafePointer<Float>
    let targets: UnsafePointer<Float>
    let offset: Float
    let avx2: Bool

    /// The approximate distance (same order as ``Metric``'s: negated inner product, squared L2) of `codes`.
    @inline(__always)
    func callAsFunction(_ codes: UnsafePointer<Int8>) -> Float {
        switch metric {
        case .l2:
            return avx2 ? recdb_l2_i8_avx2(targets, weights, codes, dimension) : recdb_l2_i8(targets, weights, codes, dimension)
        case .cosine, .innerProduct:
            return -(offset + (avx2 ? recdb_dot_i8_avx2(weights, codes, dimension) : recdb_dot_i8(weights, codes, dimension)))
        }
    }
}
