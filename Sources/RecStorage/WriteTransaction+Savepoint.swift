import CLMDB
import CRecSupport
import RecWire

/// Savepoints: a nested LMDB transaction inside a write transaction, so that a part of the work can fail and roll
/// back alone while the rest goes on and commits.
///
/// ```swift
/// try env.write { txn in
///     try names.put(1, "one", in: &txn)
///     // Rolled back alone: "two" is not written, "one" and "three" are.
///     _ = try? txn.savepoint { inner in
///         try names.put(2, "two", in: &inner)
///         throw MyError()
///     }
///     try names.put(3, "three", in: &txn)
/// }
/// ```
///
/// LMDB allows nested transactions unless the environment uses `MDB_WRITEMAP` (then `mdb_txn_begin` with a parent
/// fails with `EINVAL`); ``Environment`` never opens with it (its flags are `MDB_NOTLS`, plus `MDB_NOSYNC` or
/// `MDB_RDONLY` on request), because writes through a shared writable map cannot be undone page by page.
/// A savepoint costs one `mdb_txn_begin` and one `mdb_txn_commit` of the child: its dirty pages are merged into the
/// parent's lists, nothing is written to disk until the outer transaction commits.
extension WriteTransaction {
    /// Runs `body` in a savepoint: on return its writes join this transaction; on a throw they are undone and the
    /// error is rethrown, and this transaction goes on as it was before the savepoint.
    ///
    /// While `body` runs only the transaction it is handed may be used (LMDB refuses work on a parent with an open
    /// child). Savepoints nest. A full map is not `body`'s failure alone: it is rethrown like any error, and
    /// ``Environment/write(_:)`` grows the map and runs its whole body again; see ``attempt(_:)`` for callers that
    /// catch failures.
    public mutating func savepoint<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        try attempt(body).get()
    }

    /// Like ``savepoint(_:)``, but hands `body`'s failure back (after undoing its writes) instead of throwing it, so
    /// that a loop over independent pieces of work cannot mistake one piece's failure for the transaction's.
    ///
    /// Throws only what ends the whole transaction: a full map (``RecDBError/Code/mapFull``, also when `body`
    /// wrapped LMDB's status in an error of its own; ``Environment/write(_:)`` then grows the map and runs its body
    /// again), or LMDB refusing to begin or merge the nested transaction.
    public mutating func attempt<R>(_ body: (inout WriteTransaction) throws -> R) throws -> Result<R, any Error> {
        var raw: OpaquePointer?
        try check(mdb_txn_begin(mdb_txn_env(handle.pointer), handle.pointer, 0, &raw), "beginning a savepoint")
        var child = WriteTransaction(continuing: TransactionHandle(raw!))
        let result: Result<R, any Error>
        do { result = .success(try body(&child)) } catch { result = .failure(error) }
        switch result {
        case .success:
            // On failure LMDB has freed the child already; the parent may have lost pages, so the error ends it.
            try check(mdb_txn_commit(raw), "committing a savepoint")
        case .failure(let error):
            mdb_txn_abort(raw)
            if recdb_map_full_noted() != 0 || (error as? RecDBError)?.code == .mapFull { throw error }
        }
        return result
    }
}
