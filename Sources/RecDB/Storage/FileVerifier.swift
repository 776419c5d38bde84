import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks an LMDB data file (`data.mdb`) without LMDB, so that damage is reported instead of crashing the process.
///
/// LMDB trusts its file: a page past the end of a truncated file faults with SIGBUS when it is read through the map,
/// a zeroed page fails one of its assertions and aborts the process, a flipped offset sends a read outside its page.
/// The verifier reads the file with `pread` (never through a map, so it cannot fault) and checks what LMDB relies on:
///
/// - **Meta pages.** Pages 0 and 1 carry the meta flag, LMDB's magic number and format version, a valid page size, the
///   page number of their position, a transaction id of their parity, and sane records of the free list and the main
///   database. As LMDB does, the one with the newer transaction is the snapshot; the other is reported as the commit
///   before it.
/// - **Size.** The file holds every page up to the meta page's last page; a shorter file is refused unless every
///   missing page is listed free (LMDB may allocate and free pages at the end in one transaction without writing
///   them).
/// - **Every B-tree** reachable from the snapshot (``Level/full``): the free list (its values are lists of page numbers
///   within the file), the main database and every named database it lists, including sorted-duplicate sub-pages and
///   sub-databases. For every page: the page number in its header is its position; its flags are exactly those of a
///   branch, leaf or overflow page as its parent expects; `16 ≤ lower ≤ upper ≤ page size`; every node lies in the
///   node area and inside the page, and nodes do not overlap; child pages lie in `2…last page`; overflow runs lie
///   within the file and begin with an overflow page long enough for their value; keys ascend in LMDB's order within
///   the page and within the bounds its parent gives; all leaves lie at the tree's recorded depth; no page is reached
///   twice; and each tree's page and entry counts match its database record. Finally every page is either in use or
///   listed free, never both.
///
/// ```swift
/// let report = try FileVerifier.verify("/var/lib/recdb/data.mdb")
/// for problem in report.problems { print(problem) }   // events, page 4711, key 0x…: keys out of order …
/// ```
///
/// The file must not be written meanwhile, or pages may change under the walk. To check a database that a running
/// process writes, use ``Environment/verifyFile(limit:)``: it holds a read transaction, so the snapshot it walks
/// stays put. Opening an ``Environment`` runs these checks by default (see ``Environment/Options/verification``).
///
/// The walk reads each branch and leaf page once and only the first page of each overflow run: about 10 ms for a
/// MovieLens 100K database with two trained models (33 MB), about 70 ms for Online Retail (152 MB).
public enum FileVerifier {
    /// How much of the file a check reads.
    public enum Level: Sendable, Hashable {
        /// The two meta pages and the file's size: a few hundred bytes, microseconds. Catches truncation and damaged
        /// meta pages, not damage inside the trees.
        case header
        /// The header, then every page the newest snapshot uses.
        case full
    }

    /// Checks the LMDB file at `path` (a `data.mdb`, or a folder holding one).
    ///
    /// Throws only when the file cannot be read at all (missing, no permission); damage is reported in the result.
    /// At most `limit` problems are collected.
    public static func verify(_ path: String, level: Level = .full, limit: Int = 100) throws -> FileVerification {
        let file = dataFilePath(path)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            let code: RecDBError.Code =
                errno == ENOENT ? .notFound : errno == EACCES || errno == EPERM ? .permissionDenied : .io
            throw RecDBError(code, "cannot read the data file: \(reason)", location: file)
        }
        defer { close(fd) }
        // Without a pinned transaction the result is always complete.
        return verify(fileDescriptor: fd, path: file, level: level, limit: limit, transaction: nil)!
    }

    /// Checks the file open on `fd`. With `transaction`, the snapshot of that transaction is walked (the caller holds a
    /// read transaction on it); nil is returned when neither meta page holds it any more (writers moved on: retry).
    static func verify(
        fileDescriptor fd: Int32, path: String, level: Level, limit: Int, transaction: UInt64?
    ) -> FileVerification? {
        let walker = FileWalker(fd: fd, path: path, limit: max(1, limit))
        return walker.run(level: level, transaction: transaction)
    }

    /// `path` itself when it names a file, else `path/data.mdb`.
    static func dataFilePath(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path as NSString).appendingPathComponent("data.mdb")
        }
        return path
    }

    /// A key as people read it: `'text'` when it is short printable UTF-8, else hex of its first 20 bytes.
    static func describeKey(_ key: UnsafeRawBufferPointer) -> String {
        if key.isEmpty { return "(empty)" }
        // The longest prefix of at most 40 bytes that ends on a character boundary.
        var text: String?
        for length in stride(from: min(key.count, 40), through: max(1, min(key.count, 40) - 3), by: -1) {
            if let valid = String(validating: Array(key.prefix(length)), as: UTF8.self) {
                text = valid
                break
            }
        }
        if let text, text.utf8.count == key.count || text.utf8.count >= 8,
            text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F && $0.value != 0x27 })
        {
            return "'\(text)\(text.utf8.count < key.count ? "…" : "")'"
        }
        var hex = "0x"
        for byte in key.prefix(20) { hex += String(byte, radix: 16).leftPadded(to: 2) }
        if key.count > 20 { hex += "… (\(key.count) bytes)" }
        return hex
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

// MARK: - LMDB's on-disk layout (0.9.x, 64-bit, little-endian)

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
    @inline(__always) fileprivate func u16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) fileprivate func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inline(__always) fileprivate func u64(_ offset: Int) -> UInt64 {
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

// MARK: - The walk

/// What a tree is, for the rules of its leaves.
private enum TreeKind {
    case freeList
    case main
    case named
    /// The sorted duplicates of one key, kept as a tree of their own (a sub-database).
    case duplicates
}

/// One tree being walked and what it was found to hold.
private final class Tree {
    let name: String
    let kind: TreeKind
    let keyOrder: KeyOrder
    /// For a database with sorted duplicates: the order of its values.
    let duplicateOrder: KeyOrder?
    let fixedSizeDuplicates: Bool
    let integerDuplicates: Bool
    /// For a sub-database of fixed-size duplicates: the size of each (its leaves are LEAF2 pages).
    let fixedKeySize: Int
    let depth: Int
    /// For a sub-database: the key whose duplicates it holds (in the parent's page buffer, valid during the walk).
    let outerKey: UnsafeRawBufferPointer?

    var branchPages: UInt64 = 0
    var leafPages: UInt64 = 0
    var overflowPages: UInt64 = 0
    var entries: UInt64 = 0
    /// For the main database: the named databases found in its leaves.
    var named: [(name: [UInt8], record: DatabaseRecord, page: UInt64)] = []

    init(name: String, kind: TreeKind, flags: UInt16, depth: Int, fixedKeySize: Int = 0,
        outerKey: UnsafeRawBufferPointer? = nil
    ) {
        self.name = name
        self.kind = kind
        self.depth = depth
        self.fixedKeySize = fixedKeySize
        self.outerKey = outerKey
        keyOrder = KeyOrder(
            reverse: flags & LMDBLayout.reverseKey != 0, integer: flags & LMDBLayout.integerKey != 0)
        if flags & LMDBLayout.dupSort != 0 {
            duplicateOrder = KeyOrder(
                reverse: flags & LMDBLayout.reverseDup != 0, integer: flags & LMDBLayout.integerDup != 0)
        } else {
            duplicateOrder = nil
        }
        fixedSizeDuplicates = flags & LMDBLayout.dupFixed != 0
        integerDuplicates = flags & LMDBLayout.integerDup != 0
    }
}

/// Reads the file with `pread` and collects problems; used once.
final class FileWalker {
    private let fd: Int32
    private let path: String
    private let limit: Int
    private var problems: [FileProblem] = []
    private var stoppedAtLimit = false
    private var fileSize = 0
    private var pageSize = 0
    private var lastPage: UInt64 = 0
    private var used = Bitmap(bits: 0)
    private var free = Bitmap(bits: 0)
    /// Pages the bitmaps cover: those the file holds (a damaged meta page may claim any number).
    private var presentPages: UInt64 = 0
    /// Pages listed free beyond the end of the file (LMDB may allocate and free pages at the end without writing
    /// them).
    private var freeBeyondEnd = Set<UInt64>()
    /// Page buffers, one per level of the walk's recursion, so that a parent's keys stay valid below it.
    private var buffers: [UnsafeMutableRawPointer] = []
    /// Scratch: the bytes of a page that its nodes cover, to find overlaps.
    private let covered = Bitmap(bits: UInt64(LMDBLayout.maxPageSize))
    private var pagesChecked = 0
    private var pagesInUse = 0
    private var databases: [String] = []

    init(fd: Int32, path: String, limit: Int) {
        self.fd = fd
        self.path = path
        self.limit = limit
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    private var full: Bool { problems.count >= limit }

    // MARK: Reports

    private func report(_ database: String, page: UInt64?, key: String?, _ message: String) {
        guard problems.count < limit else {
            stoppedAtLimit = true
            return
        }
        problems.append(FileProblem(database: database, page: page, key: key, message: message))
        if problems.count >= limit { stoppedAtLimit = true }
    }

    private func report(_ tree: Tree, page: UInt64?, key: UnsafeRawBufferPointer?, _ message: String) {
        if let outerKey = tree.outerKey {
            // A sub-database: the outer key locates it; the duplicate value is part of the message.
            let value = key.map { " (value \(FileVerifier.describeKey($0)))" } ?? ""
            report(tree.name, page: page, key: FileVerifier.describeKey(outerKey), "in its duplicates\(value): \(message)")
        } else {
            report(tree.name, page: page, key: key.map(FileVerifier.describeKey), message)
        }
    }

    // MARK: Reading

    /// Reads `count` bytes at `offset` into `buffer`; returns the bytes read (short at the end of the file).
    private func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Int {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return done
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The buffer of recursion level `slot`.
    private func buffer(_ slot: Int) -> UnsafeMutableRawPointer {
        while buffers.count <= slot {
            buffers.append(.allocate(byteCount: max(pageSize, LMDBLayout.metaBytes), alignment: 16))
        }
        return buffers[slot]
    }

    /// Page `page` read into the buffer of `slot`, or nil when the file ends before it.
    private func readPage(_ page: UInt64, slot: Int) -> UnsafeRawPointer? {
        let target = buffer(slot)
        let got = read(into: target, count: pageSize, at: Int(page) * pageSize)
        return got == pageSize ? UnsafeRawPointer(target) : nil
    }

    private func readMeta(at offset: Int, index: Int) -> MetaPage? {
        var bytes = [UInt8](repeating: 0, count: LMDBLayout.metaBytes)
        let got = bytes.withUnsafeMutableBytes { read(into: $0.baseAddress!, count: LMDBLayout.metaBytes, at: offset) }
        guard got == LMDBLayout.metaBytes else { return nil }
        return bytes.withUnsafeBytes { MetaPage($0.baseAddress!, index: index) }
    }

    // MARK: The check

    func run(level: FileVerifier.Level, transaction: UInt64?) -> FileVerification? {
        let start = ContinuousClock.now
        var snapshot: FileVerification.Snapshot?
        var previous: FileVerification.Snapshot?
        var notLMDB = false
        var walked = false

        // Meta pages first, then the size: a writer extends the file before it writes the meta page that counts the
        // new pages, so a size read after the meta pages is never too small for them.
        switch checkHeader(transaction: transaction) {
        case .stale:
            return nil
        case .empty:
            break
        case .foreign:
            notLMDB = true
        case .damaged(let chosen, let other):
            snapshot = chosen.map { .init(metaPage: $0.index, transaction: $0.transaction, lastPage: $0.lastPage) }
            previous = other.map { .init(metaPage: $0.index, transaction: $0.transaction, lastPage: $0.lastPage) }
        case .sound(let meta, let other):
            snapshot = .init(metaPage: meta.index, transaction: meta.transaction, lastPage: meta.lastPage)
            previous = other.map { .init(metaPage: $0.index, transaction: $0.transaction, lastPage: $0.lastPage) }
            walked = walk(meta, other: other, level: level)
        }
        return FileVerification(
            path: path, fileSize: fileSize, pageSize: pageSize, snapshot: snapshot, previousSnapshot: previous,
            problems: problems, stoppedAtLimit: stoppedAtLimit, walkedTrees: walked, notLMDB: notLMDB,
            pagesChecked: pagesChecked, pagesInUse: pagesInUse, databases: databases,
            seconds: (ContinuousClock.now - start).seconds)
    }

    private enum Header {
        case empty
        case foreign
        case stale
        /// The meta page LMDB would use (nil when none can be told), and the other when it is sound.
        case damaged(MetaPage?, MetaPage?)
        case sound(MetaPage, other: MetaPage?)
    }

    private func fileLength() -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    private func checkHeader(transaction: UInt64?) -> Header {
        // A writer may commit between the two reads; a pair that fails is read again before it is reported.
        var attempt = 0
        while true {
            let mark = problems.count
            let header = readHeader(transaction: transaction)
            attempt += 1
            guard case .damaged = header, attempt < 3, transaction == nil || attempt < 2 else { return header }
            problems.removeSubrange(mark...)
            stoppedAtLimit = false
            usleep(1_000)
        }
    }

    private func readHeader(transaction: UInt64?) -> Header {
        fileSize = fileLength()
        if fileSize == 0 && transaction == nil { return .empty }
        guard let meta0 = readMeta(at: 0, index: 0) else {
            report(
                "file", page: nil, key: nil,
                "data.mdb is \(fileSize) bytes: too short for LMDB's first meta page (\(LMDBLayout.metaBytes) bytes)")
            return .damaged(nil, nil)
        }
        // The page size is in meta page 0; when that is damaged, look for meta page 1 at each possible size.
        var size: Int?
        if meta0.hasMagic && LMDBLayout.isValidPageSize(meta0.pageSize) {
            size = meta0.pageSize
        } else {
            for candidate in [4096, 8192, 16384, 32768, 2048, 1024, 512] {
                if let meta1 = readMeta(at: candidate, index: 1), meta1.hasMagic, meta1.pageSize == candidate,
                    meta1.storedPage == 1
                {
                    size = candidate
                    break
                }
            }
        }
        guard let pageSize = size else {
            if meta0.magic != LMDBLayout.magic {
                report(
                    "meta pages", page: 0, key: nil,
                    "no LMDB meta page: neither page 0 nor page 1 carries LMDB's magic number (not an LMDB file, or "
                        + "its first pages are destroyed)")
                return .foreign
            }
            report(
                "meta pages", page: 0, key: nil,
                "page size \(meta0.pageSize) is not a power of two in 512…32768, and no meta page 1 was found")
            return .damaged(nil, nil)
        }
        self.pageSize = pageSize
        guard let meta1 = readMeta(at: pageSize, index: 1) else {
            report(
                "file", page: nil, key: nil,
                "data.mdb is \(fileSize) bytes: it ends inside meta page 1 (pages of \(pageSize) bytes)")
            return .damaged(nil, nil)
        }
        let faults0 = metaFaults(meta0), faults1 = metaFaults(meta1)
        let metas = [meta0, meta1], faults = [faults0, faults1]

        // The snapshot: the pinned transaction's meta page, else the newer one, as LMDB picks it.
        let chosen: MetaPage
        if let transaction {
            guard let pinned = metas.first(where: { $0.transaction == transaction }) else { return .stale }
            chosen = pinned
        } else {
            chosen = meta0.transaction < meta1.transaction ? meta1 : meta0
        }
        let other = metas[1 - chosen.index]
        let otherSound = faults[other.index].isEmpty
        for meta in [chosen, other] {
            for (n, fault) in faults[meta.index].enumerated() {
                var text = fault
                if n == 0 && meta.index == chosen.index && otherSound {
                    text += " (meta page \(other.index), transaction \(other.transaction), is intact)"
                }
                report("meta pages", page: UInt64(meta.index), key: nil, text)
            }
        }
        if !faults0.isEmpty || !faults1.isEmpty {
            return .damaged(chosen, otherSound && other.transaction < chosen.transaction ? other : nil)
        }
        // Two meta pages of one transaction: only a new file, both empty (LMDB would take page 0 and lose page 1).
        if meta0.transaction == meta1.transaction
            && !(meta0.transaction == 0 && [meta0, meta1].allSatisfy { $0.main.isEmpty && $0.free.isEmpty })
        {
            report(
                "meta pages", page: 0, key: nil,
                "both meta pages hold transaction \(meta0.transaction), and they are not those of a new, empty file")
            return .damaged(chosen, nil)
        }
        // Each commit writes the meta page of its transaction's parity: the two hold consecutive transactions (both 0
        // in a new file). A pinned check skips this: writers may commit several times between its two reads.
        if transaction == nil && !(meta0.transaction == 0 && meta1.transaction == 0)
            && max(meta0.transaction, meta1.transaction) - min(meta0.transaction, meta1.transaction) != 1
        {
            report(
                "meta pages", page: UInt64(chosen.index), key: nil,
                "the meta pages hold transactions \(meta0.transaction) and \(meta1.transaction); "
                    + "consecutive ones were expected")
            return .damaged(chosen, nil)
        }
        // The file never shrinks: an older snapshot ends at or before the newer one.
        if other.transaction < chosen.transaction && other.lastPage > chosen.lastPage {
            report(
                "meta pages", page: UInt64(other.index), key: nil,
                "the older meta page (transaction \(other.transaction)) ends at page \(other.lastPage), after the newer "
                    + "one's last page \(chosen.lastPage)")
            return .damaged(chosen, nil)
        }
        lastPage = chosen.lastPage
        return .sound(chosen, other: other.transaction < chosen.transaction ? other : nil)
    }

    /// What is wrong with one meta page (empty when sound). The page size is the file's.
    private func metaFaults(_ meta: MetaPage) -> [String] {
        var faults: [String] = []
        guard meta.magic == LMDBLayout.magic else {
            return [String(format: "magic number 0x%08x, not LMDB's 0xbeefc0de", meta.magic)]
        }
        if meta.flags != LMDBLayout.meta {
            faults.append(String(format: "page flags 0x%04x, not a meta page's 0x0008", meta.flags))
        }
        if meta.version != LMDBLayout.dataVersion {
            faults.append("format version \(meta.version); this LMDB reads version \(LMDBLayout.dataVersion)")
        }
        if meta.storedPage != UInt64(meta.index) {
            faults.append("its header says it is page \(meta.storedPage)")
        }
        if meta.pageSize != pageSize {
            faults.append("page size \(meta.pageSize); the file's is \(pageSize)")
        }
        if meta.address != 0 && meta.free.flags & LMDBLayout.fixedMap == 0 {
            faults.append(String(format: "map address 0x%llx without a fixed map", meta.address))
        }
        if meta.transaction != 0 && Int(meta.transaction % 2) != meta.index {
            faults.append("transaction \(meta.transaction) belongs in meta page \(meta.transaction % 2)")
        }
        let maxPage = UInt64(Int.max / max(pageSize, 1)) - 1
        if meta.lastPage < 1 || meta.lastPage > maxPage {
            faults.append("last page \(meta.lastPage) is impossible")
            return faults
        }
        let freeFlags = meta.free.flags
        if freeFlags & LMDBLayout.integerKey == 0
            || freeFlags & ~(LMDBLayout.integerKey | LMDBLayout.environmentFlags) != 0
        {
            faults.append(String(format: "the free list's flags are 0x%04x", freeFlags))
        }
        if meta.main.flags & ~LMDBLayout.databaseFlags != 0 {
            faults.append(String(format: "the main database's flags are 0x%04x", meta.main.flags))
        }
        for (name, record) in [("free list", meta.free), ("main database", meta.main)] {
            if let fault = recordFault(record, lastPage: meta.lastPage) { faults.append("the \(name): \(fault)") }
        }
        return faults
    }

    /// What is wrong with a tree's root, depth and counts as its record gives them, or nil.
    private func recordFault(_ record: DatabaseRecord, lastPage: UInt64) -> String? {
        if record.isEmpty {
            if record.depth != 0 || record.branchPages != 0 || record.leafPages != 0 || record.overflowPages != 0
                || record.entries != 0
            {
                return "an empty tree with depth \(record.depth), \(record.leafPages) leaf pages and "
                    + "\(record.entries) entries"
            }
            return nil
        }
        if record.root < 2 || record.root > lastPage {
            return "root page \(record.root) lies outside the file's pages 2…\(lastPage)"
        }
        if record.depth < 1 || Int(record.depth) > LMDBLayout.maxDepth {
            return "depth \(record.depth) (LMDB walks 1…\(LMDBLayout.maxDepth) levels)"
        }
        let pages = record.branchPages.addingReportingOverflow(record.leafPages)
        let all = pages.partialValue.addingReportingOverflow(record.overflowPages)
        if pages.overflow || all.overflow || all.partialValue > lastPage || record.leafPages == 0 {
            return "page counts \(record.branchPages) branch, \(record.leafPages) leaf, \(record.overflowPages) "
                + "overflow do not fit a file of \(lastPage + 1) pages"
        }
        return nil
    }

    // MARK: Trees

    /// Checks the size against `meta`, then (for a full check) walks every tree. Returns whether trees were walked.
    private func walk(_ meta: MetaPage, other: MetaPage?, level: FileVerifier.Level) -> Bool {
        let required = (Int(meta.lastPage) + 1) * pageSize
        let short = fileSize < required
        guard level == .full || short else { return false }
        presentPages = min(meta.lastPage + 1, UInt64(fileSize / pageSize))
        used = Bitmap(bits: max(presentPages, 2))
        free = Bitmap(bits: max(presentPages, 2))
        _ = used.insert(0)
        _ = used.insert(1)
        pagesInUse = 2
        pagesChecked = 2

        // The free list first: a file may end before pages that are listed free, never before pages in use.
        let mark = problems.count
        let freeList = Tree(name: "free list", kind: .freeList, flags: meta.free.flags, depth: Int(meta.free.depth))
        walkTree(meta.free, freeList, slot: 0)
        if short {
            // Every missing page must be listed free (each is listed once, and all lie in present...lastPage).
            let missing = meta.lastPage + 1 - presentPages
            let missingInUse = problems.count > mark || UInt64(freeBeyondEnd.count) != missing
            if missingInUse {
                problems.removeSubrange(mark...)
                stoppedAtLimit = false
                report(
                    "file", page: nil, key: nil,
                    "data.mdb is \(fileSize) bytes, but meta page \(meta.index) (transaction \(meta.transaction)) needs "
                        + "\(required) bytes (pages 0…\(meta.lastPage) of \(pageSize) bytes): the file is truncated"
                        + (other.map { $0.lastPage < UInt64(fileSize / pageSize) } == true
                            ? ", or that meta page is damaged (meta page \(other!.index), transaction "
                                + "\(other!.transaction), fits the file)" : ""))
                return false
            }
        }
        guard level == .full, !full else { return false }

        let main = Tree(name: "main", kind: .main, flags: meta.main.flags, depth: Int(meta.main.depth))
        walkTree(meta.main, main, slot: 0)
        for (nameBytes, record, page) in main.named {
            if full { break }
            let name = nameBytes.withUnsafeBytes { bytes in
                String(validating: nameBytes, as: UTF8.self) ?? FileVerifier.describeKey(bytes)
            }
            databases.append(name)
            if record.flags & ~LMDBLayout.databaseFlags != 0
                || (record.flags & LMDBLayout.dupSort == 0
                    && record.flags & (LMDBLayout.dupFixed | LMDBLayout.integerDup | LMDBLayout.reverseDup) != 0)
            {
                report("main", page: page, key: "'\(name)'", String(format: "database flags 0x%04x", record.flags))
                continue
            }
            if let fault = recordFault(record, lastPage: lastPage) {
                report("main", page: page, key: "'\(name)'", "the database's record: \(fault)")
                continue
            }
            walkTree(record, Tree(name: name, kind: .named, flags: record.flags, depth: Int(record.depth)), slot: 0)
        }
        if problems.isEmpty { crossCheckFreePages() }
        return true
    }

    /// Every page after the meta pages is either in use or listed free, never both.
    private func crossCheckFreePages() {
        var both = 0, neither = 0
        var firstBoth: UInt64?, firstNeither: UInt64?
        if lastPage >= 2 {
            for page in 2..<max(presentPages, 2) {
                let inUse = used.contains(page), isFree = free.contains(page)
                if inUse && isFree {
                    both += 1
                    if firstBoth == nil { firstBoth = page }
                } else if !inUse && !isFree {
                    neither += 1
                    if firstNeither == nil { firstNeither = page }
                }
            }
        }
        if let firstBoth {
            report(
                "free list", page: firstBoth, key: nil,
                "\(both) page\(both == 1 ? " is" : "s are") listed free but in use (a writer would overwrite live data)")
        }
        if let firstNeither {
            report(
                "free list", page: firstNeither, key: nil,
                "\(neither) page\(neither == 1 ? " is" : "s are") neither in use nor listed free")
        }
    }

    /// Walks the tree of `record` and compares what it holds with the record.
    private func walkTree(_ record: DatabaseRecord, _ tree: Tree, slot: Int) {
        guard !record.isEmpty, !full else { return }
        let mark = problems.count
        walkPage(record.root, level: 1, tree, lower: nil, upper: nil, near: nil, slot: slot)
        guard problems.count == mark else { return }
        if tree.branchPages != record.branchPages || tree.leafPages != record.leafPages
            || tree.overflowPages != record.overflowPages || tree.entries != record.entries
        {
            report(
                tree, page: record.root, key: nil,
                "the database record counts \(record.branchPages) branch, \(record.leafPages) leaf and "
                    + "\(record.overflowPages) overflow pages with \(record.entries) entries; the tree has "
                    + "\(tree.branchPages), \(tree.leafPages), \(tree.overflowPages) and \(tree.entries)")
        }
    }

    /// Checks page `page` at `level` (1 for the root) and everything below it. Its keys must lie in
    /// `lower ..< upper` (nil: no bound); `near` is the key that led here, for reports.
    private func walkPage(
        _ page: UInt64, level: Int, _ tree: Tree, lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
        near: UnsafeRawBufferPointer?, slot: Int
    ) {
        if full { return }
        guard page < presentPages else {
            report(tree, page: page, key: near, "the page lies beyond the end of the file (\(fileSize) bytes)")
            return
        }
        guard used.insert(page) else {
            report(tree, page: page, key: near, "the page is reached a second time (a loop, or a page of two trees)")
            return
        }
        guard let p = readPage(page, slot: slot) else {
            report(tree, page: page, key: near, "the page lies beyond the end of the file (\(fileSize) bytes)")
            return
        }
        pagesChecked += 1
        pagesInUse += 1
        let stored = p.u64(0)
        guard stored == page else {
            report(tree, page: page, key: near, "the page's header says it is page \(stored)")
            return
        }
        let flags = p.u16(10)
        let leafLevel = level == tree.depth
        let leafFlags = tree.fixedKeySize > 0 ? LMDBLayout.leaf | LMDBLayout.leaf2 : LMDBLayout.leaf
        let isBranch = flags == LMDBLayout.branch
        guard isBranch || flags == leafFlags else {
            report(
                tree, page: page, key: near,
                String(format: "page flags 0x%04x, where a ", flags) + (leafLevel ? "leaf" : "branch")
                    + String(format: " page (0x%04x) belongs", leafLevel ? leafFlags : LMDBLayout.branch))
            return
        }
        guard isBranch != leafLevel else {
            report(
                tree, page: page, key: near,
                "a \(isBranch ? "branch" : "leaf") page at level \(level) of a tree \(tree.depth) levels deep")
            return
        }
        let lowerBound = Int(p.u16(12)), upperBound = Int(p.u16(14))
        guard lowerBound >= LMDBLayout.pageHeaderSize, lowerBound & 1 == 0, lowerBound <= upperBound,
            upperBound <= pageSize
        else {
            report(
                tree, page: page, key: near,
                "free-space bounds \(lowerBound)…\(upperBound) are impossible in a page of \(pageSize) bytes")
            return
        }
        let count = (lowerBound - LMDBLayout.pageHeaderSize) / 2
        let minimum = isBranch ? (tree.kind == .freeList ? 1 : 2) : 1
        guard count >= minimum else {
            report(tree, page: page, key: near, "a \(isBranch ? "branch" : "leaf") page with \(count) entries")
            return
        }
        if isBranch {
            tree.branchPages += 1
        } else {
            tree.leafPages += 1
        }
        if flags == LMDBLayout.leaf | LMDBLayout.leaf2 {
            checkFixedKeys(p, page: page, count: count, tree, lower: lower, upper: upper, near: near)
            return
        }
        guard checkNodes(p, page: page, count: count, upperBound: upperBound, isBranch: isBranch, tree,
            lower: lower, upper: upper, near: near)
        else { return }

        if isBranch {
            for i in 0..<count {
                if full { return }
                let node = Int(p.u16(LMDBLayout.pageHeaderSize + 2 * i))
                let child = UInt64(p.u16(node)) | UInt64(p.u16(node + 2)) << 16 | UInt64(p.u16(node + 4)) << 32
                let key = i == 0 ? nil : nodeKey(p, node)
                guard child >= 2 && child <= lastPage else {
                    report(
                        tree, page: page, key: key ?? near,
                        "child page \(child) lies outside the file's pages 2…\(lastPage)")
                    return
                }
                let next = i + 1 < count ? nodeKey(p, Int(p.u16(LMDBLayout.pageHeaderSize + 2 * (i + 1)))) : upper
                walkPage(child, level: level + 1, tree, lower: key ?? lower, upper: next, near: key ?? near,
                    slot: slot + 1)
            }
        } else {
            for i in 0..<count {
                if full { return }
                checkLeafNode(p, page: page, node: Int(p.u16(LMDBLayout.pageHeaderSize + 2 * i)), tree, slot: slot)
            }
        }
    }

    @inline(__always)
    private func nodeKey(_ p: UnsafeRawPointer, _ node: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: p + node + LMDBLayout.nodeHeaderSize, count: Int(p.u16(node + 6)))
    }

    /// Checks the node table of a page (or sub-page) of `size` bytes at `p`: every node inside the node area and the
    /// page, no overlaps, keys ascending within `lower ..< upper`. Returns whether the page can be read further.
    private func checkNodes(
        _ p: UnsafeRawPointer, page: UInt64, count: Int, upperBound: Int, size: Int? = nil, isBranch: Bool,
        _ tree: Tree, order: KeyOrder? = nil, lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?,
        near: UnsafeRawBufferPointer?, subPage: Bool = false
    ) -> Bool {
        let size = size ?? pageSize
        let order = order ?? tree.keyOrder
        let what = subPage ? "sub-page" : "page"
        covered.clear(bits: size)
        var previous: UnsafeRawBufferPointer?
        for i in 0..<count {
            let node = Int(p.u16(LMDBLayout.pageHeaderSize + 2 * i))
            guard node >= upperBound, node + LMDBLayout.nodeHeaderSize <= size, subPage || node & 1 == 0 else {
                report(
                    tree, page: page, key: previous ?? near,
                    "node \(i) of the \(what) starts at offset \(node), outside its node area \(upperBound)…\(size)")
                return false
            }
            let keySize = Int(p.u16(node + 6))
            var length = LMDBLayout.nodeHeaderSize + keySize
            if !isBranch {
                let nodeFlags = p.u16(node + 4)
                length += nodeFlags & LMDBLayout.bigData != 0 ? 8 : Int(p.u16(node)) | Int(p.u16(node + 2)) << 16
            }
            guard node + length <= size else {
                report(
                    tree, page: page, key: previous ?? near,
                    "node \(i) of the \(what) (\(length) bytes at offset \(node)) runs past its end (\(size) bytes)")
                return false
            }
            guard covered.insertRange(node, node + length) else {
                report(tree, page: page, key: previous ?? near, "two nodes of the \(what) overlap at offset \(node)")
                return false
            }
            if isBranch && i == 0 { continue }  // The first key of a branch page is not used.
            let key = UnsafeRawBufferPointer(start: p + node + LMDBLayout.nodeHeaderSize, count: keySize)
            let emptyAllowed = tree.kind == .duplicates || subPage
            guard keySize <= LMDBLayout.maxKeySize, keySize > 0 || emptyAllowed else {
                report(
                    tree, page: page, key: previous ?? near,
                    "a key of \(keySize) bytes (LMDB keys have 1…\(LMDBLayout.maxKeySize))")
                return false
            }
            if let previous {
                guard order.compare(previous, key) < 0 else {
                    report(
                        tree, page: page, key: key,
                        "keys out of order: it follows \(FileVerifier.describeKey(previous))")
                    return false
                }
            } else if let lower, order.compare(key, lower) < 0 {
                report(
                    tree, page: page, key: key,
                    "the key sorts before \(FileVerifier.describeKey(lower)), where its parent page puts this page")
                return false
            }
            previous = key
        }
        if let previous, let upper, order.compare(previous, upper) >= 0 {
            report(
                tree, page: page, key: previous,
                "the key sorts at or after \(FileVerifier.describeKey(upper)), where its parent page puts the next page")
            return false
        }
        return true
    }

    /// Checks the fixed-size keys of a LEAF2 page (sorted duplicates of fixed size, packed after the header).
    private func checkFixedKeys(
        _ p: UnsafeRawPointer, page: UInt64, count: Int, _ tree: Tree, lower: UnsafeRawBufferPointer?,
        upper: UnsafeRawBufferPointer?, near: UnsafeRawBufferPointer?
    ) {
        let width = tree.fixedKeySize
        guard LMDBLayout.pageHeaderSize + count * width <= pageSize else {
            report(tree, page: page, key: near, "\(count) values of \(width) bytes do not fit the page")
            return
        }
        if checkFixedKeys(p, count: count, width: width, order: tree.keyOrder, tree, page: page, lower: lower,
            upper: upper)
        {
            tree.entries += UInt64(count)
        }
    }

    private func checkFixedKeys(
        _ p: UnsafeRawPointer, count: Int, width: Int, order: KeyOrder, _ tree: Tree, page: UInt64,
        lower: UnsafeRawBufferPointer?, upper: UnsafeRawBufferPointer?
    ) -> Bool {
        var previous = lower
        for i in 0..<count {
            let key = UnsafeRawBufferPointer(start: p + LMDBLayout.pageHeaderSize + i * width, count: width)
            if let previous, order.compare(previous, key) >= (i == 0 ? 1 : 0) {
                report(
                    tree, page: page, key: key,
                    i == 0 ? "the value sorts before \(FileVerifier.describeKey(previous)), where its parent page "
                        + "puts this page" : "values out of order: it follows \(FileVerifier.describeKey(previous))")
                return false
            }
            previous = key
        }
        if let last = previous, count > 0, let upper, order.compare(last, upper) >= 0 {
            report(
                tree, page: page, key: last,
                "the value sorts at or after \(FileVerifier.describeKey(upper)), where its parent page puts the next "
                    + "page")
            return false
        }
        return true
    }

    /// Checks one leaf node's data: an inline or overflow value, a named database's record, a sub-page or
    /// sub-database of duplicates, or a free-list record.
    private func checkLeafNode(_ p: UnsafeRawPointer, page: UInt64, node: Int, _ tree: Tree, slot: Int) {
        let key = nodeKey(p, node)
        let flags = p.u16(node + 4)
        let size = Int(p.u16(node)) | Int(p.u16(node + 2)) << 16
        let data = p + node + LMDBLayout.nodeHeaderSize + key.count
        let big = flags & LMDBLayout.bigData != 0

        switch tree.kind {
        case .duplicates:
            guard flags == 0 && size == 0 else {
                report(tree, page: page, key: key, "a duplicate value with node flags \(flags) and \(size) data bytes")
                return
            }
            tree.entries += 1

        case .freeList:
            guard flags & ~LMDBLayout.bigData == 0, key.count == 8 else {
                report(
                    tree, page: page, key: key,
                    "a free-list record with node flags \(flags) and a \(key.count)-byte key (8 expected)")
                return
            }
            tree.entries += 1
            if big {
                let first = data.u64(0)
                guard checkOverflow(first: first, size: size, tree, page: page, key: key) else { return }
                var bytes = [UInt8](repeating: 0, count: size)
                let got = bytes.withUnsafeMutableBytes {
                    read(into: $0.baseAddress!, count: size, at: Int(first) * pageSize + LMDBLayout.pageHeaderSize)
                }
                guard got == size else {
                    report(tree, page: first, key: key, "the free-list record runs past the end of the file")
                    return
                }
                bytes.withUnsafeBytes { checkFreeRecord($0.baseAddress!, size: size, tree, page: first, key: key) }
            } else {
                checkFreeRecord(data, size: size, tree, page: page, key: key)
            }

        case .main where flags == LMDBLayout.subData && tree.duplicateOrder == nil:
            guard size == LMDBLayout.recordSize else {
                report(tree, page: page, key: key, "a named database's record of \(size) bytes (48 expected)")
                return
            }
            tree.named.append((Array(key), DatabaseRecord(data), page))
            tree.entries += 1

        case .main, .named:
            guard let duplicateOrder = tree.duplicateOrder else {
                guard flags & ~LMDBLayout.bigData == 0 else {
                    report(tree, page: page, key: key, "node flags \(flags) in a database without duplicates")
                    return
                }
                tree.entries += 1
                if big { _ = checkOverflow(first: data.u64(0), size: size, tree, page: page, key: key) }
                return
            }
            switch flags {
            case 0:
                guard size <= LMDBLayout.maxKeySize else {
                    report(
                        tree, page: page, key: key,
                        "a value of \(size) bytes in a database of sorted duplicates (at most 511)")
                    return
                }
                tree.entries += 1
            case LMDBLayout.dupData:
                checkSubPage(data, size: size, tree, order: duplicateOrder, page: page, key: key)
            case LMDBLayout.dupData | LMDBLayout.subData:
                guard size == LMDBLayout.recordSize else {
                    report(tree, page: page, key: key, "a record of duplicates of \(size) bytes (48 expected)")
                    return
                }
                checkSubDatabase(DatabaseRecord(data), tree, order: duplicateOrder, page: page, key: key, slot: slot)
            default:
                report(tree, page: page, key: key, "node flags \(flags) in a database of sorted duplicates")
            }
        }
    }

    /// A free-list record: a count, then that many page numbers (`MDB_IDL`), each within the file and listed once.
    private func checkFreeRecord(
        _ data: UnsafeRawPointer, size: Int, _ tree: Tree, page: UInt64, key: UnsafeRawBufferPointer
    ) {
        guard size >= 8, size % 8 == 0, data.u64(0) == UInt64(size / 8 - 1) else {
            report(
                tree, page: page, key: key,
                "a free-list record of \(size) bytes that says it holds \(size >= 8 ? data.u64(0) : 0) page numbers")
            return
        }
        for i in 1..<(size / 8) {
            let free = data.u64(8 * i)
            guard free >= 2 && free <= lastPage else {
                report(tree, page: page, key: key, "free page \(free) lies outside the file's pages 2…\(lastPage)")
                return
            }
            let listedOnce = free < presentPages ? self.free.insert(free) : freeBeyondEnd.insert(free).inserted
            guard listedOnce else {
                report(tree, page: page, key: key, "page \(free) is listed free twice")
                return
            }
        }
    }

    /// Checks the overflow run of a value of `size` bytes that begins at page `first`; returns whether it is sound.
    private func checkOverflow(
        first: UInt64, size: Int, _ tree: Tree, page: UInt64, key: UnsafeRawBufferPointer
    ) -> Bool {
        let needed = UInt64((LMDBLayout.pageHeaderSize - 1 + size) / pageSize + 1)
        guard first >= 2, first <= lastPage, needed - 1 <= lastPage - first else {
            report(
                tree, page: page, key: key,
                "a value of \(size) bytes on overflow pages \(first)… outside the file's pages 2…\(lastPage)")
            return false
        }
        guard Int(first) * pageSize + LMDBLayout.pageHeaderSize + size <= fileSize else {
            report(
                tree, page: page, key: key,
                "a value of \(size) bytes on overflow pages from \(first) runs past the end of the file")
            return false
        }
        var header = [UInt8](repeating: 0, count: LMDBLayout.pageHeaderSize)
        let got = header.withUnsafeMutableBytes {
            read(into: $0.baseAddress!, count: LMDBLayout.pageHeaderSize, at: Int(first) * pageSize)
        }
        guard got == LMDBLayout.pageHeaderSize else {
            report(tree, page: page, key: key, "overflow page \(first) lies beyond the end of the file")
            return false
        }
        pagesChecked += 1
        let (stored, flags, pages) = header.withUnsafeBytes {
            ($0.baseAddress!.u64(0), $0.baseAddress!.u16(10), UInt64($0.baseAddress!.u32(12)))
        }
        guard stored == first, flags == LMDBLayout.overflow, pages >= needed, pages - 1 <= lastPage - first else {
            report(
                tree, page: page, key: key,
                String(format: "overflow page %llu says page %llu, flags 0x%04x, %llu pages; a value of %ld bytes "
                    + "needs an overflow page (0x0004) starting a run of %llu", first, stored, flags, pages, size,
                    needed))
            return false
        }
        guard first + pages <= presentPages else {
            report(
                tree, page: page, key: key,
                "overflow pages \(first)…\(first + pages - 1) run past the end of the file (\(fileSize) bytes)")
            return false
        }
        for run in first..<(first + pages) {
            guard used.insert(run) else {
                report(
                    tree, page: page, key: key,
                    "overflow page \(run) (of the run from \(first)) is reached a second time")
                return false
            }
        }
        tree.overflowPages += pages
        pagesInUse += Int(pages)
        return true
    }

    /// Checks a sub-page of sorted duplicates kept inside a leaf node (`F_DUPDATA` without `F_SUBDATA`).
    private func checkSubPage(
        _ data: UnsafeRawPointer, size: Int, _ tree: Tree, order: KeyOrder, page: UInt64,
        key: UnsafeRawBufferPointer
    ) {
        func fail(_ message: String) { report(tree, page: page, key: key, "its duplicates' sub-page: \(message)") }
        guard size >= LMDBLayout.pageHeaderSize else { return fail("\(size) bytes, less than a page header") }
        let expected = LMDBLayout.leaf | LMDBLayout.dirty | LMDBLayout.subPage
            | (tree.fixedSizeDuplicates ? LMDBLayout.leaf2 : 0)
        let flags = data.u16(10)
        guard flags == expected else {
            return fail(String(format: "page flags 0x%04x (0x%04x expected)", flags, expected))
        }
        let lowerBound = Int(data.u16(12)), upperBound = Int(data.u16(14))
        guard lowerBound >= LMDBLayout.pageHeaderSize, lowerBound & 1 == 0, lowerBound <= upperBound,
            upperBound <= size
        else { return fail("free-space bounds \(lowerBound)…\(upperBound) in \(size) bytes") }
        let count = (lowerBound - LMDBLayout.pageHeaderSize) / 2
        guard count >= 1 else { return fail("no values") }
        if tree.fixedSizeDuplicates {
            let width = Int(data.u16(8))
            guard width >= 1, width <= LMDBLayout.maxKeySize, LMDBLayout.pageHeaderSize + count * width <= size else {
                return fail("\(count) values of \(width) bytes in \(size) bytes")
            }
            var previous: UnsafeRawBufferPointer?
            for i in 0..<count {
                let value = UnsafeRawBufferPointer(start: data + LMDBLayout.pageHeaderSize + i * width, count: width)
                if let previous, order.compare(previous, value) >= 0 {
                    return fail("values out of order (\(FileVerifier.describeKey(value)))")
                }
                previous = value
            }
        } else {
            let mark = problems.count
            let sub = Tree(name: tree.name, kind: .duplicates, flags: 0, depth: 1, outerKey: key)
            guard checkNodes(data, page: page, count: count, upperBound: upperBound, size: size, isBranch: false, sub,
                order: order, lower: nil, upper: nil, near: nil, subPage: true)
            else { return }
            for i in 0..<count {
                let node = Int(data.u16(LMDBLayout.pageHeaderSize + 2 * i))
                checkLeafNode(data, page: page, node: node, sub, slot: 0)
            }
            guard problems.count == mark else { return }
        }
        tree.entries += UInt64(count)
    }

    /// Checks a sub-database of sorted duplicates (`F_DUPDATA | F_SUBDATA`): its record, then its tree.
    private func checkSubDatabase(
        _ record: DatabaseRecord, _ tree: Tree, order: KeyOrder, page: UInt64, key: UnsafeRawBufferPointer, slot: Int
    ) {
        let expected = tree.fixedSizeDuplicates
            ? LMDBLayout.dupFixed | (tree.integerDuplicates ? LMDBLayout.integerKey : 0) : 0
        guard record.flags == expected else {
            report(
                tree, page: page, key: key,
                String(format: "its duplicates' record has flags 0x%04x (0x%04x expected)", record.flags, expected))
            return
        }
        let width = tree.fixedSizeDuplicates ? Int(record.pad) : 0
        guard !tree.fixedSizeDuplicates || (width >= 1 && width <= LMDBLayout.maxKeySize) else {
            report(tree, page: page, key: key, "its duplicates' record gives a value size of \(record.pad) bytes")
            return
        }
        if let fault = recordFault(record, lastPage: lastPage) {
            report(tree, page: page, key: key, "its duplicates' record: \(fault)")
            return
        }
        guard record.entries >= 1 else {
            report(tree, page: page, key: key, "its duplicates' record counts no values")
            return
        }
        let sub = Tree(
            name: tree.name, kind: .duplicates, flags: order == .reversed ? LMDBLayout.reverseKey : 0,
            depth: Int(record.depth), fixedKeySize: width, outerKey: key)
        walkTree(record, sub, slot: slot + 1)
        tree.entries += record.entries
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
