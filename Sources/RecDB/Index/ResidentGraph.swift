import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A process-private copy of one index generation's level-0 lists and of what walks score (vectors or int8
/// codes), in anonymous memory that the kernel is asked to back with 2 MB pages (`MADV_HUGEPAGE`).
///
/// Why: a walk touches a few hundred nodes spread over the whole graph. Over the memory-mapped LMDB file each of them
/// costs a 4 KB-page TLB miss once the graph outgrows the TLB's reach (about 1M × 32-d here); in 2 MB pages the
/// whole level 0 fits in the TLB. Built once per generation and process, on the first search that wants it, from
/// the snapshot's validated chunks (a chunk that fails validation leaves no image: searches then read the file).
/// Immutable after it is built, so snapshots on every thread share it; freed when the last one lets go.
final class ResidentGraph: Sendable {
    /// The mapping (as an address, so the type stays `Sendable` without an unchecked promise) and its length.
    private let mapping: UInt
    private let mappedBytes: Int
    /// Where the chunk arrays start inside the mapping (2 MB aligned).
    private let base: UInt
    let chunks: Int
    let linkChunkBytes: Int
    let dataChunkBytes: Int
    /// Which chunks the generation holds (absent ones resolve to nil, as in the file).
    let present: [Bool]

    /// Graphs with fewer nodes are read from the file: a few MB at most, they fit the TLB's reach anyway and open
    /// faster. (It was 250,000 until an interleaved A/B on 100k × 64 int8 showed the image worth about 15 % there:
    /// p50 ratio to hnswlib 1.55 against 1.34 from the file.) `RECDB_RESIDENT_GRAPH=0` turns images off, `=1` makes
    /// them for every graph (`=4k`: in 4 KB pages, to measure what the huge pages bring).
    static let minimumNodes: Int? = {
        switch ProcessInfo.processInfo.environment["RECDB_RESIDENT_GRAPH"] {
        case "0": nil
        case "1", "4k": 0
        default: 16_384
        }
    }()

    static let useHugePages = ProcessInfo.processInfo.environment["RECDB_RESIDENT_GRAPH"] != "4k"

    private static let hugePage = 2 << 20

    /// Copies `chunks` chunks of `links` and `data` (resolved and validated by their tables); nil when the memory
    /// cannot be mapped or a chunk failed validation (`faulted` is then true).
    init?(chunks: Int, links: ChunkTable, linkChunkBytes: Int, data: ChunkTable, dataChunkBytes: Int, faulted: () -> Bool) {
        let total = chunks * (linkChunkBytes + dataChunkBytes)
        guard total > 0 else { return nil }
        let length = total + Self.hugePage
        guard let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            raw != MAP_FAILED
        else { return nil }
        let start = (UInt(bitPattern: raw) + UInt(Self.hugePage) - 1) & ~UInt(Self.hugePage - 1)
        if Self.useHugePages { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), total, MADV_HUGEPAGE) }
        let memory = UnsafeMutableRawPointer(bitPattern: start)!
        var present = [Bool](repeating: false, count: chunks)
        for c in 0..<chunks {
            guard let link = links[c] else { continue }
            let codes = data[c]
            guard let codes else { continue }
            (memory + c * linkChunkBytes).copyMemory(from: link, byteCount: linkChunkBytes)
            (memory + chunks * linkChunkBytes + c * dataChunkBytes).copyMemory(from: codes, byteCount: dataChunkBytes)
            present[c] = true
        }
        mapping = UInt(bitPattern: raw)
        mappedBytes = length
        base = start
        self.chunks = chunks
        self.linkChunkBytes = linkChunkBytes
        self.dataChunkBytes = dataChunkBytes
        self.present = present
        if faulted() { return nil }
    }

    deinit { munmap(UnsafeMutableRawPointer(bitPattern: mapping), mappedBytes) }

    /// A table over the copied level-0 lists.
    func linkTable() -> ChunkTable {
        let base = UnsafeRawPointer(bitPattern: base)!, bytes = linkChunkBytes, present = present
        return ChunkTable(count: chunks) { present[$0] ? base + $0 * bytes : nil }
    }

    /// A table over the copied vectors or codes.
    func dataTable() -> ChunkTable {
        let base = UnsafeRawPointer(bitPattern: base)! + chunks * linkChunkBytes, bytes = dataChunkBytes
        let present = present
        return ChunkTable(count: chunks) { present[$0] ? base + $0 * bytes : nil }
    }
}

/// The resident images of one database's index generations (see ``ResidentGraph``): at most one per space and kind,
/// the newest generation asked for.
final class ResidentGraphs: Sendable {
    struct Key: Hashable {
        var space: UInt16
        var kind: VectorKind
    }

    private let images = Mutex<[Key: (generation: UInt32, image: ResidentGraph)]>([:])
    private let vectorImages = Mutex<[Key: (generation: UInt32, image: ResidentVectors)]>([:])

    /// The image of `generation`, made by `make` when there is none yet (outside the lock: two threads may both
    /// make one; the first kept wins). An older generation's image is dropped once a newer one is made.
    func image(space: UInt16, kind: VectorKind, generation: UInt32, make: () -> ResidentGraph?) -> ResidentGraph? {
        let key = Key(space: space, kind: kind)
        if let found = images.withLock({ $0[key] }), found.generation == generation { return found.image }
        guard let made = make() else { return nil }
        return Self.keep(made, generation: generation, key: key, in: images)
    }

    /// The float32 vectors of `generation` (see ``ResidentVectors``), made by `make` when there are none yet, kept
    /// like the graph images.
    func vectors(
        space: UInt16, kind: VectorKind, generation: UInt32, make: () -> ResidentVectors?
    ) -> ResidentVectors? {
        let key = Key(space: space, kind: kind)
        if let found = vectorImages.withLock({ $0[key] }), found.generation == generation { return found.image }
        guard let made = make() else { return nil }
        return Self.keep(made, generation: generation, key: key, in: vectorImages)
    }

    /// Keeps `made` as the image of `key` unless another of the same or a newer generation is kept: returns the one
    /// to use.
    private static func keep<Image: Sendable>(
        _ made: Image, generation: UInt32, key: Key,
        in images: borrowing Mutex<[Key: (generation: UInt32, image: Image)]>
    ) -> Image {
        images.withLock { images in
            if let found = images[key] {
                if found.generation == generation { return found.image }
                if found.generation > generation { return made }  // an old reader's: used, not kept
            }
            images[key] = (generation, made)
            return made
        }
    }
}
