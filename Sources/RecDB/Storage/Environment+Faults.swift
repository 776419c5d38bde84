import CLMDB
import CRecSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a process does when LMDB meets damage that the check at opening could not see (the file changed while open):
/// it says which file and exits with status 1, instead of aborting or dumping core.
extension Environment {
    /// Makes a bus error (SIGBUS) print which `data.mdb` changed size under the process and exit with status 1.
    ///
    /// LMDB reads its file through a memory map; when the file is truncated while open, touching a page past its new
    /// end raises SIGBUS, which would kill the process without a word. Call this once at the start of a command-line
    /// tool or daemon (`recctl` does); a library that embeds RecDB decides for itself, since the handler is
    /// process-wide. Every open environment registers its map, so the message names the file.
    public static func exitOnBusError() {
        _ = recdb_fault_install_bus_handler()
    }

    /// Registers LMDB's current map for bus-error reports (again after the map moved).
    func registerMapForFaults() {
        var info = MDB_envinfo()
        guard mdb_env_info(handle, &info) == MDB_SUCCESS else { return }
        if let old = faultMapAddress { recdb_fault_unregister_map(old) }
        faultMapAddress = info.me_mapaddr
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        recdb_fault_register_map(info.me_mapaddr, info.me_mapsize, dataFile)
    }
}

/// LMDB's assertion callback. LMDB calls `abort()` after it returns, so it never returns: it names the file and the
/// failed assertion on standard error and exits with status 1.
func lmdbAssertionFailed(_ env: OpaquePointer?, _ message: UnsafePointer<CChar>?) {
    var folder: UnsafePointer<CChar>?
    if let env { _ = mdb_env_get_path(env, &folder) }
    let file = folder.map { (String(cString: $0) as NSString).appendingPathComponent("data.mdb") } ?? "data.mdb"
    let assertion = message.map { String(cString: $0) } ?? "an assertion failed"
    let text = "recdb: fatal: LMDB found \(file) inconsistent (\(assertion)): the file is damaged; run `recctl check`\n"
    text.withCString { _ = write(STDERR_FILENO, $0, strlen($0)) }
    _exit(1)
}
