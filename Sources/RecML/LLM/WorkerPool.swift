#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRecML
import Foundation
import Synchronization

/// A fixed set of persistent threads that run one task at a time, split by thread index: `run { i in … }` calls the
/// body with i = 0 on the calling thread and i = 1..<threads on the workers, and returns when all have finished.
///
/// Workers spin briefly between tasks (matmuls follow each other within microseconds) and then sleep on a
/// condition variable, so an idle model costs no CPU. No allocation per task.
final class WorkerPool: @unchecked Sendable {
    let threads: Int
    private let state: State

    private final class State: @unchecked Sendable {
        let posted = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        var task: ((Int) -> Void)?
        var mutex = pthread_mutex_t()
        var cond = pthread_cond_t()

        init() {
            pthread_mutex_init(&mutex, nil)
            pthread_cond_init(&cond, nil)
        }

        func workerLoop(_ index: Int) {
            var seen = 0
            while true {
                var spins = 0
                while posted.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
                    spins += 1
                    if spins < 20_000 {
                        recml_cpu_relax()
                    } else {
                        pthread_mutex_lock(&mutex)
                        while posted.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
                            pthread_cond_wait(&cond, &mutex)
                        }
                        pthread_mutex_unlock(&mutex)
                    }
                }
                if stopping.load(ordering: .relaxed) { return }
                seen = posted.load(ordering: .acquiring)
                task?(index)
                finished.add(1, ordering: .releasing)
            }
        }
    }

    /// Starts `threads - 1` worker threads (`threads` is clamped to 1...64).
    init(threads: Int) {
        self.threads = max(1, min(threads, 64))
        state = State()
        for index in 1..<self.threads {
            let state = self.state
            let thread = Thread { state.workerLoop(index) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        state.stopping.store(true, ordering: .releasing)
        pthread_mutex_lock(&state.mutex)
        pthread_cond_broadcast(&state.cond)
        pthread_mutex_unlock(&state.mutex)
    }

    /// Runs `body(i)` for i in 0..<threads, i = 0 on the calling thread; returns when all calls have returned.
    func run(_ body: (Int) -> Void) {
        if threads == 1 {
            body(0)
            return
        }
        let state = self.state
        withoutActuallyEscaping(body) { escapable in
            state.task = escapable
            state.finished.store(0, ordering: .relaxed)
            state.posted.add(1, ordering: .releasing)
            pthread_mutex_lock(&state.mutex)
            pthread_cond_broadcast(&state.cond)
            pthread_mutex_unlock(&state.mutex)
            escapable(0)
            var spins = 0
            while state.finished.load(ordering: .acquiring) < threads - 1 {
                spins += 1
                if spins < 50_000 { recml_cpu_relax() } else { sched_yield() }
            }
            state.task = nil
        }
    }

    /// The half-open range of `count` items that thread `index` handles, aligned to `align`.
    @inline(__always)
    func share(_ count: Int, _ index: Int, align: Int = 1) -> Range<Int> {
        let units = (count + align - 1) / align
        let lo = units * index / threads * align, hi = units * (index + 1) / threads * align
        return min(lo, count)..<min(hi, count)
    }
}
