#include "recml_minilm.h"

// The vector helpers below are always inlined into functions compiled for AVX2 or AVX-512, so the ABI of passing
// 64-byte vectors between functions, which this warning is about, never applies.
#pragma clang diagnostic ignored "-Wpsabi"

#include <math.h>
#include <string.h>

typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE v16f splat(float x) { return (v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
ALWAYS_INLINE v16f load(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
ALWAYS_INLINE void store(float *p, v16f v) { memcpy(p, &v, sizeof v); }
/// Lanes of a where mask is all ones, else of b.
ALWAYS_INLINE v16f select(v16i mask, v16f a, v16f b) { return (v16f)(((v16i)a & mask) | ((v16i)b & ~mask)); }

/// e^x: range reduction by ln 2, degree-6 Taylor polynomial on |r| ≤ ln2/2, exponent set through the bits.
ALWAYS_INLINE v16f vexp(v16f x) {
    const v16f low = splat(-87.3f), high = splat(88.0f), magic = splat(12582912.0f);
    x = select(x < low, low, select(x > high, high, x));
    v16f shifted = x * splat(1.44269504f) + magic;
    v16f n = shifted - magic;
    v16f r = x - n * splat(0.69314575f);
    r -= n * splat(1.4286068e-6f);
    v16f p = splat(1.0f / 720);
    p = p * r + splat(1.0f / 120);
    p = p * r + splat(1.0f / 24);
    p = p * r + splat(1.0f / 6);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v16i bits = ((v16i)shifted - (v16i)magic + 127) << 23;
    return p * (v16f)bits;
}

ALWAYS_INLINE void gelu_body(float *x, long count) {
    for (long i = 0; i < count; i += 16) {
        v16f v = load(x + i);
        v16f z = v * splat(0.70710678f);
        v16f a = (v16f)((v16i)z & 0x7FFFFFFF);
        v16f t = splat(1.0f) / (splat(1.0f) + splat(0.3275911f) * a);
        v16f q = splat(1.061405429f);
        q = q * t + splat(-1.453152027f);
        q = q * t + splat(1.421413741f);
        q = q * t + splat(-0.284496736f);
        q = q * t + splat(0.254829592f);
        q = q * t;
        v16f tail = q * vexp(-(a * a));  // 1 - erf(|z|)
        v16f one_plus_erf = select(z >= splat(0.0f), splat(2.0f) - tail, tail);
        store(x + i, splat(0.5f) * v * one_plus_erf);
    }
}

ALWAYS_INLINE void softmax_body(float *s, long rows, long count, long ld) {
    long full = count & ~15L;
    for (long row = 0; row < rows; row++) {
        float *p = s + row * ld;
        float maximum = -INFINITY;
        if (full > 0) {
            v16f m = load(p);
            for (long j = 16; j < full; j += 16) {
                v16f v = load(p + j);
                m = select(v > m, v, m);
            }
            for (int k = 0; k < 16; k++) maximum = m[k] > maximum ? m[k] : maximum;
        }
        for (long j = full; j < count; j++) maximum = p[j] > maximum ? p[j] : maximum;
        v16f sums = splat(0.0f);
        for (long j = 0; j < full; j += 16) {
            v16f e = vexp(load(p + j) - splat(maximum));
            store(p + j, e);
            sums += e;
        }
        float sum = 0;
        for (int k = 0; k < 16; k++) sum += sums[k];
        if (full < count) {
            float tail[16];
            for (int k = 0; k < 16; k++) tail[k] = 0.0f;  // lanes past `count` are computed but not used
            for (long j = full; j < count; j++) tail[j - full] = p[j] - maximum;
            v16f e = vexp(load(tail));
            for (long j = full; j < count; j++) {
                p[j] = e[j - full];
                sum += e[j - full];
            }
        }
        v16f inverse = splat(1.0f / sum);
        for (long j = 0; j < full; j += 16) store(p + j, load(p + j) * inverse);
        for (long j = full; j < count; j++) p[j] *= 1.0f / sum;
    }
}

#if defined(__x86_64__) && defined(__clang__)
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define AVX2 __attribute__((target("avx2,fma")))
static AVX512 void gelu_avx512(float *x, long count) { gelu_body(x, count); }
static AVX2 void gelu_avx2(float *x, long count) { gelu_body(x, count); }
static AVX512 void softmax_avx512(float *s, long rows, long count, long ld) { softmax_body(s, rows, count, ld); }
static AVX2 void softmax_avx2(float *s, long rows, long count, long ld) { softmax_body(s, rows, count, ld); }
#endif
static void gelu_base(float *x, long count) { gelu_body(x, count); }
static void softmax_base(float *s, long rows, long count, long ld) { softmax_body(s, rows, count, ld); }

/// 2: AVX-512, 1: AVX2 and FMA, 0: baseline; -1 until first use. Threads racing on first use store the same value.
static int level_cache = -1;

static int cpu_level(void) {
    int level = __atomic_load_n(&level_cache, __ATOMIC_RELAXED);
    if (level < 0) {
#if defined(__x86_64__) && defined(__clang__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
            level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            level = 1;
        else
            level = 0;
#else
        level = 0;
#endif
        __atomic_store_n(&level_cache, level, __ATOMIC_RELAXED);
    }
    return level;
}

void recml_gelu(float *x, long count) {
#if defined(__x86_64__) && defined(__clang__)
    switch (cpu_level()) {
    case 2: gelu_avx512(x, count); return;
    case 1: gelu_avx2(x, count); return;
    }
#endif
    gelu_base(x, count);
}

void recml_softmax_rows(float *s, long rows, long count, long ld) {
#if defined(__x86_64__) && defined(__clang__)
    switch (cpu_level()) {
    case 2: softmax_avx512(s, rows, count, ld); return;
    case 1: softmax_avx2(s, rows, count, ld); return;
    }
#endif
    softmax_base(s, rows, count, ld);
}
