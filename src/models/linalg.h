// Dense linear algebra shared by the families and the benchmarks: the sparse Gram matrix XᵀX
// and the inverse of a symmetric positive-definite matrix through LAPACK's Cholesky
// (potrf + potri, OpenBLAS-threaded).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "marquee/sparse.h"

namespace marquee {

// Sets OpenBLAS's thread count (the BLAS/LAPACK calls below run on that many threads).
void SetBlasThreads(int threads);

// out (n x n, row-major, overwritten) = XᵀX of X (users x items) restricted to the columns
// with col_map[c] >= 0, renumbered to col_map[c] < n; col_map must be increasing on the kept
// columns. Parallel over output rows with `threads` threads; deterministic.
template <typename T>
void SparseGram(const CsrMatrix& x, std::span<const int32_t> col_map, uint32_t n, T* out,
                int threads);

// Replaces the symmetric positive-definite n x n matrix `a` by its inverse (both triangles).
// Throws kFailedPrecondition if `a` is not positive definite.
template <typename T>
void InvertSpdInPlace(T* a, uint32_t n, int threads);

}  // namespace marquee
