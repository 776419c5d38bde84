import CLMDB
import Foundation

extension Environment {
    /// The read transactions this process has open on the environment now (LMDB reader slots that hold a snapshot):
    /// a probe for tests that check where long work runs.
    package var openReadTransactions: Int {
        var tally = ReaderTally(pid: getpid())
        _ = mdb_reader_list(handle, { message, context in
            guard let message, let context else { return 0 }
            let tally = context.assumingMemoryBound(to: ReaderTally.self)
            // One line per slot in use: "pid thread txnid", the txnid "-" while the slot holds no snapshot.
            let fields = String(cString: message).split(separator: " ", omittingEmptySubsequences: true)
            if fields.count == 3, Int32(fields[0]) == tally.pointee.pid, fields[2].trimmingCharacters(in: .whitespacesAndNewlines) != "-" {
                tally.pointee.open += 1
            }
            return 0
        }, &tally)
        return tally.open
    }
}

private struct ReaderTally {
    var pid: Int32
    var open = 0
}
