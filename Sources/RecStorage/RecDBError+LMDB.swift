import CLMDB
import CRecSupport
import RecWire

#if canImport(Glibc)
import Glibc
#endif

extension RecDBError {
    /// Wraps a non-zero LMDB status.
    static func lmdb(_ status: Int32, _ what: String, location: String? = nil) -> RecDBError {
        let reason = String(cString: mdb_strerror(status))
        let code: Code
        switch status {
        case MDB_MAP_FULL:
            code = .mapFull
            recdb_note_map_full()
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND: code = .corrupted
        case ENOSPC, EDQUOT: code = .diskFull
        default: code = .storage
        }
        return RecDBError(code, "\(what): \(reason)", location: location, lmdbStatus: status)
    }
}

@usableFromInline @inline(__always)
func check(_ status: Int32, _ what: @autoclosure () -> String) throws(RecDBError) {
    if status != MDB_SUCCESS { throw RecDBError.lmdb(status, what()) }
}
