// Elementwise kernels of RecML's MiniLM encoder, in C so that they can use AVX2/FMA or AVX-512 where the CPU has it
// (Swift's SIMD types compile for the baseline x86-64 target). Chosen once per process from the CPU's features.
#ifndef RECML_MINILM_H
#define RECML_MINILM_H

/// GELU in place, 0.5·x·(1 + erf(x/√2)), erf from Abramowitz–Stegun 7.1.26 (absolute error below 1.5e-7).
/// `count` must be a multiple of 16.
void recml_gelu(float *x, long count);

/// Softmax of each of `rows` rows of `count` values in place; row stride `ld`.
void recml_softmax_rows(float *s, long rows, long count, long ld);

#endif
