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

    /// Registers LMDB's current map of `data.mdb` for bus-error reports (again after the map moved). LMDB does not
    /// tell where its map is (`me_mapaddr` is only set for a fixed map), so it is looked up in `/proc/self/maps`.
    func registerMapForFaults() {
        #if os(Linux)
        let dataFile = URL(fileURLWithPath: (path as NSString).appendingPathComponent("data.mdb"))
            .resolvingSymlinksInPath().path
        if let old = faultMapAddress { recdb_fault_unregister_map(old) }
        faultMapAddress = nil
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return }
        for line in maps.split(separator: "\n") where line.hasSuffix(" " + dataFile) {
            let range = line.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            // LMDB maps the file once; the first mapping is its map.
            recdb_fault_register_map(address, Int(end - start), dataFile)
            faultMapAddress = address
            break
        }
        #endif
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
