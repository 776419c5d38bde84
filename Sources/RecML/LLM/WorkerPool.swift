#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRecML
import Foundation
import Synchronization

/// A fixed set of persistent threads that share one task at a time: `run(chunks: n) { c in … }` calls the body once
/// for each chunk c in 0..<n, on the calling thread and the workers, and returns when all chunks are done.
///
/// Chunks are claimed from an atomic counter tagged with the task's generation, so when a worker is descheduled
/// (the machine is shared) the calling thread simply takes the remaining chunks instead of waiting at a barrier.
/// The pool also times windows of tasks run in parallel and run alone, and uses the faster mode for a while:
/// on a busy machine, a starved worker costs more (wake-ups, cache-line traffic, stalls) than it adds.
/// Workers spin briefly between tasks (matmuls follow each other within microseconds), then sleep on a condition
/// variable, so an idle model costs no CPU. No allocation per task.
final class WorkerPool {
    let threads: Int
    private let state: State
    private var generation = 0
    // Mode choice by measurement: a window of tasks run in parallel, a window run alone, then the faster mode for
    // a while. On an idle machine parallel wins clearly; when other processes starve the worker, solo wins.
    private enum Phase { case probeParallel, probeSolo, exploit }
    private var phase = Phase.probeParallel
    private var phaseTasks = 0
    private var phaseNanos = 0
    private var parallelNanos = 0
    private var useParallel = true
    private static let probeTasks = 256
    private static let exploitTasks = 4_096
    /// Tasks run without workers because solo measured faster (for diagnostics).
    private(set) var soloTasks = 0
    private let debug = ProcessInfo.processInfo.environment["RECML_POOL_DEBUG"] != nil

    // What the pool's threads share. Unchecked `Sendable`, audited (one of the few in Sources, see the README):
    // - the atomics and the heap-allocated mutex and condition variable synchronise themselves;
    // - `task` is written only by the one thread in `runParallel` (WorkerPool is not Sendable, so one caller at a
    //   time), before the releasing store to `claim`/`posted` that publishes it, and cleared only after `done` (read
    //   acquiring) shows every claimed chunk finished; a worker reads it only after claiming a chunk of the current
    //   generation with an acquiring exchange on `claim`. So no read of `task` races with a write of it.
    private final class State: @unchecked Sendable {
        let posted = Atomic<Int>(0)
        /// generation << 40 | chunk count << 20 | next unclaimed chunk
        let claim = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        var task: ((Int) -> Void)?
        /// On the heap: a pthread mutex must not move, and a class's stored property has no guaranteed address.
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(cond, nil)
        }

        deinit {
            pthread_cond_destroy(cond)
            pthread_mutex_destroy(mutex)
            cond.deallocate()
            mutex.deallocate()
        }

        /// Wakes the workers sleeping on the condition variable.
        func wakeAll() {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(cond)
            pthread_mutex_unlock(mutex)
        }

        /// Claims and runs chunks of generation `gen` until none are left; returns how many it ran.
        @discardableResult
        func participate(_ gen: Int) -> Int {
            var ran = 0
            while true {
                var v = claim.load(ordering: .acquiring)
                var chunk = -1
                while v >> 40 == gen && v & 0xFFFFF < (v >> 20) & 0xFFFFF {
                    let (exchanged, original) = claim.compareExchange(
                        expected: v, desired: v + 1, ordering: .acquiringAndReleasing)
                    if exchanged {
                        chunk = v & 0xFFFFF
                        break
                    }
                    v = original
                }
                if chunk < 0 { return ran }
                task?(chunk)
                ran += 1
                done.add(1, ordering: .releasing)
            }
        }

        func workerLoop() {
            var seen = 0
            while true {
                var spins = 0
                while posted.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
                    spins += 1
                    if spins < 4_000 {
                        recml_cpu_relax()
                    } else {
                        pthread_mutex_lock(mutex)
                        while posted.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
                            pthread_cond_wait(cond, mutex)
                        }
                        pthread_mutex_unlock(mutex)
                    }
                }
                if stopping.load(ordering: .relaxed) { return }
                seen = posted.load(ordering: .acquiring)
                participate(seen)
            }
        }
    }

    /// Starts `threads - 1` worker threads (`threads` is clamped to 1...64).
    init(threads: Int) {
        self.threads = max(1, min(threads, 64))
        state = State()
        for _ in 1..<self.threads {
            let state = self.state
            let thread = Thread { state.workerLoop() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        state.stopping.store(true, ordering: .releasing)
        state.wakeAll()
    }

    /// Runs `body(c)` for every chunk c in 0..<chunks, spread over the threads; returns when all have returned.
    func run(chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks < 1 << 20)
        if threads == 1 || chunks <= 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        let parallel: Bool
        switch phase {
        case .probeParallel: parallel = true
        case .probeSolo: parallel = false
        case .exploit: parallel = useParallel
        }
        let start = Self.nanos()
        if parallel {
            runParallel(chunks: chunks, body)
        } else {
            soloTasks += 1
            for c in 0..<chunks { body(c) }
        }
        phaseNanos += Self.nanos() - start
        phaseTasks += 1
        switch phase {
        case .probeParallel where phaseTasks == Self.probeTasks:
            parallelNanos = phaseNanos
            phase = .probeSolo
        case .probeSolo where phaseTasks == Self.probeTasks:
            useParallel = parallelNanos <= phaseNanos
            if debug { print("pool: parallel \(parallelNanos / 1000) us, solo \(phaseNanos / 1000) us per \(Self.probeTasks) tasks") }
            phase = .exploit
        case .exploit where phaseTasks == Self.exploitTasks:
            phase = .probeParallel
        default:
            return
        }
        phaseTasks = 0
        phaseNanos = 0
    }

    private func runParallel(chunks: Int, _ body: (Int) -> Void) {
        generation = (generation + 1) & 0x7F_FFFF
        if generation == 0 { generation = 1 }
        let gen = generation
        let state = self.state
        withoutActuallyEscaping(body) { escapable in
            state.task = escapable
            state.done.store(0, ordering: .relaxed)
            state.claim.store(gen << 40 | chunks << 20, ordering: .releasing)
            state.posted.store(gen, ordering: .releasing)
            state.wakeAll()
            state.participate(gen)
            var spins = 0
            while state.done.load(ordering: .acquiring) < chunks {
                spins += 1
                if spins < 20_000 { recml_cpu_relax() } else { sched_yield() }
            }
            state.task = nil
        }
    }

    @inline(__always) static func nanos() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }

    /// Rows of chunk `c` when `count` rows are cut into `chunks` pieces aligned to `align`.
    @inline(__always)
    static func rows(_ count: Int, chunk c: Int, of chunks: Int, align: Int = 16) -> Range<Int> {
        let units = (count + align - 1) / align
        let lo = units * c / chunks * align, hi = units * (c + 1) / chunks * align
        return min(lo, count)..<min(hi, count)
    }

    /// How many chunks to cut `rows` rows of work into: a few per thread so a stalled thread's share is picked up.
    func chunks(rows: Int, minRows: Int = 32) -> Int {
        threads == 1 ? 1 : max(1, min(4 * threads, rows / minRows))
    }
}
