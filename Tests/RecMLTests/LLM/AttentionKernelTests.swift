import CRecML
import Foundation
import Testing

@testable import RecML

/// The attention kernel (F16 keys and values, rounded probabilities) against a direct softmax in double,
/// for lengths on both sides of the kernels' 8- and 16-wide steps.
@Suite struct AttentionKernelTests {
    @Test(arguments: [1, 7, 8, 9, 63, 450, 457])
    func attentionMatchesADirectSoftmax(length: Int) {
        let heads = 3, dim = 64
        var generator = SeededGenerator(seed: UInt64(length))
        func random(_ n: Int, _ scale: Float) -> [Float] {
            (0..<n).map { _ in (generator.unit() * 2 - 1) * scale }
        }
        let q = random(heads * dim, 6), kf = random(length * dim, 1), vf = random(length * dim, 1)
        var k = [UInt16](repeating: 0, count: length * dim), v = k
        recml_f32_to_f16(kf, &k, Int32(kf.count))
        recml_f32_to_f16(vf, &v, Int32(vf.count))
        var scores = [Float](repeating: 0, count: 8 * length * 4), out = [Float](repeating: 0, count: heads * dim)
        let scale: Float = 0.125
        recml_attend(q, Int32(heads), k, v, Int32(length), Int32(dim), scale, &scores, &out)
        for h in 0..<heads {
            // The kernel rounds the query to halves (as llama.cpp does for the F16 key product); so does the reference.
            var qh = [UInt16](repeating: 0, count: dim)
            recml_f32_to_f16(Array(q[h * dim..<(h + 1) * dim]), &qh, Int32(dim))
            let s = (0..<length).map { p in
                (0..<dim).reduce(0.0) { $0 + Double(recml_f16_to_f32(qh[$1])) * Double(recml_f16_to_f32(k[p * dim + $1])) }
                    * Double(scale)
            }
            let top = s.max()!
            let e = s.map { Foundation.exp($0 - top) }
            let total = e.reduce(0, +)
            for j in 0..<dim {
                let want = (0..<length).reduce(0.0) { $0 + e[$1] / total * Double(recml_f16_to_f32(v[$1 * dim + j])) }
                #expect(abs(Double(out[h * dim + j]) - want) < 2e-3, "head \(h) dim \(j): \(out[h * dim + j]) vs \(want)")
            }
        }
    }
}
