import Dispatch
import Synchronization
import COpenBLAS

/// How many threads the training core may use: its own loops (through `DispatchQueue.concurrentPerform`, only for
/// work above `Parallel.minimumWork`) and OpenBLAS's sgemm. One thread makes every result bit-for-bit reproducible;
/// with more, each output element is still computed by one thread in a fixed order, so results do not change either.
public enum Parallel {
    private static let threads = Atomic<Int>(1)

    /// Work (roughly, multiply-adds) below which a loop runs on the calling thread.
    public static let minimumWork = 1 << 15

    /// The thread count in use.
    public static var threadCount: Int { threads.load(ordering: .relaxed) }

    /// Sets the thread count for the core's loops and for OpenBLAS (default 1).
    public static func setThreadCount(_ count: Int) {
        let n = Swift.max(1, count)
        threads.store(n, ordering: .relaxed)
        openblas_set_num_threads(Int32(n))
    }

    /// Puts OpenBLAS back at this count (1 unless a training run set more; OpenBLAS itself starts with one thread per
    /// core). Request-time products, such as SASRec's encode, are small: a second BLAS thread only waits for a core
    /// that other requests need (at width 128 it made the latency bench's p99 up to ten times worse under load).
    /// RecDB calls it when a database opens and after each training run that changed it.
    public static func applyThreadCount() {
        openblas_set_num_threads(Int32(threadCount))
    }

    /// Runs `body` over `0..<count` split into contiguous ranges, concurrently when `work` is large enough and more
    /// than one thread is allowed. Each index is processed exactly once; `body` must write disjoint outputs.
    static func forEachRange(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let n = threadCount
        guard n > 1, count > 1, work >= minimumWork else {
            body(0..<count)
            return
        }
        let parts = Swift.min(count, n * 4)
        withoutActuallyEscaping(body) { body in
            // Safe: concurrentPerform returns only after every iteration has finished, so `body` never outlives this
            // call, and callers promise that iterations write disjoint memory (documented above).
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                body((part * count / parts)..<((part + 1) * count / parts))
            }
        }
    }
}
