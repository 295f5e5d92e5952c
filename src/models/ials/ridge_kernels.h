// The exact (Cholesky) ridge solve of iALS's user step and of the iALS / BPR fold-in, as kernels
// with a portable and an AVX-512 implementation chosen at runtime (RidgeSolve in
// models/ials/factor_math.h uses them). Both perform the same float64 operations in the same
// order (no fused multiply-add: both TUs are compiled with -ffp-contract=off), so a solution is
// bit for bit the same on either path, whatever -march the build used and for any thread count
// (tests/models/ridge_kernels_test.cc checks the two paths against each other).
//
// The system A·w = b of one row, in double, with A column-major (element (i, j) at a[j·k + i]);
// only the lower triangle (i ≥ j) is read or meaningful, the upper one is scratch:
//
//   A = a0·G + reg·I + Σ_n c_n h_n h_nᵀ,   b = Σ_n ct_n h_n     (h_n: float rows, ct_n = c_n·t_n)
//
// Every element is a chain of operations in a fixed order, whatever the blocking:
//   - Init:       A(i, j) = a0·G(i, j), then A(i, i) += reg;
//   - accumulate: for n = 0, 1, ...: A(i, j) += u_n(j)·h_n(i) with u_n(j) = c_n·h_n(j), and
//                 b(i) += ct_n·h_n(i) (h_n converted to double, exactly);
//   - factor:     left-looking Cholesky; for column j: A(i, j) −= L(j, p)·L(i, p) for
//                 p = 0, 1, ..., j − 1 in order, then d = √A(j, j) (fails unless A(j, j) > 0),
//                 L(j, j) = d and L(i, j) = A(i, j)·(1/d) below it;
//   - solve:      forward L·y = b column by column (y(j) = b(j) / L(j, j), then
//                 b(i) −= L(i, j)·y(j) for i > j, j in order), then backward Lᵀ·x = y with
//                 x(i) = (y(i) − s_i) / L(i, i), s_i = Σ_{f > i} L(f, i)·x(f) in 8 interleaved
//                 partial sums (lane f mod 8, starting at 0, f descending) reduced by the fixed
//                 tree lanes[l] += lanes[l + w], w = 4, 2, 1 (DotFixedOrder's shape for doubles).
// An element's chain does not depend on how the loops around it are tiled, so the AVX-512
// kernels can hold register tiles (four columns of A against 32 rows, a tile of history rows in
// L1 while the triangle is updated; eight rows of a triangular solve at once) and still equal the
// plain loops of the portable ones.
#pragma once

#include <cstddef>
#include <cstdint>

namespace marquee::ridge {

struct Kernels {
  const char* name;  // "avx512" or "portable"
  // a += Σ_n c[n]·rows[n]·rows[n]ᵀ (lower triangle) and b += Σ_n ct[n]·rows[n], n < count;
  // `work` holds AccumulateScratch(k) doubles.
  void (*accumulate)(const float* const* rows, const double* c, const double* ct, size_t count,
                     int k, double* a, double* b, double* work);
  // In-place Cholesky factor A = L·Lᵀ (L in the lower triangle). False, with `a` partly
  // overwritten, at the first pivot that is not > 0 (A not positive definite, or NaN).
  bool (*factor)(double* a, int k);
  // b ← A⁻¹·b given the factor L that `factor` left in `l`.
  void (*solve)(const double* l, int k, double* b);
};

// The portable kernels (the definition the AVX-512 ones must equal bit for bit).
const Kernels& PortableKernels();
// The AVX-512 kernels, or nullptr where the build or the CPU lacks AVX-512F.
const Kernels* Avx512Kernels();
// What RidgeSolve uses: AVX-512 where the CPU has it, unless the environment sets
// MARQUEE_SIMD=portable (read once; for benchmarks and checks).
const Kernels& ActiveKernels();

// accumulate walks the history in tiles of AccumulateTileRows(k) rows, each converted to double
// twice (h_n and u_n = c_n·h_n, rows padded to PaddedWidth(k) doubles) so that the tile (32 KiB)
// stays in L1 while every column of the triangle is updated from it; AccumulateScratch(k)
// doubles of `work` hold them.
size_t PaddedWidth(int k);
size_t AccumulateTileRows(int k);
size_t AccumulateScratch(int k);

// The lower triangle of a = a0·g + reg·I (g column-major k x k, symmetric). Shared by both paths.
void Init(const double* g, double a0, double reg, int k, double* a);

}  // namespace marquee::ridge
