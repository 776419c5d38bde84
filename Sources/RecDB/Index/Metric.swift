import CRecSupport
import Foundation

/// How vectors of an embedding space are compared.
public enum Metric: String, Sendable, CaseIterable, Codable {
    /// Cosine similarity; vectors are normalised when written, so search uses the inner product.
    case cosine
    /// Inner product (maximum inner product search): larger is more similar.
    case innerProduct = "ip"
    /// Euclidean distance: smaller is more similar.
    case l2

    /// Parses `cosine`, `ip` (or `inner_product`, `dot`) and `l2` (or `euclidean`).
    public init?(name: String) {
        switch name.lowercased() {
        case "cosine", "cos": self = .cosine
        case "ip", "inner_product", "innerproduct", "dot": self = .innerProduct
        case "l2", "euclidean": self = .l2
        default: return nil
        }
    }

    var code: UInt8 {
        switch self {
        case .cosine: 1
        case .innerProduct: 2
        case .l2: 3
        }
    }

    init?(code: UInt8) {
        switch code {
        case 1: self = .cosine
        case 2: self = .innerProduct
        case 3: self = .l2
        default: return nil
        }
    }

    /// The distance the index orders by (smaller is closer): the negated inner product, or the squared L2 distance.
    @inline(__always)
    func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        if VectorKernels.useAVX2 {
            switch self {
            case .l2: return recdb_l2sq_avx2(a, b, dimension)
            case .cosine, .innerProduct: return -recdb_dot_avx2(a, b, dimension)
            }
        }
        switch self {
        case .l2: return VectorKernels.squaredL2(a, b, dimension)
        case .cosine, .innerProduct: return -VectorKernels.dot(a, b, dimension)
        }
    }

    /// The distance function with the CPU check done once: hot loops keep one of these instead of calling
    /// ``distance(_:_:_:)``, whose check of a lazily initialised global costs a `swift_once` per call.
    var kernel: DistanceKernel { DistanceKernel(metric: self, avx2: VectorKernels.useAVX2) }

    /// The score shown to people (larger is better): similarity for cosine and inner product, distance for L2.
    func score(fromDistance distance: Float) -> Float {
        switch self {
        case .l2: distance.squareRoot()
        case .cosine, .innerProduct: -distance
        }
    }
}

/// SIMD distance kernels over raw float pointers.
///
/// 16 lanes at a time with two independent accumulators, then a tree sum of the halves (a lane-by-lane horizontal
/// sum compiles to scalar code on this toolchain; the split sum stays vectorised). The tail is scalar.
package enum VectorKernels {
    /// Whether the C kernels with AVX2 and FMA run here: Swift's own SIMD compiles for the baseline x86-64 (SSE2),
    /// so the 256-bit fused kernels are chosen at run time. `RECDB_NO_AVX2=1` turns them off.
    static let useAVX2 = recdb_has_avx2_fma() == 1 && ProcessInfo.processInfo.environment["RECDB_NO_AVX2"] == nil
    /// AVX2 + FMA and the F16C half-float conversions (float16 codes).
    static let useF16C = useAVX2 && recdb_has_f16c() == 1

    @inline(__always)
    package static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var sum0 = SIMD16<Float>(), sum1 = SIMD16<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 32 <= n {
            let a0 = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let b0 = rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let a1 = ra.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            let b1 = rb.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            sum0 += a0 * b0
            sum1 += a1 * b1
            i += 32
        }
        if i + 16 <= n {
            sum0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        var result = horizontalSum(sum0 + sum1)
        while i < n {
            result += a[i] * b[i]
            i += 1
        }
        return result
    }

    @inline(__always)
    static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var sum0 = SIMD16<Float>(), sum1 = SIMD16<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 32 <= n {
            let d0 = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let d1 = ra.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
                - rb.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
            sum0 += d0 * d0
            sum1 += d1 * d1
            i += 32
        }
        if i + 16 <= n {
            let d = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            sum0 += d * d
            i += 16
        }
        var result = horizontalSum(sum0 + sum1)
        while i < n {
            let d = a[i] - b[i]
            result += d * d
            i += 1
        }
        return result
    }

    @inline(__always)
    static func horizontalSum(_ v: SIMD16<Float>) -> Float {
        let h8 = v.lowHalf + v.highHalf
        let h4 = h8.lowHalf + h8.highHalf
        let h2 = h4.lowHalf + h4.highHalf
        return h2[0] + h2[1]
    }

    /// Scales `v` to unit length in place; returns false when it is the zero vector.
    static func normalize(_ v: UnsafeMutablePointer<Float>, _ n: Int) -> Bool {
        let norm = dot(v, v, n).squareRoot()
        guard norm > 0 else { return false }
        let inverse = 1 / norm
        for i in 0..<n { v[i] *= inverse }
        return true
    }
}

/// ``Metric/distance(_:_:_:)`` with the kernel choice made up front.
struct DistanceKernel {
    let metric: Metric
    let avx2: Bool

    @inline(__always)
    func callAsFunction(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
        if avx2 {
            switch metric {
            case .l2: return recdb_l2sq_avx2(a, b, dimension)
            case .cosine, .innerProduct: return -recdb_dot_avx2(a, b, dimension)
            }
        }
        switch metric {
        case .l2: return VectorKernels.squaredL2(a, b, dimension)
        case .cosine, .innerProduct: return -VectorKernels.dot(a, b, dimension)
        }
    }
}
