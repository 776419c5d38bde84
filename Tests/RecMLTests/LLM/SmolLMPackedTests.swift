import CRecML
import Testing

@testable import RecML

/// The regrouped Q4_1 kernel (eight rows per lane group, used for products with several activation rows) against
/// the in-place one, bit for bit, on the model's own matrices (in the serialized ``SmolLMTests`` suite, which owns the model).
extension SmolLMTests {
    @Test(arguments: [2, 5, 10, 17])
    func regroupedQ4_1ProductsMatchTheInPlaceKernel(tokens: Int) throws {
        let model = try SmolLMReference.model().model
        let layer = model.layers[3]
        var generator = SeededGenerator(seed: UInt64(tokens))
        for matrix in [layer.wq, layer.wk, layer.gate, layer.down] where matrix.kind == .q4_1 {
            let packed = try #require(matrix.packed, "Q4_1 matrices are regrouped at load on AVX2 machines")
            let cols = matrix.cols, rows = matrix.rows
            let x = (0..<tokens * cols).map { _ in Float.random(in: -2...2, using: &generator) }
            var aq = [Int8](repeating: 0, count: tokens * cols)
            var ad = [Float](repeating: 0, count: tokens * cols / 32), asum = ad
            recml_quantize_q8(x, Int32(x.count), &aq, &ad, &asum)
            var inPlace = [Float](repeating: 0, count: tokens * rows), regrouped = inPlace
            recml_matmul_q4_1(matrix.data, Int32(matrix.blocks), 0, Int32(rows), aq, ad, asum, Int32(tokens),
                              &inPlace, Int32(rows))
            // Two chunks, as the worker pool cuts rows (boundaries aligned to 16).
            let split = Int32(rows / 32 * 16)
            for (lo, hi) in [(Int32(0), split), (split, Int32(rows))] {
                let ran = regrouped.withUnsafeMutableBufferPointer {
                    recml_matmul_q4_1_packed(packed, Int32(matrix.blocks), lo, hi, aq, ad, asum, Int32(tokens),
                                             $0.baseAddress!, Int32(rows))
                }
                #expect(ran == 1)
            }
            // The same sums in the same order: bit-identical, so batched decoding writes what it wrote before.
            let differing = zip(inPlace, regrouped).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(rows)x\(cols): \(differing) of \(inPlace.count) outputs differ")
        }
        #expect(recml_matmul_q4_1_packed(layer.wq.packed, Int32(layer.wq.blocks), 4, 16, nil, nil, nil, 1, nil, 0) == 0)
    }
}
