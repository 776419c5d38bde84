#ifndef CRECML_H
#define CRECML_H

#include <stdint.h>

#include "recml_minilm.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Whether the AVX2/FMA/F16C kernels are used (decided once, at first call, from the running CPU).
int recml_has_avx2(void);

/// A spin-wait hint (PAUSE on x86).
void recml_cpu_relax(void);

/// Converts one IEEE half to float.
float recml_f16_to_f32(uint16_t h);

/// Quantises `n` floats (n a multiple of 32) to blocks of 32 int8 values: `d[b]` is the block scale
/// (max |x| / 127), `s[b]` = d[b] * sum(q) (used by Q4_1 dot products). `s` may be NULL.
void recml_quantize_q8(const float *x, int n, int8_t *q, float *d, float *s);

/// out[t * outStride + r] = dot(row r of a Q4_1 matrix, activation t) for r in [rowBegin, rowEnd), t in [0, nTok).
/// `w` points at row 0; each row has `nBlocks` blocks of 20 bytes. Activation t is `aq + t * nBlocks * 32`
/// (int8), scales `ad + t * nBlocks`, sums `as + t * nBlocks`.
void recml_matmul_q4_1(const void *w, int nBlocks, int rowBegin, int rowEnd,
                       const int8_t *aq, const float *ad, const float *as, int nTok,
                       float *out, int outStride);

/// Regroups a Q4_1 matrix of `rows` rows (a multiple of 8) for `recml_matmul_q4_1_packed`: `out` needs
/// rows / 8 * nBlocks * 192 bytes (per 8 rows and block: 8 scales and 8 mins as floats, 128 bytes of nibbles).
void recml_pack_q4_1(const void *w, int nBlocks, int rows, void *out);

/// `recml_matmul_q4_1` on a matrix regrouped by `recml_pack_q4_1`, eight rows per instruction; for nTok >= 2 the
/// results are bit-identical to `recml_matmul_q4_1`'s. Returns 0 (and writes nothing) when it cannot run here: no
/// AVX2, a row range not aligned to 8, or more than 64 blocks per row.
int recml_matmul_q4_1_packed(const void *packed, int nBlocks, int rowBegin, int rowEnd, const int8_t *aq,
                             const float *ad, const float *as, int nTok, float *out, int outStride);

/// Same for a Q8_0 matrix (blocks of 34 bytes); activations quantised the same way (`as` unused).
void recml_matmul_q8_0(const void *w, int nBlocks, int rowBegin, int rowEnd,
                       const int8_t *aq, const float *ad, int nTok,
                       float *out, int outStride);

/// Converts `n` floats to IEEE halves (round to nearest even).
void recml_f32_to_f16(const float *x, uint16_t *out, int n);

/// Attention of `nq` query heads (consecutive, `headDim` floats each) that share one KV head, over positions
/// 0..<length of an F16 cache: key p at `k + p * headDim`, value p at `v + p * headDim`. `scores` needs
/// nq * length floats. Writes nq * headDim floats to `out` (consecutive heads). headDim must be a multiple of 16.
void recml_attend(const float *q, int nq, const uint16_t *k, const uint16_t *v, int length, int headDim,
                  float scale, float *scores, float *out);

#ifdef __cplusplus
}
#endif

#endif
