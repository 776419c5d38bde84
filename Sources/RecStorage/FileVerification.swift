import Foundation
import RecWire

/// One thing wrong in a `data.mdb`, found by ``FileVerifier``.
///
/// Printed as `database, page N, key K: what`, for example
/// `events, page 4711, key 0x00000000000003e8: keys out of order (follows 0x00000000000003e9)`.
public struct FileProblem: Hashable, Sendable, CustomStringConvertible {
    /// Where the problem is: a named database (`events`), `main` (LMDB's database of names), `free list`
    /// (LMDB's record of reusable pages), `meta pages` (pages 0 and 1, where snapshots begin) or `file` (its size).
    public var database: String
    /// The page the problem is on; nil for problems of the file as a whole.
    public var page: UInt64?
    /// The key nearest to the problem: quoted text when it is short printable UTF-8, else hex (cut to 20 bytes);
    /// nil when there is none (a damaged root page, a meta page).
    public var key: String?
    /// What is wrong.
    public var message: String

    /// Creates a problem report.
    public init(database: String, page: UInt64?, key: String?, message: String) {
        self.database = database
        self.page = page
        self.key = key
        self.message = message
    }

    /// One line, "database, page N, key K: message", leaving out the page or key when unknown.
    public var description: String {
        var place = database
        if let page { place += ", page \(page)" }
        if let key { place += ", key \(key)" }
        return "\(place): \(message)"
    }
}

/// What ``FileVerifier`` found in one `data.mdb`: the problems (empty when the file is sound) and what was walked.
///
/// Conforms to `Error` so that it can be the ``RecDBError/cause`` of the ``RecDBError/Code/corrupted`` error that
/// opening a damaged database throws; `recctl check` prints its ``problems``.
public struct FileVerification: Error, Sendable, CustomStringConvertible {
    /// One of the two meta pages: where a snapshot of the file begins.
    public struct Snapshot: Sendable, Hashable {
        /// 0 or 1: the page that holds it.
        public var metaPage: Int
        /// The transaction that wrote it.
        public var transaction: UInt64
        /// The last page in use by this snapshot; the file holds at least `lastPage + 1` pages.
        public var lastPage: UInt64
    }

    /// The file that was checked.
    public var path: String
    /// Its size in bytes when the check began.
    public var fileSize: Int
    /// LMDB's page size in this file (0 when no meta page could be read).
    public var pageSize: Int
    /// The snapshot that was checked: the meta page with the newer transaction, as LMDB picks it (nil for an empty
    /// file or when neither meta page is valid).
    public var snapshot: Snapshot?
    /// The other meta page when it is valid: the commit before ``snapshot``. When ``snapshot`` is damaged, this is
    /// what a repair could start from.
    public var previousSnapshot: Snapshot?
    /// What is wrong, in the order found; empty when the file is sound.
    public var problems: [FileProblem]
    /// True when the check stopped at its problem limit (there may be more).
    public var stoppedAtLimit: Bool
    /// True when the B-trees were walked (``FileVerifier/Level/full``), false after a header check only.
    public var walkedTrees: Bool
    /// True when the file does not look like LMDB's at all (no meta page carries LMDB's magic number).
    public var notLMDB: Bool
    /// Pages read and checked (branch, leaf and first overflow pages; meta pages included).
    public var pagesChecked: Int
    /// Pages the snapshot uses (trees, overflow runs and the two meta pages).
    public var pagesInUse: Int
    /// Named databases found and walked.
    public var databases: [String]
    /// How long the check took, in seconds.
    public var seconds: Double

    /// True when nothing is wrong.
    public var isSound: Bool { problems.isEmpty }

    /// One line: the first `limit` problems, and how many more there are.
    public func summary(limit: Int = 3) -> String {
        guard !problems.isEmpty else { return "sound" }
        var text = problems.prefix(limit).map(\.description).joined(separator: "; ")
        let more = problems.count - limit
        if more > 0 || stoppedAtLimit {
            text += stoppedAtLimit ? " (and more)" : " (and \(more) more problem\(more == 1 ? "" : "s"))"
        }
        return text
    }

    /// One line: the path and "sound" with what was checked and how long it took, or how many problems were found.
    public var description: String {
        if isSound {
            let what = walkedTrees ? "\(pagesChecked) pages in \(databases.count) databases" : "meta pages and size"
            return "\(path): sound (\(what) checked in \(String(format: "%.1f", seconds * 1000)) ms)"
        }
        let count = "\(problems.count)\(stoppedAtLimit ? " or more" : "")"
        return "\(path): \(count) problem\(problems.count == 1 && !stoppedAtLimit ? "" : "s") found by FileVerifier"
    }
}
