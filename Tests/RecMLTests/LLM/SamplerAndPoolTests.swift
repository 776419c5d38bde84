import Foundation
import Synchronization
import Testing
@testable import RecML

@Suite struct SamplerTests {
    private func sample(_ logits: [Float], _ options: GenerationOptions, seed: UInt64 = 1) -> Int32 {
        var sampler = Sampler(options: options, seed: seed)
        return logits.withUnsafeBufferPointer { sampler.sample($0.baseAddress!, logits.count) }
    }

    @Test func greedyPicksTheLowestIdAmongTies() {
        #expect(sample([1, 5, 3, 5], .greedy()) == 1)
        #expect(sample([1, 5, 3, 7], GenerationOptions(temperature: 0.8, topK: 1)) == 3)
    }

    @Test func topKAndTopPKeepOnlyTheHead() {
        var logits = [Float](repeating: 0, count: 1000)
        logits[10] = 20
        logits[20] = 19.5
        for seed in 0..<50 as Range<UInt64> {
            let k2 = sample(logits, GenerationOptions(temperature: 1, topK: 2), seed: seed)
            #expect(k2 == 10 || k2 == 20)
            let p = sample(logits, GenerationOptions(temperature: 1, topP: 0.5), seed: seed)
            #expect(p == 10)
        }
    }

    @Test func seededSamplingIsReproducibleAndSpreads() {
        let logits = (0..<64).map { Float($0 % 8) * 0.1 }
        let options = GenerationOptions(temperature: 1.5, topK: 0, topP: 0.95)
        let a = (0..<40).map { sample(logits, options, seed: $0) }
        let b = (0..<40).map { sample(logits, options, seed: $0) }
        #expect(a == b)
        #expect(Set(a).count > 5)
        let plain = (0..<40).map { sample(logits, GenerationOptions(temperature: 1), seed: $0) }
        #expect(Set(plain).count > 5)
    }

    @Test func repetitionPenaltyFollowsLlamaCppRule() {
        var logits: [Float] = [2, -2, 4]
        let options = GenerationOptions(repetitionPenalty: 2)
        logits.withUnsafeMutableBufferPointer {
            Sampler.penalize($0.baseAddress!, history: [0, 1, 0][...], options: options)
        }
        #expect(logits == [1, -4, 4])
    }
}

@Suite struct WorkerPoolTests {
    @Test(arguments: [1, 2, 3])
    func everyChunkRunsExactlyOnce(threads: Int) {
        let pool = WorkerPool(threads: threads)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { counts.deallocate() }
        for round in 0..<2_000 {
            let chunks = 1 + round % 17
            counts.initialize(repeating: 0, count: 64)
            pool.run(chunks: chunks) { c in counts[c] += 1 }
            for c in 0..<chunks where counts[c] != 1 {
                Issue.record("round \(round): chunk \(c) ran \(counts[c]) times")
                return
            }
        }
    }

    @Test func rowsCoverTheRangeAligned() {
        var covered = 0
        for c in 0..<8 {
            let r = WorkerPool.rows(576, chunk: c, of: 8)
            #expect(r.lowerBound == covered)
            #expect(r.lowerBound % 16 == 0)
            covered = r.upperBound
        }
        #expect(covered == 576)
    }
}
