import CLMDB

/// An open LMDB transaction as it passes between RecDB's layers: an opaque token to apps, whose pointer only the
/// modules of this package can reach. Valid only inside the closure that opened the transaction.
public struct TransactionHandle {
    /// The `MDB_txn` pointer, for this package's hot paths that call LMDB directly.
    @usableFromInline package let pointer: OpaquePointer

    package init(_ pointer: OpaquePointer) { self.pointer = pointer }

    /// LMDB's id of the transaction (`mdb_txn_id`): the snapshot's for a read, the one being written for a write.
    package var id: Int { Int(mdb_txn_id(pointer)) }
}

/// What read and write transactions share: reads work in either.
public protocol Transaction: ~Copyable {
    /// The transaction, as a token that this package's layers hand on; valid only inside the transaction's closure.
    var handle: TransactionHandle { get }
}

/// A read-only snapshot. It exists only inside ``Environment/read(_:)`` and cannot be copied out of it.
public struct ReadTransaction: Transaction, ~Copyable {
    /// The snapshot, valid only inside the ``Environment/read(_:)`` closure that created this transaction.
    public let handle: TransactionHandle

    /// A read view of an open transaction (a snapshot, or a write transaction read through): for a layer that holds
    /// the handle of a transaction opened by ``Environment/read(_:)`` or ``Environment/write(_:)`` and now reads in it.
    package init(viewing handle: TransactionHandle) { self.handle = handle }
}

/// A write transaction. It exists only inside ``Environment/write(_:)``: returning from the closure commits it,
/// throwing aborts it. Every read works in it too and sees its own uncommitted writes.
public struct WriteTransaction: Transaction, ~Copyable {
    /// The transaction, valid only inside the ``Environment/write(_:)`` closure; never commit or abort it directly.
    public let handle: TransactionHandle

    /// Goes on writing in an open write transaction whose handle a layer holds (the catalog writer, an index build);
    /// only inside the ``Environment/write(_:)`` closure that opened it.
    package init(continuing handle: TransactionHandle) { self.handle = handle }
}

/// Flags of a named database.
public struct DatabaseFlags: OptionSet, Sendable {
    /// The LMDB `mdb_dbi_open` flag bits (`MDB_DUPSORT`, `MDB_DUPFIXED`).
    public let rawValue: UInt32
    /// Wraps LMDB flag bits as they are; only the bits of the named options are meaningful here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Several sorted values per key.
    public static let duplicates = DatabaseFlags(rawValue: UInt32(MDB_DUPSORT))
    /// With `duplicates`: all values of a key have the same size, stored packed.
    public static let fixedSizeDuplicates = DatabaseFlags(rawValue: UInt32(MDB_DUPSORT | MDB_DUPFIXED))
}

/// Flags of a single put.
public struct PutFlags: OptionSet, Sendable {
    /// The LMDB `mdb_put` flag bits (`MDB_NOOVERWRITE`, `MDB_NODUPDATA`, `MDB_APPEND`).
    public let rawValue: UInt32
    /// Wraps LMDB flag bits as they are; only the bits of the named options are meaningful here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Fail with `alreadyExists` when the key is present.
    public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// In a duplicates database: do nothing when this exact key/value pair exists.
    public static let noDuplicateData = PutFlags(rawValue: UInt32(MDB_NODUPDATA))
    /// The key sorts after every key present (bulk loads in key order): much faster.
    public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
}
