// OpenBLAS's CBLAS interface (cblas_sgemm, cblas_ssyrk) and its thread control (openblas_set_num_threads).
#include <cblas.h>
#include <stddef.h>

// The LAPACK routines RecDB calls, from OpenBLAS's bundled LAPACK (Debian ships no lapack.h beside cblas.h).
// Column-major, Fortran calling convention; the trailing length is gfortran's hidden length of `uplo`.

/// Cholesky factorisation of a symmetric positive definite matrix: `uplo` 'U' or 'L'; `info` > 0 when not
/// positive definite.
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t uplo_length);
/// The inverse of a symmetric positive definite matrix from its Cholesky factor (spotrf_), in the same triangle.
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t uplo_length);
