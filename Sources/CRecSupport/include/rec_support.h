#ifndef RECDB_REC_SUPPORT_H
#define RECDB_REC_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* What Swift cannot say itself: a cache prefetch hint. Inline, so it costs one instruction in Swift callers. */
static inline __attribute__((always_inline)) void recdb_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/* 1 when this CPU runs the AVX2 + FMA kernels below (checked once at load time), else 0. */
int recdb_has_avx2_fma(void);

/* Inner product and squared Euclidean distance of two float32 vectors of length n, with AVX2 + FMA.
   Call only when recdb_has_avx2_fma() returns 1. */
float recdb_dot_avx2(const float *a, const float *b, size_t n);
float recdb_l2sq_avx2(const float *a, const float *b, size_t n);

/* Distances to int8 scalar codes (a vector x stored as c with x[i] ~ mid[i] + scale[i] * c[i]), the query
   prepared per search: the weighted sum of codes, sum w[i] * c[i] (inner product: w = q * scale), and the weighted
   squared distance, sum w[i] * (t[i] - c[i])^2 (L2: t = (q - mid) / scale, w = scale^2). The _avx2 forms need
   recdb_has_avx2_fma() == 1; the plain forms run anywhere. */
float recdb_dot_i8_avx2(const float *w, const int8_t *c, size_t n);
float recdb_l2_i8_avx2(const float *t, const float *w, const int8_t *c, size_t n);
float recdb_dot_i8(const float *w, const int8_t *c, size_t n);
float recdb_l2_i8(const float *t, const float *w, const int8_t *c, size_t n);

/* 1 when this CPU also converts half floats in hardware (F16C) beside AVX2 + FMA (checked once), else 0. */
int recdb_has_f16c(void);

/* Distances to float16 codes (IEEE binary16 bit patterns, one per dimension) from a float32 query q: the inner
   product, sum q[i] * h[i], and the squared Euclidean distance, sum (q[i] - h[i])^2. The _f16c forms need
   recdb_has_f16c() == 1; the plain forms (bit-exact conversion in C) run anywhere. */
float recdb_dot_f16_f16c(const float *q, const uint16_t *h, size_t n);
float recdb_l2_f16_f16c(const float *q, const uint16_t *h, size_t n);
float recdb_dot_f16(const float *q, const uint16_t *h, size_t n);
float recdb_l2_f16(const float *q, const uint16_t *h, size_t n);
/* The float32 value of one binary16 bit pattern (portable; exact for every pattern, NaN payloads aside). */
float recdb_f16_to_f32(uint16_t h);

/* A per-thread note that LMDB answered MDB_MAP_FULL. Set where the status is first seen and taken by the write
   loop, so a full map is noticed and grown even when an error wrapper between the two hides the status. */
void recdb_note_map_full(void);
/* Returns 1 when the note was set since the last call (and clears it), else 0. */
int recdb_take_map_full(void);
/* Returns 1 when the note is set, without clearing it (a savepoint lets a full map through to the write loop). */
int recdb_map_full_noted(void);

/* Memory maps of data files, so that a bus error (SIGBUS: a page of the map is gone because the file was truncated
   while open) can name the file. Registration is thread-safe; at most 64 maps are named at a time. */
void recdb_fault_register_map(const void *start, size_t length, const char *path);
void recdb_fault_unregister_map(const void *start);
/* Installs a SIGBUS handler that writes which registered file changed size under the process to standard error and
   ends the process with _exit(1). Returns 0, or -1 with errno set when sigaction fails. */
int recdb_fault_install_bus_handler(void);

/* The request a thread is running (an unretained object pointer), so that deep loops can check its deadline and
   cancellation without it being passed through every call. */
void *recdb_current_request(void);
void recdb_set_current_request(void *request);

#endif
