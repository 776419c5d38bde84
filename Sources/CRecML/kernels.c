// Quantised matrix-vector kernels for RecML's GGUF runtime. AVX2 versions are compiled with target attributes and
// chosen at run time, so the package needs no machine-specific compiler flags; portable scalar versions otherwise.
#include "CRecML.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RECML_X86 1
#endif

/// Bytes of one block of eight regrouped Q4_1 rows (`recml_pack_q4_1`): 8 scales and 8 mins as floats, then 128
/// bytes of nibbles.
#define Q4_1_X8_BLOCK 192

static int recml_avx2_state = -1;

int recml_has_avx2(void) {
    if (recml_avx2_state < 0) {
#if RECML_X86
        __builtin_cpu_init();
        recml_avx2_state = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
        recml_avx2_state = 0;
#endif
    }
    return recml_avx2_state;
}

void recml_cpu_relax(void) {
#if RECML_X86
    _mm_pause();
#endif
}

float recml_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            // subnormal: normalise
            int e = -1;
            do { e++; mant <<= 1; } while ((mant & 0x400) == 0);
            mant &= 0x3FF;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint16_t f32_to_f16_scalar(float f);

/// Rounds a float to the nearest half and back (llama.cpp stores activation block scales as halves).
static inline float round_f16(float f) { return recml_f16_to_f32(f32_to_f16_scalar(f)); }

// MARK: - scalar

static void quantize_scalar(const float *x, int n, int8_t *q, float *d, float *s) {
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) { float a = fabsf(xb[j]); if (a > amax) amax = a; }
        float scale = amax / 127.0f;
        float inv = amax != 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int v = (int)nearbyintf(xb[j] * inv);
            q[b * 32 + j] = (int8_t)v;
            sum += v;
        }
        d[b] = round_f16(scale);
        if (s) s[b] = round_f16(scale * (float)sum);
    }
}

static void q4_1_scalar(const void *w, int nBlocks, int r0, int r1, const int8_t *aq, const float *ad,
                        const float *as, int nTok, float *out, int outStride) {
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * nBlocks * 20;
        for (int t = 0; t < nTok; t++) {
            const int8_t *a = aq + (size_t)t * nBlocks * 32;
            float acc = 0;
            for (int b = 0; b < nBlocks; b++) {
                const uint8_t *blk = row + b * 20;
                float dw = recml_f16_to_f32(rd16(blk)), mw = recml_f16_to_f32(rd16(blk + 2));
                int isum = 0;
                for (int j = 0; j < 16; j++) {
                    isum += (blk[4 + j] & 0x0F) * a[b * 32 + j] + (blk[4 + j] >> 4) * a[b * 32 + j + 16];
                }
                acc += dw * ad[t * nBlocks + b] * (float)isum + mw * as[t * nBlocks + b];
            }
            out[(size_t)t * outStride + r] = acc;
        }
    }
}

static void q8_0_scalar(const void *w, int nBlocks, int r0, int r1, const int8_t *aq, const float *ad, int nTok,
                        float *out, int outStride) {
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * nBlocks * 34;
        for (int t = 0; t < nTok; t++) {
            const int8_t *a = aq + (size_t)t * nBlocks * 32;
            float acc = 0;
            for (int b = 0; b < nBlocks; b++) {
                const uint8_t *blk = row + b * 34;
                const int8_t *qs = (const int8_t *)(blk + 2);
                int isum = 0;
                for (int j = 0; j < 32; j++) isum += qs[j] * a[b * 32 + j];
                acc += recml_f16_to_f32(rd16(blk)) * ad[t * nBlocks + b] * (float)isum;
            }
            out[(size_t)t * outStride + r] = acc;
        }
    }
}

// MARK: - AVX2

#if RECML_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2 static void quantize_avx2(const float *x, int n, int8_t *q, float *d, float *s) {
    const __m256 signBit = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signBit, v0), _mm256_andnot_ps(signBit, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(signBit, v2), _mm256_andnot_ps(signBit, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float scale = amax / 127.0f;
        float inv = amax != 0 ? 127.0f / amax : 0.0f;
        __m256 iv = _mm256_set1_ps(inv);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, iv), _MM_FROUND_TO_NEAREST_INT));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, iv), _MM_FROUND_TO_NEAREST_INT));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, iv), _MM_FROUND_TO_NEAREST_INT));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, iv), _MM_FROUND_TO_NEAREST_INT));
        if (s) {
            __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
            s[b] = _cvtsh_ss(_cvtss_sh(scale * hsum8(_mm256_cvtepi32_ps(sum)), 0));
        }
        // pack 32-bit -> 16-bit -> 8-bit, then undo the lane interleaving of the packs
        __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * 32), p);
        d[b] = _cvtsh_ss(_cvtss_sh(scale, 0));
    }
}

// Unpacks one Q4_1 block's 16 bytes to 32 unsigned nibbles: j in the low 128 bits, j + 16 in the high 128 bits.
AVX2 static inline __m256i unpack_q4(const uint8_t *qs) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

#define TILE 4

// One activation row (the decoding step): two blocks per iteration into independent accumulators.
AVX2 static void q4_1_gemv_avx2(const void *w, int nBlocks, int r0, int r1, const int8_t *aq, const float *ad,
                                const float *as, float *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * nBlocks * 20;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        float bias0 = 0, bias1 = 0;
        int b = 0;
        for (; b + 2 <= nBlocks; b += 2) {
            const uint8_t *k0 = row + b * 20, *k1 = k0 + 20;
            __m128 dm0 = _mm_cvtph_ps(_mm_cvtsi32_si128(*(const int32_t *)k0));
            __m128 dm1 = _mm_cvtph_ps(_mm_cvtsi32_si128(*(const int32_t *)k1));
            __m256i p0 = _mm256_madd_epi16(
                _mm256_maddubs_epi16(unpack_q4(k0 + 4), _mm256_loadu_si256((const __m256i *)(aq + b * 32))), ones);
            __m256i p1 = _mm256_madd_epi16(
                _mm256_maddubs_epi16(unpack_q4(k1 + 4), _mm256_loadu_si256((const __m256i *)(aq + b * 32 + 32))), ones);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_mm_cvtss_f32(dm0) * ad[b]), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(_mm_cvtss_f32(dm1) * ad[b + 1]), acc1);
            bias0 += _mm_cvtss_f32(_mm_movehdup_ps(dm0)) * as[b];
            bias1 += _mm_cvtss_f32(_mm_movehdup_ps(dm1)) * as[b + 1];
        }
        for (; b < nBlocks; b++) {
            const uint8_t *k0 = row + b * 20;
            __m128 dm0 = _mm_cvtph_ps(_mm_cvtsi32_si128(*(const int32_t *)k0));
            __m256i p0 = _mm256_madd_epi16(
                _mm256_maddubs_epi16(unpack_q4(k0 + 4), _mm256_loadu_si256((const __m256i *)(aq + b * 32))), ones);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_mm_cvtss_f32(dm0) * ad[b]), acc0);
            bias0 += _mm_cvtss_f32(_mm_movehdup_ps(dm0)) * as[b];
        }
        out[r] = hsum8(_mm256_add_ps(acc0, acc1)) + bias0 + bias1;
    }
}

#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

// Q4_1 rows regrouped by eight (`recml_pack_q4_1`) for batched products: one 32-bit lane per row, so a block's
// scale, min and activation scale are applied to eight rows per instruction, and each activation 4-byte group is
// broadcast once for eight rows. The sums are the in-place batched kernel's, in the same order: that kernel keeps,
// per row, eight lanes (lane q the dot product of the block's 4-byte group q: weights 4q..4q+3 for q < 4, else
// 16 + 4(q - 4)...) accumulated over blocks as acc += float(dot) * (d * ad), then hsum8 (((l0 + l4) + (l2 + l6)) +
// ((l1 + l5) + (l3 + l7))) plus the min term summed block by block with FMAs. Here accumulator q holds lane q of
// eight rows, so every output is bit-identical to the in-place kernel's. A group's nibbles are unpacked once into
// `wq` and reused for every token.
#define Q4_1_X8(NAME, ATTR, DOTQ)                                                                                    \
    ATTR static void NAME(const uint8_t *packed, int nBlocks, int g0, int g1, const int8_t *aq, const float *ad,   \
                          const float *as, int nTok, float *out, int outStride) {                                   \
        const __m256i low = _mm256_set1_epi8(0x0F);                                                                \
        __m256i wq[Q4_1_MAX_BLOCKS * 8];                                                                           \
        for (int g = g0; g < g1; g++) {                                                                            \
            const uint8_t *group = packed + (size_t)g * nBlocks * Q4_1_X8_BLOCK;                                    \
            for (int b = 0; b < nBlocks; b++) {                                                                    \
                for (int q = 0; q < 4; q++) {                                                                      \
                    __m256i raw = _mm256_loadu_si256((const __m256i *)(group + (size_t)b * Q4_1_X8_BLOCK + 64 + 32 * q)); \
                    wq[b * 8 + q] = _mm256_and_si256(raw, low);                                                    \
                    wq[b * 8 + q + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);                          \
                }                                                                                                  \
            }                                                                                                      \
            for (int t = 0; t < nTok; t++) {                                                                       \
                __m256 acc[8], bias = _mm256_setzero_ps();                                                         \
                for (int q = 0; q < 8; q++) acc[q] = _mm256_setzero_ps();                                          \
                for (int b = 0; b < nBlocks; b++) {                                                                \
                    const float *blk = (const float *)(group + (size_t)b * Q4_1_X8_BLOCK);                          \
                    size_t ai = (size_t)t * nBlocks + b;                                                           \
                    const int32_t *a4 = (const int32_t *)(aq + ai * 32);                                           \
                    __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(blk), _mm256_set1_ps(ad[ai]));                    \
                    for (int q = 0; q < 8; q++) {                                                                  \
                        __m256i dot = DOTQ(wq[b * 8 + q], _mm256_set1_epi32(a4[q]));                               \
                        acc[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[q]);                          \
                    }                                                                                              \
                    bias = _mm256_fmadd_ps(_mm256_loadu_ps(blk + 8), _mm256_set1_ps(as[ai]), bias);                \
                }                                                                                                  \
                __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6])), \
                                           _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]))); \
                _mm256_storeu_ps(out + (size_t)t * outStride + g * 8, _mm256_add_ps(sum, bias));                   \
            }                                                                                                      \
        }                                                                                                          \
    }

/// Blocks per row the regrouped kernel takes (a group's unpacked nibbles live on the stack: 16 KB at 64).
#define Q4_1_MAX_BLOCKS 64

AVX2 static inline __m256i dotq_avx2(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}
Q4_1_X8(q4_1_x8_avx2, AVX2, dotq_avx2)

VNNI static inline __m256i dotq_vnni(__m256i w, __m256i a) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a);
}
Q4_1_X8(q4_1_x8_vnni, VNNI, dotq_vnni)

static int recml_vnni_state = -1;

/// Whether the CPU has AVX-512 VNNI with its 256-bit forms (dpbusd on ymm registers).
static int recml_has_vnni(void) {
    if (recml_vnni_state < 0) {
        __builtin_cpu_init();
        recml_vnni_state = recml_has_avx2() && __builtin_cpu_supports("avx512vnni") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    }
    return recml_vnni_state;
}

AVX2 static void q4_1_avx2(const void *w, int nBlocks, int r0, int r1, const int8_t *aq, const float *ad,
                           const float *as, int nTok, float *out, int outStride) {
    if (nTok == 1) { q4_1_gemv_avx2(w, nBlocks, r0, r1, aq, ad, as, out); return; }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int t0 = 0; t0 < nTok; t0 += TILE) {
        int nt = nTok - t0 < TILE ? nTok - t0 : TILE;
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)r * nBlocks * 20;
            __m256 acc[TILE];
            float bias[TILE];
            for (int t = 0; t < TILE; t++) { acc[t] = _mm256_setzero_ps(); bias[t] = 0; }
            for (int b = 0; b < nBlocks; b++) {
                const uint8_t *blk = row + b * 20;
                __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(*(const int32_t *)blk));
                float dw = _mm_cvtss_f32(dm);
                float mw = _mm_cvtss_f32(_mm_movehdup_ps(dm));
                __m256i wq = unpack_q4(blk + 4);
                for (int t = 0; t < nt; t++) {
                    size_t ai = (size_t)(t0 + t) * nBlocks + b;
                    __m256i a = _mm256_loadu_si256((const __m256i *)(aq + ai * 32));
                    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wq, a), ones);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * ad[ai]), acc[t]);
                    bias[t] += mw * as[ai];
                }
            }
            for (int t = 0; t < nt; t++) out[(size_t)(t0 + t) * outStride + r] = hsum8(acc[t]) + bias[t];
        }
    }
}

AVX2 static void q8_0_gemv_avx2(const void *w, int nBlocks, int r0, int r1, const int8_t *aq, const float *ad,
                                float *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * nBlocks * 34;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int b = 0;
        for (; b + 2 <= nBlocks; b += 2) {
            const uint8_t *k0 = row + b * 34, *k1 = k0 + 34;
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(k0 + 2)), w1 = _mm256_loadu_si256((const __m256i *)(k1 + 2));
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(aq + b * 32));
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(aq + b * 32 + 32));
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(a0, w0)), ones);
            __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(a1, w1)), ones);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)k0) * ad[b]), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)k1) * ad[b + 1]), acc1);
        }
        for (; b < nBlocks; b++) {
            const uint8_t *k0 = row + b * 34;
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(k0 + 2));
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(aq + b * 32));
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(a0, w0)), ones);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)k0) * ad[b]), acc0);
        }
        out[r] = hsum8(_mm256_add_ps(acc0, acc1));
    }
}

AVX2 static void q8_0_avx2(const void *w, int nBlocks, int r0, int r1, const int8_t *aq, const float *ad, int nTok,
                           float *out, int outStride) {
    if (nTok == 1) { q8_0_gemv_avx2(w, nBlocks, r0, r1, aq, ad, out); return; }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int t0 = 0; t0 < nTok; t0 += TILE) {
        int nt = nTok - t0 < TILE ? nTok - t0 : TILE;
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)r * nBlocks * 34;
            __m256 acc[TILE];
            for (int t = 0; t < TILE; t++) acc[t] = _mm256_setzero_ps();
            for (int b = 0; b < nBlocks; b++) {
                const uint8_t *blk = row + b * 34;
                float dw = _cvtsh_ss(*(const uint16_t *)blk);
                __m256i wq = _mm256_loadu_si256((const __m256i *)(blk + 2));
                __m256i wabs = _mm256_sign_epi8(wq, wq);
                for (int t = 0; t < nt; t++) {
                    size_t ai = (size_t)(t0 + t) * nBlocks + b;
                    __m256i a = _mm256_loadu_si256((const __m256i *)(aq + ai * 32));
                    __m256i sa = _mm256_sign_epi8(a, wq);
                    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, sa), ones);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * ad[ai]), acc[t]);
                }
            }
            for (int t = 0; t < nt; t++) out[(size_t)(t0 + t) * outStride + r] = hsum8(acc[t]);
        }
    }
}
#endif

static uint16_t f32_to_f16_scalar(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    int exp = (int)((bits >> 23) & 0xFF) - 127 + 15;
    uint32_t mant = bits & 0x7FFFFF;
    if (((bits >> 23) & 0xFF) == 0xFF) return sign | 0x7C00 | (mant ? 0x200 : 0);
    if (exp >= 31) return sign | 0x7C00;
    if (exp <= 0) {
        if (exp < -10) return sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

// Like llama.cpp with an F16 KV cache: the query and the softmax probabilities are rounded to halves for the two
// products, exponentials are summed in double.
static void attend_scalar(const float *q, int nq, const uint16_t *k, const uint16_t *v, int length, int headDim,
                          float scale, float *scores, float *out) {
    for (int h = 0; h < nq; h++) {
        const float *qh = q + h * headDim;
        float *sh = scores + (size_t)h * length;
        float mx = -INFINITY;
        for (int p = 0; p < length; p++) {
            const uint16_t *kp = k + (size_t)p * headDim;
            float acc = 0;
            for (int j = 0; j < headDim; j++) acc += round_f16(qh[j]) * recml_f16_to_f32(kp[j]);
            sh[p] = acc * scale;
            if (sh[p] > mx) mx = sh[p];
        }
        double total = 0;
        for (int p = 0; p < length; p++) { sh[p] = expf(sh[p] - mx); total += sh[p]; }
        float inv = (float)(1.0 / total);
        for (int p = 0; p < length; p++) sh[p] = round_f16(sh[p] * inv);
        float *oh = out + h * headDim;
        for (int j = 0; j < headDim; j++) oh[j] = 0;
        for (int p = 0; p < length; p++) {
            const uint16_t *vp = v + (size_t)p * headDim;
            for (int j = 0; j < headDim; j++) oh[j] += sh[p] * recml_f16_to_f32(vp[j]);
        }
    }
}

#if RECML_X86
AVX2 static void f32_to_f16_avx2(const float *x, uint16_t *out, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) out[i] = f32_to_f16_scalar(x[i]);
}

#define LDH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

AVX2 static void attend_avx2(const float *q, int nq, const uint16_t *k, const uint16_t *v, int length, int headDim,
                             float scale, float *scores, float *out) {
    float mx[8];
    for (int h = 0; h < nq; h++) mx[h] = -INFINITY;
    // the query rounded to halves, as llama.cpp converts it for the F16 key product
    float qr[8 * 256];
    if (headDim > 256) { attend_scalar(q, nq, k, v, length, headDim, scale, scores, out); return; }
    for (int i = 0; i < nq * headDim; i += 8) {
        _mm256_storeu_ps(qr + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT)));
    }
    q = qr;
    // scores: each key row is read once for up to 4 query heads; two accumulators per head shorten FMA chains
    for (int h0 = 0; h0 < nq; h0 += 4) {
        int nh = nq - h0 < 4 ? nq - h0 : 4;
        for (int p = 0; p < length; p++) {
            const uint16_t *kp = k + (size_t)p * headDim;
            __m256 a0[4], a1[4];
            for (int h = 0; h < 4; h++) { a0[h] = _mm256_setzero_ps(); a1[h] = _mm256_setzero_ps(); }
            for (int j = 0; j < headDim; j += 16) {
                __m256 k0 = LDH(kp + j), k1 = LDH(kp + j + 8);
                for (int h = 0; h < nh; h++) {
                    const float *qh = q + (h0 + h) * headDim + j;
                    a0[h] = _mm256_fmadd_ps(_mm256_loadu_ps(qh), k0, a0[h]);
                    a1[h] = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 8), k1, a1[h]);
                }
            }
            for (int h = 0; h < nh; h++) {
                float sc = hsum8(_mm256_add_ps(a0[h], a1[h])) * scale;
                scores[(size_t)(h0 + h) * length + p] = sc;
                if (sc > mx[h0 + h]) mx[h0 + h] = sc;
            }
        }
    }
    for (int h = 0; h < nq; h++) {
        float *sh = scores + (size_t)h * length;
        float m = mx[h];
        // Two loops: each call to expf clobbers every vector register, so one loop would carry `total` through
        // memory (a store and a reload per score on the critical path). Same calls, same order of the double sum.
        double total = 0;
        for (int p = 0; p < length; p++) sh[p] = expf(sh[p] - m);
        for (int p = 0; p < length; p++) total += sh[p];
        float inv = (float)(1.0 / total);
        // normalised probabilities rounded to halves (llama.cpp's F16 value product)
        int p = 0;
        __m256 iv = _mm256_set1_ps(inv);
        for (; p + 8 <= length; p += 8) {
            __m256 x = _mm256_mul_ps(_mm256_loadu_ps(sh + p), iv);
            _mm256_storeu_ps(sh + p, _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)));
        }
        for (; p < length; p++) sh[p] = _cvtsh_ss(_cvtss_sh(sh[p] * inv, 0));
    }
    // weighted sum of values, 16 output floats at a time for up to 4 heads
    for (int h0 = 0; h0 < nq; h0 += 4) {
        int nh = nq - h0 < 4 ? nq - h0 : 4;
        for (int j = 0; j < headDim; j += 16) {
            __m256 a0[4], a1[4];
            for (int h = 0; h < 4; h++) { a0[h] = _mm256_setzero_ps(); a1[h] = _mm256_setzero_ps(); }
            for (int p = 0; p < length; p++) {
                const uint16_t *vp = v + (size_t)p * headDim + j;
                __m256 v0 = LDH(vp), v1 = LDH(vp + 8);
                for (int h = 0; h < nh; h++) {
                    __m256 w = _mm256_set1_ps(scores[(size_t)(h0 + h) * length + p]);
                    a0[h] = _mm256_fmadd_ps(w, v0, a0[h]);
                    a1[h] = _mm256_fmadd_ps(w, v1, a1[h]);
                }
            }
            for (int h = 0; h < nh; h++) {
                _mm256_storeu_ps(out + (h0 + h) * headDim + j, a0[h]);
                _mm256_storeu_ps(out + (h0 + h) * headDim + j + 8, a1[h]);
            }
        }
    }
}
#endif

// MARK: - dispatch

void recml_f32_to_f16(const float *x, uint16_t *out, int n) {
#if RECML_X86
    if (recml_has_avx2()) { f32_to_f16_avx2(x, out, n); return; }
#endif
    for (int i = 0; i < n; i++) out[i] = f32_to_f16_scalar(x[i]);
}

void recml_attend(const float *q, int nq, const uint16_t *k, const uint16_t *v, int length, int headDim,
                  float scale, float *scores, float *out) {
#if RECML_X86
    if (recml_has_avx2() && nq <= 8) { attend_avx2(q, nq, k, v, length, headDim, scale, scores, out); return; }
#endif
    attend_scalar(q, nq, k, v, length, headDim, scale, scores, out);
}

void recml_quantize_q8(const float *x, int n, int8_t *q, float *d, float *s) {
#if RECML_X86
    if (recml_has_avx2()) { quantize_avx2(x, n, q, d, s); return; }
#endif
    quantize_scalar(x, n, q, d, s);
}

void recml_matmul_q4_1(const void *w, int nBlocks, int rowBegin, int rowEnd, const int8_t *aq, const float *ad,
                       const float *as, int nTok, float *out, int outStride) {
#if RECML_X86
    if (recml_has_avx2()) { q4_1_avx2(w, nBlocks, rowBegin, rowEnd, aq, ad, as, nTok, out, outStride); return; }
#endif
    q4_1_scalar(w, nBlocks, rowBegin, rowEnd, aq, ad, as, nTok, out, outStride);
}

void recml_matmul_q8_0(const void *w, int nBlocks, int rowBegin, int rowEnd, const int8_t *aq, const float *ad,
                       int nTok, float *out, int outStride) {
#if RECML_X86
    if (recml_has_avx2()) { q8_0_avx2(w, nBlocks, rowBegin, rowEnd, aq, ad, nTok, out, outStride); return; }
#endif
    q8_0_scalar(w, nBlocks, rowBegin, rowEnd, aq, ad, nTok, out, outStride);
}

void recml_pack_q4_1(const void *w, int nBlocks, int rows, void *out) {
    for (int g = 0; g < rows / 8; g++) {
        for (int b = 0; b < nBlocks; b++) {
            uint8_t *dst = (uint8_t *)out + ((size_t)g * nBlocks + b) * Q4_1_X8_BLOCK;
            float d[8], m[8];
            for (int r = 0; r < 8; r++) {
                const uint8_t *blk = (const uint8_t *)w + ((size_t)(g * 8 + r) * nBlocks + b) * 20;
                d[r] = recml_f16_to_f32(rd16(blk));
                m[r] = recml_f16_to_f32(rd16(blk + 2));
                // byte 4q + k of the block holds weights 4q + k (low nibble) and 4q + k + 16 (high nibble)
                for (int q = 0; q < 4; q++) memcpy(dst + 64 + 32 * q + 4 * r, blk + 4 + 4 * q, 4);
            }
            memcpy(dst, d, 32);
            memcpy(dst + 32, m, 32);
        }
    }
}

int recml_matmul_q4_1_packed(const void *packed, int nBlocks, int rowBegin, int rowEnd, const int8_t *aq,
                             const float *ad, const float *as, int nTok, float *out, int outStride) {
#if RECML_X86
    if (!recml_has_avx2() || rowBegin % 8 != 0 || rowEnd % 8 != 0 || nBlocks > Q4_1_MAX_BLOCKS) return 0;
    if (recml_has_vnni()) {
        q4_1_x8_vnni(packed, nBlocks, rowBegin / 8, rowEnd / 8, aq, ad, as, nTok, out, outStride);
    } else {
        q4_1_x8_avx2(packed, nBlocks, rowBegin / 8, rowEnd / 8, aq, ad, as, nTok, out, outStride);
    }
    return 1;
#else
    return 0;
#endif
}
