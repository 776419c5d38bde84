import Foundation
import RecNeural
import SportsSplit

/// Request-time cost of SASRec's encode, one thread: a `maxlen`-item history (random items) encoded into a query
/// vector, per call on a fresh `SASRecEncoder` over shared frozen weights (what RecDB's serving does: no pool) and on
/// one encoder reused (the pooled path before), in alternating blocks; p50 / p99 milliseconds of each, wall clock
/// and the calling thread's CPU time (which a loaded machine's preemption does not inflate).
struct LatencyRun {
    let configuration: SASRecConfiguration
    let calls: Int

    init(itemCount: Int, options: inout Options) {
        var c = SASRecConfiguration(itemCount: itemCount)
        c.dimension = options.int("dim", 64)
        c.blocks = options.int("blocks", 2)
        c.heads = options.int("heads", 1)
        c.maxLength = options.int("maxlen", 50)
        configuration = c
        calls = options.int("calls", 4000)
    }

    func run() -> [String: Any] {
        let weights = SASRecWeights(SASRecNetwork(configuration))
        var generator = SeededGenerator(seed: 3)
        let histories: [[Int32]] = (0..<64).map { _ in
            (0..<configuration.maxLength).map { _ in Int32(1 + generator.next() % UInt64(configuration.itemCount)) }
        }
        let reused = SASRecEncoder(weights: weights)
        var fresh: [Double] = [], pooled: [Double] = [], freshCPU: [Double] = [], pooledCPU: [Double] = []
        var sink: Float = 0
        for call in 0..<calls {
            let history = histories[call % histories.count]
            let useFresh = (call / 100) % 2 == 0
            let start = ContinuousClock.now, startCPU = threadCPUMilliseconds()
            let query = useFresh ? SASRecEncoder(weights: weights).encode(history) : reused.encode(history)
            let milliseconds = (ContinuousClock.now - start) / .milliseconds(1)
            let cpu = threadCPUMilliseconds() - startCPU
            sink += query[0]
            if useFresh {
                fresh.append(milliseconds)
                freshCPU.append(cpu)
            } else {
                pooled.append(milliseconds)
                pooledCPU.append(cpu)
            }
        }
        func quantile(_ values: [Double], _ q: Double) -> Double {
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
        }
        log("latency: checksum \(sink)")
        return ["history_length": configuration.maxLength, "dim": configuration.dimension,
            "blocks": configuration.blocks, "calls_each": fresh.count,
            "fresh_encoder_p50_ms": quantile(fresh, 0.5), "fresh_encoder_p99_ms": quantile(fresh, 0.99),
            "reused_encoder_p50_ms": quantile(pooled, 0.5), "reused_encoder_p99_ms": quantile(pooled, 0.99),
            "fresh_encoder_cpu_p50_ms": quantile(freshCPU, 0.5), "fresh_encoder_cpu_p99_ms": quantile(freshCPU, 0.99),
            "reused_encoder_cpu_p50_ms": quantile(pooledCPU, 0.5),
            "reused_encoder_cpu_p99_ms": quantile(pooledCPU, 0.99)]
    }

    /// The calling thread's CPU time so far, in milliseconds.
    private func threadCPUMilliseconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) / 1e6
    }
}
