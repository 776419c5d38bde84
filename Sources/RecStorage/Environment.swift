import CLMDB
import CRecSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
import RecWire
#endif

// `Environment` is unchecked `Sendable`, audited (one of the few in Sources, see the README): `handle` is an LMDB
// environment, which LMDB lets every thread use at once (opened with MDB_NOTLS, transactions are per thread); `dbis`
// is behind a Mutex; `faultMapAddress`, the one `var`, changes only under `mapLock` held exclusively; everything
// else is `let`.

/// One LMDB environment: a folder with `data.mdb` and `lock.mdb`, opened once per process.
///
/// ```swift
/// let env = try Environment.open(at: "/var/lib/recdb")
/// let names = try env.database("names", key: UInt32Codec.self, value: StringCodec.self)
/// try env.write { txn in try names.put(7, "seven", in: &txn) }
/// let seven = try env.read { txn in try names.get(7, in: txn) }
/// ```
///
/// The memory map grows on its own: when a write finds the map full, the transaction is aborted, the map is
/// enlarged and the write closure runs again. Write closures must therefore keep their effects inside the
/// transaction. Readers never block writers and always see the snapshot of the moment they began.
public final class Environment: @unchecked Sendable {
    /// Options for opening an environment.
    public struct Options: Sendable {
        /// The map size to start with; the map grows past it on demand. Small values are useful in tests.
        ///
        /// The default, 64 GiB, reserves address space, not disk or memory: `data.mdb` grows only with the pages
        /// written. A map that rarely needs to grow matters because growing waits until no transaction of the process
        /// is open, so a long reader (a model training on a snapshot) would hold back every writer. Where the
        /// address space is limited (`ulimit -v`), opening retries with halved sizes down to 256 MiB.
        public var initialMapSize: Int = MemoryLayout<Int>.size == 8 ? 64 << 30 : 256 << 20
        /// Skip `fsync` on commit: faster bulk loads, but a power loss may lose the last commits.
        /// A process crash (`kill -9`) loses nothing that was committed either way.
        public var noSync = false
        /// Open for reading only.
        public var readOnly = false
        /// Create the folder when it does not exist.
        public var create = true
        /// The number of named databases the environment may hold.
        public var maxDatabases: UInt32 = 64
        /// Who may read the files this environment creates (the folder, `data.mdb`, `lock.mdb`, backups).
        public var access: FileAccess = .owner
        /// How much of an existing `data.mdb` opening checks before LMDB reads its pages (see ``FileVerifier``).
        ///
        /// The meta pages and the file's size are always checked: a truncated file or a damaged meta page is refused
        /// with ``RecDBError/Code/corrupted`` instead of faulting later. With `.full` (the default) every page of the
        /// newest snapshot is walked as well, holding a read transaction so that writers in other processes cannot
        /// move it. Measured from the page cache (release build): about 10 ms for a MovieLens 100K database with ALS and
        /// item-kNN models (33 MB), about 70 ms for Online Retail with the same models (152 MB), roughly 2 GB/s of file;
        /// see the README's "Damaged files". Choose `.header` for huge files you trust.
        public var verification: FileVerifier.Level = .full
        /// How many problems a failed check at opening collects (they are in the error's ``RecDBError/cause``).
        public var verificationLimit = 10

        /// Creates the defaults: 64 GiB initial map (256 MiB on 32-bit), `fsync` on commit, read-write, folder created when
        /// missing, 64 named databases, owner-only files, full verification collecting up to 10 problems.
        public init() {}
    }

    /// The folder of the environment.
    public let path: String
    /// The options the environment was opened with (those of the first opener when the process opened the path twice).
    public let options: Options
    /// What the check of `data.mdb` at opening found (sound, or the open would have failed); nil for a new file.
    public let verification: FileVerification?
    let handle: OpaquePointer
    /// Shared by every transaction, taken exclusively to change the map size (LMDB requires that no
    /// transaction of this process is active then).
    private let mapLock = ReadWriteLock()
    /// The start of LMDB's map as registered for bus-error reports (changes when the map is resized). Written only
    /// while `mapLock` is held exclusively (no transaction of this process runs then).
    var faultMapAddress: UnsafeMutableRawPointer?
    /// Named databases opened so far.
    private let dbis = Mutex<[String: MDB_dbi]>([:])

    /// The environment open at each resolved path in this process.
    private static let openEnvironments = Mutex<[String: WeakEnvironment]>([:])

    /// Opens the environment in `path`, or returns the one this process already has open there.
    public static func open(at path: String, options: Options = Options()) throws -> Environment {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if options.create && !options.readOnly {
            try createFolder(url.path, access: options.access)
        }
        let key = url.resolvingSymlinksInPath().path
        return try openEnvironments.withLock { open in
            if let existing = open[key]?.environment { return existing }
            let env = try Environment(path: key, options: options)
            open[key] = WeakEnvironment(environment: env)
            return env
        }
    }

    private init(path: String, options: Options) throws {
        self.path = path
        self.options = options
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RecDBError(.notFound, "no database folder here", location: path)
        }
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int) ?? 0
        // Before LMDB maps the file: its meta pages and size. A short file would fault (SIGBUS) on the first read of
        // a missing page; a damaged meta page sends LMDB anywhere.
        if fileSize > 0 {
            let header = try FileVerifier.verify(dataFile, level: .header, limit: options.verificationLimit)
            if !header.isSound { throw Self.damaged(header) }
        }
        var mapSize = max(options.initialMapSize, Self.roundUp(fileSize + fileSize / 2))
        var opened: OpaquePointer
        while true {
            do {
                opened = try Self.openHandle(path: path, options: options, mapSize: mapSize)
                if options.access == .group && !options.readOnly {
                    // LMDB's mode passes through the umask; the operator asked for group access, so give it.
                    for file in ["data.mdb", "lock.mdb"] {
                        chmod((path as NSString).appendingPathComponent(file), options.access.fileMode)
                    }
                }
                break
            } catch let error as RecDBError where error.lmdbStatus == ENOMEM && mapSize / 2 >= max(256 << 20, fileSize) {
                // The address space is limited: reserve less (the map still grows on demand).
                mapSize /= 2
            }
        }
        // Then every page of the newest snapshot, before any tree is read through LMDB (an open environment has read
        // only the meta pages).
        if options.verification == .full && fileSize > 0 {
            do {
                let report = try Self.verifyPinned(opened, dataFile: dataFile, limit: options.verificationLimit)
                if !report.isSound { throw Self.damaged(report) }
                verification = report
            } catch {
                mdb_env_close(opened)
                throw error
            }
        } else {
            verification = nil
        }
        handle = opened
        registerMapForFaults()
    }

    /// The error for a file that failed its check: ``RecDBError/Code/corrupted`` (``RecDBError/Code/notRecDB`` when it
    /// is not an LMDB file at all) with the first problems, and the whole report as the cause.
    static func damaged(_ report: FileVerification) -> RecDBError {
        if report.notLMDB {
            return RecDBError(
                .notRecDB, "not an LMDB file: neither meta page carries LMDB's magic number (or both are destroyed)",
                location: report.path, cause: report)
        }
        return RecDBError(
            .corrupted, "the file is damaged: \(report.summary()); run `recctl check` for the full list",
            location: report.path, cause: report)
    }

    /// Walks the file under a read transaction, so that writers (in any process) keep the snapshot's pages.
    private static func verifyPinned(_ env: OpaquePointer, dataFile: String, limit: Int) throws -> FileVerification {
        var fd: Int32 = -1
        try check(mdb_env_get_fd(env, &fd), "mdb_env_get_fd")
        for _ in 0..<8 {
            var txn: OpaquePointer?
            var status = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
            if status == MDB_MAP_RESIZED {
                // Another process grew the map; no transaction of ours is open, so adopt its size.
                _ = mdb_env_set_mapsize(env, 0)
                status = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
            }
            try check(status, "mdb_txn_begin")
            defer { mdb_txn_abort(txn) }
            let transaction = UInt64(mdb_txn_id(txn))
            if let report = FileVerifier.verify(
                fileDescriptor: fd, path: dataFile, level: .full, limit: limit, transaction: transaction)
            {
                return report
            }
            // Writers committed twice since the transaction began, so its meta page was overwritten: begin again.
        }
        throw RecDBError(.busy, "writers commit too often to check a snapshot of the file; try again", location: dataFile)
    }

    /// Checks every page of the newest snapshot of `data.mdb` (see ``FileVerifier``) while this process and others
    /// go on writing: a read transaction keeps the snapshot's pages in place. Returns at most `limit` problems.
    public func verifyFile(limit: Int = 100) throws -> FileVerification {
        mapLock.lockShared()
        defer { mapLock.unlock() }
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        return try Self.verifyPinned(handle, dataFile: dataFile, limit: limit)
    }

    private static func openHandle(path: String, options: Options, mapSize: Int) throws -> OpaquePointer {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw RecDBError(.storage, "mdb_env_create returned no environment") }
        do {
            try check(mdb_env_set_maxdbs(env, options.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, 512), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            // LMDB's assertions abort the process (SIGABRT); say which file instead and exit with status 1.
            mdb_env_set_assert(env, lmdbAssertionFailed)
            var flags = UInt32(MDB_NOTLS)
            if options.noSync { flags |= UInt32(MDB_NOSYNC) }
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            let status = mdb_env_open(env, path, flags, options.access.fileMode)
            if status != MDB_SUCCESS {
                if status == MDB_INVALID || status == MDB_VERSION_MISMATCH {
                    throw RecDBError(
                        .notRecDB, "data.mdb is not an LMDB file of a version RecDB can read", location: path,
                        lmdbStatus: status)
                }
                throw RecDBError.lmdb(status, "cannot open the database", location: path)
            }
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit {
        recdb_fault_unregister_map(faultMapAddress)
        mdb_env_close(handle)
    }

    private static func roundUp(_ size: Int) -> Int {
        let page = 1 << 20
        return (size + page - 1) / page * page
    }

    // MARK: - Transactions

    /// Runs `body` in a read transaction: a consistent snapshot that writers never disturb.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        mapLock.lockShared()
        defer { mapLock.unlock() }
        var txn: OpaquePointer?
        try beginWithResizeCheck(flags: UInt32(MDB_RDONLY), &txn)
        defer { mdb_txn_abort(txn) }
        return try body(ReadTransaction(viewing: TransactionHandle(txn!)))
    }

    /// Runs `body` in a write transaction: a throw aborts it and nothing is visible; a return commits it.
    ///
    /// When the map is full the transaction is aborted, the map grows and `body` runs again, so keep every effect of
    /// `body` inside the transaction. A full map is recognised even when `body` wraps LMDB's error in one of its own
    /// (the status is noted where LMDB returns it). A full disk throws ``RecDBError/Code/diskFull``: nothing of the
    /// transaction is written and the database stays consistent and writable once space returns.
    public func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        guard !options.readOnly else { throw RecDBError(.invalidArgument, "the database is open read-only", location: path) }
        while true {
            _ = recdb_take_map_full()
            let outcome: Result<R, any Error> = try withSharedMapLock {
                var raw: OpaquePointer?
                try beginWithResizeCheck(flags: 0, &raw)
                var txn = WriteTransaction(continuing: TransactionHandle(raw!))
                let result: Result<R, any Error>
                do { result = .success(try body(&txn)) } catch { result = .failure(error) }
                switch result {
                case .success:
                    let status = mdb_txn_commit(raw)
                    if status != MDB_SUCCESS {
                        // A full disk often reaches LMDB as a short write (EIO): name it for what it is.
                        let error = DiskSpace.classify(RecDBError.lmdb(status, "commit", location: path), databasePath: path)
                        return .failure(error)
                    }
                    return result
                case .failure:
                    mdb_txn_abort(raw)
                    return result
                }
            }
            switch outcome {
            case .success(let value):
                return value
            case .failure(let error):
                let mapFull = recdb_take_map_full() != 0 || (error as? RecDBError)?.code == .mapFull
                guard mapFull else { throw error }
                try growMap()
            }
        }
    }

    private func withSharedMapLock<R>(_ body: () throws -> R) throws -> R {
        mapLock.lockShared()
        defer { mapLock.unlock() }
        return try body()
    }

    /// Begins a transaction; when another process grew the map, adopts its size and begins again.
    private func beginWithResizeCheck(flags: UInt32, _ txn: inout OpaquePointer?) throws {
        var status = mdb_txn_begin(handle, nil, flags, &txn)
        if status == MDB_MAP_RESIZED {
            mapLock.unlock()
            mapLock.lockExclusive()
            _ = mdb_env_set_mapsize(handle, 0)
            registerMapForFaults()
            mapLock.unlock()
            mapLock.lockShared()
            status = mdb_txn_begin(handle, nil, flags, &txn)
        }
        try check(status, "mdb_txn_begin")
    }

    /// The current size of the memory map in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Doubles the map (by at most 8 GiB a step). Waits for this process's transactions to finish.
    private func growMap() throws {
        mapLock.lockExclusive()
        defer { mapLock.unlock() }
        let current = mapSize
        let next = current + min(max(current, 64 << 20), 8 << 30)
        try check(mdb_env_set_mapsize(handle, next), "growing the map to \(next) bytes")
        registerMapForFaults()
    }

    // MARK: - Databases

    /// Opens (creating when writable) a named database with the given codecs.
    public func database<K: ByteCodec, V: ByteCodec>(
        _ name: String, key: K.Type, value: V.Type, flags: DatabaseFlags = []
    ) throws -> Database<K, V> {
        Database(dbi: try dbi(named: name, flags: flags), name: name)
    }

    func dbi(named name: String, flags: DatabaseFlags) throws -> MDB_dbi {
        // Held across the opening, so two threads opening one name do not both create it.
        try dbis.withLock { dbis in
            if let dbi = dbis[name] { return dbi }
            var dbi = MDB_dbi()
            // An existing database opens in a read transaction, so opening never waits for another process's writer.
            // A handle opened in a read transaction outlives it only when the transaction commits (an abort closes it).
            let status: Int32 = try withSharedMapLock {
                var txn: OpaquePointer?
                try beginWithResizeCheck(flags: UInt32(MDB_RDONLY), &txn)
                let status = mdb_dbi_open(txn, name, flags.rawValue, &dbi)
                guard status == MDB_SUCCESS else {
                    mdb_txn_abort(txn)
                    return status
                }
                return mdb_txn_commit(txn)
            }
            if status == MDB_NOTFOUND {
                guard !options.readOnly else {
                    throw RecDBError(.notFound, "database '\(name)' does not exist", location: path)
                }
                try write { txn in
                    try check(mdb_dbi_open(txn.handle.pointer, name, flags.rawValue | UInt32(MDB_CREATE), &dbi), "opening database '\(name)'")
                }
            } else {
                try check(status, "opening database '\(name)'")
            }
            dbis[name] = dbi
            return dbi
        }
    }

    /// The names of the named databases in this environment.
    public func databaseNames() throws -> [String] {
        try read { txn in
            var names: [String] = []
            var main = MDB_dbi()
            try check(mdb_dbi_open(txn.handle.pointer, nil, 0, &main), "opening the main database")
            var cursor: OpaquePointer?
            try check(mdb_cursor_open(txn.handle.pointer, main, &cursor), "mdb_cursor_open")
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val(), value = MDB_val()
            var op = MDB_FIRST
            while mdb_cursor_get(cursor, &key, &value, op) == MDB_SUCCESS {
                op = MDB_NEXT
                let bytes = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
                if let name = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) { names.append(name) }
            }
            return names
        }
    }

    // MARK: - Maintenance

    /// Flushes buffers to disk; needed only when opened with `noSync`.
    public func sync() throws {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync")
    }

    /// Runs a series of write transactions (a bulk load) with the meta page left unsynced at each commit
    /// (`MDB_NOMETASYNC`), then syncs once. Each commit still flushes its data pages, and that flush also carries the
    /// previous commit's meta page, so a power loss during the run can undo at most the last commit, never corrupt
    /// the file; a process crash loses nothing committed. Halves the fsyncs of a bulk load.
    public func withDeferredMetaSync<R>(_ body: () throws -> R) throws -> R {
        guard !options.noSync && !options.readOnly else { return try body() }
        try check(mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), 1), "mdb_env_set_flags")
        defer {
            mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), 0)
            mdb_env_sync(handle, 1)
        }
        return try body()
    }

    /// Writes a consistent copy to the folder `destination` (which must be empty or missing).
    /// With `compact`, free pages are left out. Writers go on meanwhile: the copy is one read snapshot.
    /// The copy has the same access as the database (0600, or 0660 for group access), from the moment it exists.
    public func copy(to destination: String, compact: Bool = true) throws {
        var info = stat()
        let groupShared = stat((path as NSString).appendingPathComponent("data.mdb"), &info) == 0 && info.st_mode & 0o060 != 0
        let access: FileAccess = groupShared || options.access == .group ? .group : .owner
        try Self.createFolder(destination, access: access)
        let file = (destination as NSString).appendingPathComponent("data.mdb")
        let fd = Glibc.open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, access.fileMode)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw RecDBError(.alreadyExists, "a database already exists here; choose an empty folder", location: destination)
            }
            throw RecDBError(.io, "cannot create the backup file: \(String(cString: strerror(errno)))", location: file)
        }
        var copied = false
        defer {
            Glibc.close(fd)
            if !copied { unlink(file) }
        }
        // The umask may have narrowed the mode further; never widen it, but make sure group access when asked.
        fchmod(fd, options.access.fileMode)
        mapLock.lockShared()
        defer { mapLock.unlock() }
        try check(mdb_env_copyfd2(handle, fd, compact ? UInt32(MDB_CP_COMPACT) : 0), "copying to \(destination)")
        guard fsync(fd) == 0 else {
            throw RecDBError.lmdb(errno, "flushing the backup", location: file)
        }
        copied = true
    }

    /// Creates a database or backup folder (and missing parents) with the access's folder mode; an existing folder
    /// is left as it is.
    static func createFolder(_ path: String, access: FileAccess) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw RecDBError(.alreadyExists, "a file, not a folder, is in the way", location: path)
            }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true,
                attributes: [.posixPermissions: NSNumber(value: access.folderMode)])
        } catch {
            throw RecDBError(.io, "cannot create the folder: \(error.localizedDescription)", location: path)
        }
        // The umask narrowed the mode; the access asked for is exact.
        chmod(path, access.folderMode)
    }

    /// The size of `data.mdb` on disk in bytes.
    public var fileSize: Int {
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        return (try? FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int) ?? 0
    }

    /// The reader table: slots ever taken (`mdb_env_info`'s high-water mark), slots held by a live read
    /// transaction now (`mdb_reader_list`), and its capacity. A full table makes new read transactions fail with
    /// `MDB_READERS_FULL`.
    public var readerTable: (slotsUsed: Int, active: Int, capacity: Int) {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        // One line per slot with a process, after a header line; a slot between transactions shows txnid "-".
        var lines: [String] = []
        _ = withUnsafeMutablePointer(to: &lines) { pointer in
            mdb_reader_list(
                handle,
                { message, context in
                    guard let message, let context else { return 0 }
                    context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: message))
                    return 0
                }, pointer)
        }
        let active = lines.dropFirst().count { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 3 && fields[2] != "-"
        }
        return (Int(info.me_numreaders), active, Int(info.me_maxreaders))
    }

    /// Bytes of the map in use: pages up to the last used one.
    public var usedBytes: Int {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        mdb_env_info(handle, &info)
        mdb_env_stat(handle, &stat)
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }
}

/// Who may open a database's files. The files hold every shopper's history: by default only their owner may.
public enum FileAccess: Sendable {
    /// Files 0600 in a folder 0700: only the owning user (and root).
    case owner
    /// Files 0660 in a folder 0770: the owner and the folder's group (make the folder setgid, or create it as a
    /// member of the group, so that new files carry it).
    case group

    /// The mode of `data.mdb`, `lock.mdb` and backup files.
    public var fileMode: mode_t { self == .owner ? 0o600 : 0o660 }
    /// The mode of a database folder RecDB creates.
    public var folderMode: mode_t { self == .owner ? 0o700 : 0o770 }
}

private struct WeakEnvironment {
    weak var environment: Environment?
}

/// A `pthread_rwlock_t` that lives at a stable address. The standard library has no reader-writer lock, and a
/// `Mutex` would serialise the readers that every transaction is.
// Unchecked `Sendable`, audited: the one stored property is a `let` pointer to a lock allocated in `init`, freed in
// `deinit`, and used only through pthread calls, which synchronise themselves.
final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func lockShared() { pthread_rwlock_rdlock(lock) }
    func lockExclusive() { pthread_rwlock_wrlock(lock) }
    func unlock() { pthread_rwlock_unlock(lock) }
}
