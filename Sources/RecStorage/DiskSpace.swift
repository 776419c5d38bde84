import Foundation

#if canImport(Glibc)
import Glibc
import RecWire
#endif

/// Free space on the file system of a database, to tell a full disk from other write failures.
///
/// When the disk fills during a commit, LMDB (0.9.24, `mdb_page_flush`) usually does not see `ENOSPC`: the kernel
/// writes what fits and `writev` returns a short count, which LMDB reports as `EIO` ("short write, filesystem
/// full?"), so the commit fails with `Input/output error`. Only a write that finds no space at all returns `ENOSPC`
/// (mapped to ``RecDBError/Code/diskFull`` by the storage layer). ``classify(_:databasePath:)`` turns such an `EIO`
/// into `disk_full` when the file system is (nearly) out of space.
package enum DiskSpace {
    /// Below this many free bytes, an `EIO` from a write is taken for a full disk.
    package static let nearlyFull: UInt64 = 1 << 20

    /// Bytes this process may still write on the file system holding `path` (root may use the reserved blocks), or
    /// nil when `statvfs` fails.
    package static func availableBytes(at path: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let blocks = geteuid() == 0 ? info.f_bfree : info.f_bavail
        return UInt64(blocks) * UInt64(info.f_frsize)
    }

    /// `error` as ``RecDBError/Code/diskFull`` located at the database when the disk is full: either the storage
    /// layer already said so (`ENOSPC`, `EDQUOT`), or LMDB reported `EIO` while the file system has less than
    /// ``nearlyFull`` bytes free. Any other error is returned as it is.
    package static func classify(_ error: RecDBError, databasePath: String) -> RecDBError {
        let free = availableBytes(at: databasePath)
        let isFull: Bool
        if error.code == .diskFull {
            isFull = true
        } else if error.lmdbStatus == EIO, let free, free < nearlyFull {
            isFull = true
        } else {
            isFull = false
        }
        guard isFull else { return error }
        let space = free.map { "\($0) bytes free" } ?? "free space unknown"
        let detail = error.lmdbStatus == EIO ? "; LMDB reported a short write as: \(error.message)" : ": \(error.message)"
        return RecDBError(
            .diskFull, "disk full: no space left on the file system of the database (\(space)\(detail))",
            location: databasePath, lmdbStatus: error.lmdbStatus)
    }
}
