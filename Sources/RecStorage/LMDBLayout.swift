import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The numbers of LMDB's file format that the verifier needs (from `mdb.c`, `MDB_DEVEL` off).
enum LMDBLayout {
    /// `MDB_page` header: pgno u64, pad u16, flags u16, lower u16, upper u16.
    static let pageHeaderSize = 16
    /// `MDB_node` header: lo u16, hi u16, flags u16, ksize u16.
    static let nodeHeaderSize = 8
    /// A page header and an `MDB_meta`.
    static let metaBytes = 152
    /// `MDB_db`.
    static let recordSize = 48
    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    static let invalidPage = UInt64.max
    static let maxKeySize = 511
    /// LMDB's cursor stack (`CURSOR_STACK`): no tree can be deeper.
    static let maxDepth = 32
    static let minPageSize = 512
    static let maxPageSize = 0x8000

    // Page flags.
    static let branch: UInt16 = 0x01
    static let leaf: UInt16 = 0x02
    static let overflow: UInt16 = 0x04
    static let meta: UInt16 = 0x08
    static let dirty: UInt16 = 0x10
    static let leaf2: UInt16 = 0x20
    static let subPage: UInt16 = 0x40

    // Node flags.
    static let bigData: UInt16 = 0x01
    static let subData: UInt16 = 0x02
    static let dupData: UInt16 = 0x04

    // Database flags.
    static let reverseKey: UInt16 = 0x02
    static let dupSort: UInt16 = 0x04
    static let integerKey: UInt16 = 0x08
    static let dupFixed: UInt16 = 0x10
    static let integerDup: UInt16 = 0x20
    static let reverseDup: UInt16 = 0x40
    /// Every flag a database record may carry (`VALID_FLAGS` without `MDB_CREATE`).
    static let databaseFlags: UInt16 = 0x7E
    /// Environment flags kept in the free list's record (`MDB_FIXEDMAP`, `MDB_NOSUBDIR`) beside `MDB_INTEGERKEY`.
    static let fixedMap: UInt16 = 0x01
    static let environmentFlags: UInt16 = 0x4001

    static func isValidPageSize(_ size: Int) -> Bool {
        size >= minPageSize && size <= maxPageSize && size & (size - 1) == 0
    }
}

extension UnsafeRawPointer {
    @inline(__always) func u16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inline(__always) func u64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

/// An `MDB_db`: a tree's root, depth, flags and statistics.
struct DatabaseRecord {
    var pad: UInt32
    var flags: UInt16
    var depth: UInt16
    var branchPages: UInt64
    var leafPages: UInt64
    var overflowPages: UInt64
    var entries: UInt64
    var root: UInt64

    init(_ p: UnsafeRawPointer) {
        pad = p.u32(0)
        flags = p.u16(4)
        depth = p.u16(6)
        branchPages = p.u64(8)
        leafPages = p.u64(16)
        overflowPages = p.u64(24)
        entries = p.u64(32)
        root = p.u64(40)
    }

    var isEmpty: Bool { root == LMDBLayout.invalidPage }
}

/// A meta page: a page header, then `MDB_meta`.
struct MetaPage {
    var index: Int
    var storedPage: UInt64
    var flags: UInt16
    var magic: UInt32
    var version: UInt32
    var address: UInt64
    var free: DatabaseRecord
    var main: DatabaseRecord
    var lastPage: UInt64
    var transaction: UInt64

    init(_ p: UnsafeRawPointer, index: Int) {
        self.index = index
        storedPage = p.u64(0)
        flags = p.u16(10)
        magic = p.u32(16)
        version = p.u32(20)
        address = p.u64(24)
        free = DatabaseRecord(p + 40)
        main = DatabaseRecord(p + 88)
        lastPage = p.u64(136)
        transaction = p.u64(144)
    }

    /// The page size is kept in the free list's record (`mm_psize`).
    var pageSize: Int { Int(free.pad) }
    var hasMagic: Bool { magic == LMDBLayout.magic && flags & LMDBLayout.meta != 0 }
}

/// How a tree's keys sort: LMDB's default `memcmp` order, or from the last byte (`MDB_REVERSEKEY`, and
/// `MDB_INTEGERKEY` on a little-endian machine).
enum KeyOrder {
    case bytes
    case reversed

    init(reverse: Bool, integer: Bool) {
        self = reverse || integer ? .reversed : .bytes
    }

    @inline(__always)
    func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let common = min(a.count, b.count)
        switch self {
        case .bytes:
            // Most keys are big-endian integers of 4 or 8 bytes: compare a word before calling memcmp.
            if common >= 8 {
                let x = UInt64(bigEndian: a.loadUnaligned(as: UInt64.self))
                let y = UInt64(bigEndian: b.loadUnaligned(as: UInt64.self))
                if x != y { return x < y ? -1 : 1 }
                if common == 8 { break }
            } else if common >= 4 {
                let x = UInt32(bigEndian: a.loadUnaligned(as: UInt32.self))
                let y = UInt32(bigEndian: b.loadUnaligned(as: UInt32.self))
                if x != y { return x < y ? -1 : 1 }
                if common == 4 { break }
            }
            if common > 0 {
                let c = memcmp(a.baseAddress!, b.baseAddress!, common)
                if c != 0 { return Int(c) }
            }
        case .reversed:
            var i = 1
            while i <= common {
                let x = a[a.count - i], y = b[b.count - i]
                if x != y { return x < y ? -1 : 1 }
                i += 1
            }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}

/// A bitmap at a stable address (no copy-on-write or exclusivity checks in the walk's inner loops).
final class Bitmap {
    private let words: UnsafeMutablePointer<UInt64>
    private let count: Int

    init(bits: UInt64) {
        count = Int((bits + 63) / 64)
        words = .allocate(capacity: max(count, 1))
        words.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { words.deallocate() }

    /// Sets bit `i`; returns false when it was already set.
    @inline(__always)
    func insert(_ i: UInt64) -> Bool {
        let word = Int(i >> 6), bit = UInt64(1) << (i & 63)
        if words[word] & bit != 0 { return false }
        words[word] |= bit
        return true
    }

    @inline(__always)
    func contains(_ i: UInt64) -> Bool {
        words[Int(i >> 6)] & (UInt64(1) << (i & 63)) != 0
    }

    /// Clears the first `bits` bits.
    func clear(bits: Int) {
        words.update(repeating: 0, count: min(count, (bits + 63) / 64))
    }

    /// Sets bits `start ..< end`; returns false (setting nothing more) when one of them was already set.
    @inline(__always)
    func insertRange(_ start: Int, _ end: Int) -> Bool {
        var i = start
        while i < end {
            let word = i >> 6, first = i & 63
            let last = min(64, first + (end - i))
            let mask = (last == 64 ? ~UInt64(0) : (UInt64(1) << UInt64(last)) - 1) & ~((UInt64(1) << UInt64(first)) - 1)
            if words[word] & mask != 0 { return false }
            words[word] |= mask
            i += last - first
        }
        return true
    }
}
