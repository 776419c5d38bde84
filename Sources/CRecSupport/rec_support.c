#include "rec_support.h"
#include <string.h>

static _Thread_local int map_full_noted = 0;
static _Thread_local void *current_request = 0;

void *recdb_current_request(void) { return current_request; }

void recdb_set_current_request(void *request) { current_request = request; }

void recdb_note_map_full(void) { map_full_noted = 1; }

int recdb_map_full_noted(void) { return map_full_noted; }

int recdb_take_map_full(void) {
    int noted = map_full_noted;
    map_full_noted = 0;
    return noted;
}

#if defined(__x86_64__)
#include <immintrin.h>

static int has_avx2_fma = -1;

int recdb_has_avx2_fma(void) {
    if (has_avx2_fma < 0) {
        __builtin_cpu_init();
        has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return has_avx2_fma;
}

__attribute__((target("avx2,fma"))) static inline float horizontal_sum(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
    __m128 sum = _mm_add_ps(low, high);
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_shuffle_ps(sum, sum, 0x55));
    return _mm_cvtss_f32(sum);
}

__attribute__((target("avx2,fma"))) float recdb_dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float result = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) result += a[i] * b[i];
    return result;
}

__attribute__((target("avx2,fma"))) float recdb_l2sq_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float result = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        result += d * d;
    }
    return result;
}


__attribute__((target("avx2,fma"))) static inline __m256 codes8(const int8_t *c) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)c)));
}

__attribute__((target("avx2,fma"))) float recdb_dot_i8_avx2(const float *w, const int8_t *c, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), codes8(c + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), codes8(c + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), codes8(c + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), codes8(c + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), codes8(c + i), s0);
    float result = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) result += w[i] * (float)c[i];
    return result;
}

__attribute__((target("avx2,fma"))) float recdb_l2_i8_avx2(const float *t, const float *w, const int8_t *c, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(t + i), codes8(c + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(t + i + 8), codes8(c + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(t + i + 16), codes8(c + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(t + i + 24), codes8(c + i + 24));
        s0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, d0), _mm256_loadu_ps(w + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_mul_ps(d1, d1), _mm256_loadu_ps(w + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_mul_ps(d2, d2), _mm256_loadu_ps(w + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_mul_ps(d3, d3), _mm256_loadu_ps(w + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(t + i), codes8(c + i));
        s0 = _mm256_fmadd_ps(_mm256_mul_ps(d, d), _mm256_loadu_ps(w + i), s0);
    }
    float result = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) {
        float d = t[i] - (float)c[i];
        result += w[i] * d * d;
    }
    return result;
}

static int has_f16c = -1;

int recdb_has_f16c(void) {
    if (has_f16c < 0) {
        __builtin_cpu_init();
        has_f16c = recdb_has_avx2_fma() && __builtin_cpu_supports("f16c");
    }
    return has_f16c;
}

__attribute__((target("avx2,fma,f16c"))) static inline __m256 halves8(const uint16_t *h) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

__attribute__((target("avx2,fma,f16c"))) float recdb_dot_f16_f16c(const float *q, const uint16_t *h, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), halves8(h + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), halves8(h + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), halves8(h + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), halves8(h + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), halves8(h + i), s0);
    float result = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) result += q[i] * recdb_f16_to_f32(h[i]);
    return result;
}

__attribute__((target("avx2,fma,f16c"))) float recdb_l2_f16_f16c(const float *q, const uint16_t *h, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), halves8(h + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), halves8(h + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 16), halves8(h + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 24), halves8(h + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(q + i), halves8(h + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float result = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) {
        float d = q[i] - recdb_f16_to_f32(h[i]);
        result += d * d;
    }
    return result;
}

#else

int recdb_has_avx2_fma(void) { return 0; }
float recdb_dot_avx2(const float *a, const float *b, size_t n) { (void)a; (void)b; (void)n; return 0; }
float recdb_l2sq_avx2(const float *a, const float *b, size_t n) { (void)a; (void)b; (void)n; return 0; }
float recdb_dot_i8_avx2(const float *w, const int8_t *c, size_t n) { return recdb_dot_i8(w, c, n); }
float recdb_l2_i8_avx2(const float *t, const float *w, const int8_t *c, size_t n) { return recdb_l2_i8(t, w, c, n); }
int recdb_has_f16c(void) { return 0; }
float recdb_dot_f16_f16c(const float *q, const uint16_t *h, size_t n) { return recdb_dot_f16(q, h, n); }
float recdb_l2_f16_f16c(const float *q, const uint16_t *h, size_t n) { return recdb_l2_f16(q, h, n); }

#endif

/* Portable forms of the int8-code distances (four partial sums, so compilers vectorise them for the baseline ISA). */
float recdb_dot_i8(const float *w, const int8_t *c, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += w[i] * (float)c[i];
        s1 += w[i + 1] * (float)c[i + 1];
        s2 += w[i + 2] * (float)c[i + 2];
        s3 += w[i + 3] * (float)c[i + 3];
    }
    for (; i < n; i++) s0 += w[i] * (float)c[i];
    return (s0 + s1) + (s2 + s3);
}

float recdb_l2_i8(const float *t, const float *w, const int8_t *c, size_t n) {
    float s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        float d0 = t[i] - (float)c[i], d1 = t[i + 1] - (float)c[i + 1];
        s0 += w[i] * d0 * d0;
        s1 += w[i + 1] * d1 * d1;
    }
    for (; i < n; i++) {
        float d = t[i] - (float)c[i];
        s0 += w[i] * d * d;
    }
    return s0 + s1;
}

/* binary16 -> binary32 by moving the fields: normal numbers re-bias the exponent (15 -> 127), subnormals are
   mant * 2^-24, infinities and NaNs keep an all-ones exponent. */
float recdb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        float magnitude = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -magnitude : magnitude;
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    float result;
    memcpy(&result, &bits, sizeof result);
    return result;
}

/* Portable forms of the float16-code distances (two partial sums each). */
float recdb_dot_f16(const float *q, const uint16_t *h, size_t n) {
    float s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += q[i] * recdb_f16_to_f32(h[i]);
        s1 += q[i + 1] * recdb_f16_to_f32(h[i + 1]);
    }
    for (; i < n; i++) s0 += q[i] * recdb_f16_to_f32(h[i]);
    return s0 + s1;
}

float recdb_l2_f16(const float *q, const uint16_t *h, size_t n) {
    float s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        float d0 = q[i] - recdb_f16_to_f32(h[i]), d1 = q[i + 1] - recdb_f16_to_f32(h[i + 1]);
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    for (; i < n; i++) {
        float d = q[i] - recdb_f16_to_f32(h[i]);
        s0 += d * d;
    }
    return s0 + s1;
}
