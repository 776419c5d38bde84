import CRecSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A process-private float32 copy, in node order, of the full-precision vectors of a generation whose graph keeps
/// codes (int8, float16): what the exact re-rank reads instead of one vector-table lookup per candidate.
///
/// Why: over codes every search re-ranks its best 20 or so candidates from the vectors, and each vector-table read
/// is a B-tree descent through pages spread over the file (at 1M vectors several cache and TLB misses, about a
/// microsecond each); here a candidate's vector is one address, prefetched with the others before they are scored.
/// Made for generations whose copy fits ``maximumBytes``, from the vector table as one snapshot sees it, in
/// anonymous memory asked for 2 MB pages; immutable after, shared by the snapshots of its generation. The file still
/// holds each vector once: this is a cache, dropped with the process.
///
/// A node's copy is the table's vector when the image was made. The walks never return a node changed since the
/// build (it is marked dirty until the next generation, which gets a new image), and the re-rank reads the table for
/// any node the image lacks or that is dirty, so a copy that went stale is never used.
final class ResidentVectors: Sendable {
    /// The largest image made: by default a generation gets one when its copy (node limit × dimension × 4 bytes)
    /// fits in 1 GiB; `RECDB_RESIDENT_VECTORS=0` turns images off (to measure what they bring), `=1` lifts the cap.
    /// The first search of a generation pays a scan of its vectors (about 0.1–0.7 s for 100k × 64 on 2 cores).
    static let maximumBytes: Int? = {
        switch ProcessInfo.processInfo.environment["RECDB_RESIDENT_VECTORS"] {
        case "0": nil
        case "1": Int.max
        default: 1 << 30
        }
    }()

    private let mapping: UInt
    private let mappedBytes: Int
    let dimension: Int
    /// One past the largest node the image may hold.
    let nodeLimit: Int
    /// Which nodes were copied (a bit per node).
    private let held: [UInt64]

    /// Copies the vectors that `scan` hands over (node, its `dimension` floats) for nodes below `nodeLimit`; nil
    /// when the memory cannot be mapped or `scan` throws (a damaged table: the re-rank then reads the table and
    /// reports the damage).
    init?(
        nodeLimit: Int, dimension: Int,
        scan: ((UInt32, UnsafePointer<Float>) -> Void) throws -> Void
    ) {
        let bytes = max(nodeLimit, 1) * dimension * 4
        guard dimension > 0,
            let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED
        else { return nil }
        if ResidentGraph.useHugePages { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        let floats = raw.assumingMemoryBound(to: Float.self)
        var held = [UInt64](repeating: 0, count: (nodeLimit + 63) >> 6)
        do {
            try scan { node, vector in
                let index = Int(node)
                guard index < nodeLimit else { return }
                (floats + index * dimension).update(from: vector, count: dimension)
                held[index >> 6] |= 1 << UInt64(index & 63)
            }
        } catch {
            munmap(raw, bytes)
            return nil
        }
        mapping = UInt(bitPattern: raw)
        mappedBytes = bytes
        self.dimension = dimension
        self.nodeLimit = nodeLimit
        self.held = held
    }

    deinit { munmap(UnsafeMutableRawPointer(bitPattern: mapping), mappedBytes) }

    /// The copied vector of `node`, or nil when the image does not hold it.
    @inline(__always)
    func vector(_ node: UInt32) -> UnsafePointer<Float>? {
        let index = Int(node)
        guard index < nodeLimit, held[index >> 6] & (1 << UInt64(index & 63)) != 0 else { return nil }
        return UnsafePointer<Float>(bitPattern: mapping)! + index * dimension
    }

    /// Hints the CPU to fetch the vector of `node` (nodes past the image are ignored).
    @inline(__always)
    func prefetch(_ node: UInt32) {
        let index = Int(node)
        guard index < nodeLimit else { return }
        let start = UnsafeRawPointer(bitPattern: mapping)! + index * dimension * 4
        var offset = 0
        while offset < dimension * 4 {
            recdb_prefetch(start + offset)
            offset += 64
        }
    }
}
