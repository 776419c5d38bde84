import RecStorage

/// Where a replicated database stands in its write log: the sequence of the last log entry applied, kept in `meta`
/// and written in the same transaction as the entries it counts, so a restart (or a `recctl backup` copy) resumes
/// exactly after it. 0 for a database that never applied a log entry.
extension CatalogReading where Self: ~Copyable {
    /// The sequence of the last replication-log entry this database applied (0 when none).
    public var appliedStreamSequence: UInt64 {
        get throws { try CatalogSchemaAccess.nextID(StreamPosition.key, handle: handle, meta: schema.meta) }
    }
}

extension CatalogWriter {
    /// Records that the log entries up to `sequence` are applied, in this transaction. A sequence lower than the one
    /// recorded is refused: a log is applied forward only.
    public mutating func recordAppliedStreamSequence(_ sequence: UInt64) throws {
        let current = try appliedStreamSequence
        guard sequence >= current else {
            throw RecDBError(
                .invalidArgument, "stream sequence \(sequence) is behind the applied sequence \(current): a log applies forward only")
        }
        var txn = WriteTransaction(continuing: handle)
        try schema.meta.put(StreamPosition.key, UInt64Codec.withBytes(of: sequence) { Array($0) }, in: &txn)
    }
}

extension RecDatabase {
    /// The sequence of the last replication-log entry applied, as the latest committed transaction has it.
    public var appliedStreamSequence: UInt64 {
        get throws { try read { try $0.appliedStreamSequence } }
    }
}

enum StreamPosition {
    /// The `meta` key of the applied sequence (a big-endian `UInt64`).
    static let key = "replication.applied_sequence"
}
