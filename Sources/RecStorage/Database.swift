import CLMDB

/// Whether a scan goes on after the current entry.
public enum ScanControl: Sendable {
    /// Go on to the next entry.
    case next
    /// End the scan after this entry; the scan returns normally.
    case stop
}

/// A typed handle on one named LMDB database. Cheap to copy; valid as long as its ``Environment``.
public struct Database<Key: ByteCodec, Value: ByteCodec>: Sendable {
    @usableFromInline let dbi: MDB_dbi
    /// The database's name inside the environment.
    public let name: String

    init(dbi: MDB_dbi, name: String) {
        self.dbi = dbi
        self.name = name
    }

    // MARK: - Point access

    /// The value stored under `key`, or nil.
    @inlinable
    public func get<T: Transaction & ~Copyable>(_ key: Key.Value, in txn: borrowing T) throws -> Value.Value? {
        try withValue(key, in: txn) { try Value.decode($0) }
    }

    /// Calls `body` with the stored bytes of `key` in place (zero-copy); returns nil when the key is absent.
    /// The bytes are valid only inside `body`.
    @inlinable
    public func withValue<T: Transaction & ~Copyable, R>(
        _ key: Key.Value, in txn: borrowing T, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        let handle = txn.handle.pointer
        return try Key.withBytes(of: key) { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            var v = MDB_val()
            let status = mdb_get(handle, dbi, &k, &v)
            if status == MDB_NOTFOUND { return nil }
            try check(status, "reading \(name)")
            return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
        }
    }

    /// Calls `body` with the typed elements stored under `key`, checked against `count` (throws `corrupted` naming
    /// the database and `what`), in place when aligned and from a temporary copy when not; nil when the key is absent.
    /// The buffer is valid only inside `body`.
    ///
    /// ```swift
    /// let vector = try vectors.withArray(key, as: Float.self, .exactly(dimension), in: txn, "vector of item 7") {
    ///     Array($0)
    /// }
    /// ```
    public func withArray<T: Transaction & ~Copyable, Element: BitwiseCopyable, R>(
        _ key: Key.Value, as type: Element.Type, _ count: StoredCount, in txn: borrowing T,
        _ what: @autoclosure () -> String, _ body: (UnsafeBufferPointer<Element>) throws -> R
    ) throws -> R? {
        try withValue(key, in: txn) { bytes in
            try StoredArray.with(bytes, as: Element.self, count, "\(name): \(what())", body)
        }
    }

    /// Whether `key` is present.
    @inlinable
    public func contains<T: Transaction & ~Copyable>(_ key: Key.Value, in txn: borrowing T) throws -> Bool {
        try withValue(key, in: txn) { _ in true } ?? false
    }

    /// Stores `value` under `key`. Returns false when a flag (`noOverwrite`, `noDuplicateData`) kept it out.
    @discardableResult
    public func put(
        _ key: Key.Value, _ value: Value.Value, in txn: inout WriteTransaction, flags: PutFlags = []
    ) throws -> Bool {
        let handle = txn.handle.pointer
        return try Key.withBytes(of: key) { keyBytes in
            try Value.withBytes(of: value) { valueBytes in
                try Self.put(handle, dbi, name, keyBytes, valueBytes, flags)
            }
        }
    }

    /// Stores raw bytes under a raw key: for composite keys built by hand.
    @discardableResult
    public func putRaw(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, in txn: inout WriteTransaction,
        flags: PutFlags = []
    ) throws -> Bool {
        try Self.put(txn.handle.pointer, dbi, name, key, value, flags)
    }

    /// Stores raw bytes under a raw key, appending (`MDB_APPEND`) when the key sorts after every key already
    /// stored, else as ``putRaw(key:value:in:flags:)`` does. Written in key order, large values then fill their
    /// pages: a plain put splits a full last page into one node and one plus the new node, so values over a third of
    /// a page (a 384-dimension float32 vector, 1.5 KB) end up one per 4 KB page; an append starts the new page with
    /// the new node alone and leaves the full page full (two to a page).
    public func putRawInKeyOrder(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, in txn: inout WriteTransaction
    ) throws {
        // Under MDB_APPEND, LMDB answers MDB_KEYEXIST, writing nothing, when the key is not after the last one.
        if try !Self.put(txn.handle.pointer, dbi, name, key, value, .append) {
            try Self.put(txn.handle.pointer, dbi, name, key, value, [])
        }
    }

    @inline(__always)
    private static func put(
        _ handle: OpaquePointer, _ dbi: MDB_dbi, _ name: String, _ key: UnsafeRawBufferPointer,
        _ value: UnsafeRawBufferPointer, _ flags: PutFlags
    ) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let status = mdb_put(handle, dbi, &k, &v, flags.rawValue)
        if status == MDB_KEYEXIST { return false }
        try check(status, "writing \(name)")
        return true
    }

    /// Removes `key` (every value of it in a duplicates database). Returns whether it was present.
    @discardableResult
    public func delete(_ key: Key.Value, in txn: inout WriteTransaction) throws -> Bool {
        let handle = txn.handle.pointer
        return try Key.withBytes(of: key) { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            let status = mdb_del(handle, dbi, &k, nil)
            if status == MDB_NOTFOUND { return false }
            try check(status, "deleting from \(name)")
            return true
        }
    }

    /// Removes one key/value pair of a duplicates database. Returns whether it was present.
    @discardableResult
    public func delete(_ key: Key.Value, value: Value.Value, in txn: inout WriteTransaction) throws -> Bool {
        let handle = txn.handle.pointer
        return try Key.withBytes(of: key) { keyBytes in
            try Value.withBytes(of: value) { valueBytes in
                var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
                var v = MDB_val(mv_size: valueBytes.count, mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
                let status = mdb_del(handle, dbi, &k, &v)
                if status == MDB_NOTFOUND { return false }
                try check(status, "deleting from \(name)")
                return true
            }
        }
    }

    /// Removes every entry.
    public func removeAll(in txn: inout WriteTransaction) throws {
        try check(mdb_drop(txn.handle.pointer, dbi, 0), "emptying \(name)")
    }

    /// The number of entries (key/value pairs, counting each duplicate).
    public func count<T: Transaction & ~Copyable>(in txn: borrowing T) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn.handle.pointer, dbi, &stat), "mdb_stat \(name)")
        return stat.ms_entries
    }

    /// Pages used by this database, in bytes.
    public func byteSize<T: Transaction & ~Copyable>(in txn: borrowing T) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn.handle.pointer, dbi, &stat), "mdb_stat \(name)")
        return (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) * Int(stat.ms_psize)
    }

    // MARK: - Scans

    /// Walks entries in key order (or reverse), starting at the first key ≥ `start` (≤ in reverse), while their
    /// raw key begins with `prefix`. `body` sees raw bytes valid only during the call.
    public func scanRaw<T: Transaction & ~Copyable>(
        in txn: borrowing T, from start: [UInt8]? = nil, prefix: [UInt8] = [], reverse: Bool = false,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> ScanControl
    ) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn.handle.pointer, dbi, &cursor), "opening a cursor on \(name)")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()
        var seek = start ?? prefix
        if reverse && start == nil && !prefix.isEmpty {
            // Position after the prefix range: the prefix with a trailing 0xFF run is not enough, so bump it.
            seek = Self.successor(of: prefix) ?? []
        }
        var status: Int32
        if seek.isEmpty {
            status = mdb_cursor_get(cursor, &key, &value, reverse ? MDB_LAST : MDB_FIRST)
        } else {
            status = seek.withUnsafeMutableBytes { bytes in
                key = MDB_val(mv_size: bytes.count, mv_data: bytes.baseAddress)
                return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
            }
            if reverse {
                if status == MDB_NOTFOUND {
                    status = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
                } else if status == MDB_SUCCESS {
                    let found = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
                    let exclusive = start == nil
                    if exclusive || !found.elementsEqual(seek) {
                        status = mdb_cursor_get(cursor, &key, &value, MDB_PREV_NODUP)
                    }
                    if status == MDB_SUCCESS {
                        status = mdb_cursor_get(cursor, &key, &value, MDB_LAST_DUP)
                        // LMDB answers MDB_INCOMPATIBLE (EINVAL in some versions) when it is not a duplicates
                        // database; the cursor stays where it was.
                        if status == MDB_INCOMPATIBLE || status == EINVAL_LMDB { status = MDB_SUCCESS }
                    }
                }
            }
        }
        while status == MDB_SUCCESS {
            let k = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            if !prefix.isEmpty && (k.count < prefix.count || !k.prefix(prefix.count).elementsEqual(prefix)) { break }
            let v = UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
            if try body(k, v) == .stop { return }
            status = mdb_cursor_get(cursor, &key, &value, reverse ? MDB_PREV : MDB_NEXT)
        }
        if status != MDB_NOTFOUND && status != MDB_SUCCESS { try check(status, "scanning \(name)") }
    }

    /// Walks decoded entries in key order from `start` (every entry when nil).
    public func scan<T: Transaction & ~Copyable>(
        in txn: borrowing T, from start: Key.Value? = nil, reverse: Bool = false,
        _ body: (Key.Value, Value.Value) throws -> ScanControl
    ) throws {
        let startBytes = start.map { Key.withBytes(of: $0) { Array($0) } }
        try scanRaw(in: txn, from: startBytes, reverse: reverse) { k, v in
            try body(try Key.decode(k), try Value.decode(v))
        }
    }

    /// Walks the values stored under one key of a duplicates database, in value order (or reverse).
    /// `body` sees raw bytes valid only during the call.
    public func duplicatesRaw<T: Transaction & ~Copyable>(
        of key: Key.Value, in txn: borrowing T, reverse: Bool = false,
        _ body: (UnsafeRawBufferPointer) throws -> ScanControl
    ) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn.handle.pointer, dbi, &cursor), "opening a cursor on \(name)")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var status = Key.withBytes(of: key) { keyBytes in
            k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_cursor_get(cursor, &k, &v, MDB_SET_KEY)
        }
        if status == MDB_NOTFOUND { return }
        try check(status, "seeking in \(name)")
        if reverse { status = mdb_cursor_get(cursor, &k, &v, MDB_LAST_DUP) }
        while status == MDB_SUCCESS {
            if try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) == .stop { return }
            status = mdb_cursor_get(cursor, &k, &v, reverse ? MDB_PREV_DUP : MDB_NEXT_DUP)
        }
        if status != MDB_NOTFOUND { try check(status, "scanning \(name)") }
    }

    /// The decoded values stored under one key of a duplicates database, in order.
    public func duplicates<T: Transaction & ~Copyable>(of key: Key.Value, in txn: borrowing T) throws -> [Value.Value] {
        var values: [Value.Value] = []
        try duplicatesRaw(of: key, in: txn) { bytes in
            values.append(try Value.decode(bytes))
            return .next
        }
        return values
    }

    /// How many values one key of a duplicates database holds (0 when absent).
    public func duplicateCount<T: Transaction & ~Copyable>(of key: Key.Value, in txn: borrowing T) throws -> Int {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn.handle.pointer, dbi, &cursor), "opening a cursor on \(name)")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        let status = Key.withBytes(of: key) { keyBytes in
            k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_cursor_get(cursor, &k, &v, MDB_SET_KEY)
        }
        if status == MDB_NOTFOUND { return 0 }
        try check(status, "seeking in \(name)")
        var count = 0
        try check(mdb_cursor_count(cursor, &count), "counting duplicates in \(name)")
        return count
    }

    /// The smallest byte string greater than every string that starts with `prefix`, or nil when none exists.
    package static func successor(of prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }
}

let EINVAL_LMDB: Int32 = 22
