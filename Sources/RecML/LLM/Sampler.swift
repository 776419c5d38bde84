#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Picks the next token from a row of logits under `GenerationOptions`. Buffers are allocated once per sampler.
/// Order: repetition penalty, temperature, top-k, top-p (nucleus over the tempered probabilities, as Hugging Face
/// transformers does), then a draw from the kept tokens with the seeded generator.
struct Sampler {
    let options: GenerationOptions
    var rng: SeededGenerator
    private var heapIDs: [Int32] = []
    private var heapLogits: [Float] = []
    private var probs: [Float] = []

    init(options: GenerationOptions, seed: UInt64? = nil) {
        self.options = options
        rng = SeededGenerator(seed: seed ?? options.seed)
        heapIDs.reserveCapacity(1024)
        heapLogits.reserveCapacity(1024)
        probs.reserveCapacity(1024)
    }

    /// Applies the repetition penalty in place to the logits of tokens in `history`'s window.
    static func penalize(_ logits: UnsafeMutablePointer<Float>, history: ArraySlice<Int32>, options: GenerationOptions) {
        guard options.repetitionPenalty != 1, options.repetitionWindow > 0 else { return }
        let recent = history.suffix(options.repetitionWindow)
        // each distinct token once; the window is small, so a scan beats allocating a set per step
        for i in recent.indices {
            let t = recent[i]
            guard t >= 0, !recent[recent.startIndex..<i].contains(t) else { continue }
            let l = logits[Int(t)]
            logits[Int(t)] = l > 0 ? l / options.repetitionPenalty : l * options.repetitionPenalty
        }
    }

    /// Index of the largest logit (lowest id on ties).
    static func argmax(_ logits: UnsafePointer<Float>, _ n: Int) -> Int32 {
        var best = 0
        var bestValue = logits[0]
        for i in 1..<n where logits[i] > bestValue {
            bestValue = logits[i]
            best = i
        }
        return Int32(best)
    }

    /// Chooses a token from `logits` (`n` values, already penalised).
    mutating func sample(_ logits: UnsafePointer<Float>, _ n: Int) -> Int32 {
        if options.temperature <= 0 || options.topK == 1 { return Self.argmax(logits, n) }
        let invT = 1 / options.temperature
        var maxLogit = -Float.infinity
        for i in 0..<n { maxLogit = max(maxLogit, logits[i]) }
        // total probability mass, for top-p over a partial candidate list
        var total: Float = 0
        for i in 0..<n { total += expf((logits[i] - maxLogit) * invT) }
        if options.topK <= 0 && options.topP >= 1 {
            // plain temperature sampling: walk the whole distribution, no candidate list needed
            var r = rng.unit() * total
            for i in 0..<n {
                r -= expf((logits[i] - maxLogit) * invT)
                if r <= 0 { return Int32(i) }
            }
            return Self.argmax(logits, n)
        }
        var k = options.topK > 0 ? min(options.topK, n) : min(64, n)
        while true {
            topCandidates(logits, n, k)
            var mass: Float = 0
            for l in heapLogits { mass += expf((l - maxLogit) * invT) }
            if options.topK > 0 || options.topP >= 1 && k == n || mass / total >= options.topP || k == n { break }
            if options.topP >= 1 { k = n } else { k = min(n, k * 4) }
        }
        // heapIDs/heapLogits are now sorted by descending logit
        probs.removeAll(keepingCapacity: true)
        var sum: Float = 0
        for l in heapLogits {
            let p = expf((l - maxLogit) * invT)
            probs.append(p)
            sum += p
        }
        var keep = probs.count
        if options.topP < 1 {
            var cumulative: Float = 0
            for (i, p) in probs.enumerated() {
                cumulative += p / (options.topK > 0 ? sum : total)
                if cumulative >= options.topP {
                    keep = i + 1
                    break
                }
            }
        }
        var kept: Float = 0
        for i in 0..<keep { kept += probs[i] }
        var r = rng.unit() * kept
        for i in 0..<keep {
            r -= probs[i]
            if r <= 0 { return heapIDs[i] }
        }
        return heapIDs[keep - 1]
    }

    /// Fills heapIDs/heapLogits with the k largest logits, sorted descending (a bounded min-heap, O(n log k)).
    private mutating func topCandidates(_ logits: UnsafePointer<Float>, _ n: Int, _ k: Int) {
        heapIDs.removeAll(keepingCapacity: true)
        heapLogits.removeAll(keepingCapacity: true)
        for i in 0..<n {
            let l = logits[i]
            if heapIDs.count < k {
                heapIDs.append(Int32(i))
                heapLogits.append(l)
                var c = heapIDs.count - 1
                while c > 0 {
                    let p = (c - 1) / 2
                    if heapLogits[p] <= heapLogits[c] { break }
                    heapLogits.swapAt(p, c)
                    heapIDs.swapAt(p, c)
                    c = p
                }
            } else if l > heapLogits[0] {
                heapLogits[0] = l
                heapIDs[0] = Int32(i)
                var p = 0
                while true {
                    let a = 2 * p + 1, b = a + 1
                    var m = p
                    if a < k && heapLogits[a] < heapLogits[m] { m = a }
                    if b < k && heapLogits[b] < heapLogits[m] { m = b }
                    if m == p { break }
                    heapLogits.swapAt(p, m)
                    heapIDs.swapAt(p, m)
                    p = m
                }
            }
        }
        let order = heapIDs.indices.sorted {
            heapLogits[$0] != heapLogits[$1] ? heapLogits[$0] > heapLogits[$1] : heapIDs[$0] < heapIDs[$1]
        }
        let ids = order.map { heapIDs[$0] }, ls = order.map { heapLogits[$0] }
        heapIDs.replaceSubrange(0..<ids.count, with: ids)
        heapLogits.replaceSubrange(0..<ls.count, with: ls)
    }
}
