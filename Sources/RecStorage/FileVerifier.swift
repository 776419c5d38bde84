import Foundation

#if canImport(Glibc)
import Glibc
import RecWire
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
    package static func verify(
        fileDescriptor fd: Int32, path: String, level: Level, limit: Int, transaction: UInt64?
    ) -> FileVerification? {
        let walker = FileWalker(fd: fd, path: path, limit: max(1, limit))
        return walker.run(level: level, transaction: transaction)
    }

    /// `path` itself when it names a file, else `path/data.mdb`.
    package static func dataFilePath(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path as NSString).appendingPathComponent("data.mdb")
        }
        return path
    }

    /// A key as people read it: `'text'` when it is short printable UTF-8, else hex of its first 20 bytes.
    package static func describeKey(_ key: UnsafeRawBufferPointer) -> String {
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
