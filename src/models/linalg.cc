#include "models/linalg.h"

#include <lapacke.h>

#include <algorithm>
#include <cstring>

#include "common/thread_pool.h"
#include "marquee/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace marquee {

void SetBlasThreads(int threads) { openblas_set_num_threads(std::max(threads, 1)); }

// Makes the row-major n x n matrix `a` symmetric by copying one triangle onto the other
// (upper -> lower when `from_upper`), in 64 x 64 tiles so reads and writes stay in cache.
template <typename T>
void MirrorTriangle(T* a, uint32_t n, bool from_upper, int threads) {
  constexpr size_t kTile = 64;
  const size_t tiles = (n + kTile - 1) / kTile;
  ParallelForDynamic(tiles, threads, 1, [&](size_t bi, int) {
    // Tile row bi of the lower triangle: (i, j) with j < i.
    const size_t i0 = bi * kTile, i1 = std::min<size_t>(n, i0 + kTile);
    for (size_t j0 = 0; j0 <= i0; j0 += kTile) {
      const size_t j1 = std::min<size_t>(n, j0 + kTile);
      for (size_t i = i0; i < i1; ++i) {
        for (size_t j = j0; j < std::min(j1, i); ++j) {
          if (from_upper) {
            a[i * n + j] = a[j * n + i];
          } else {
            a[j * n + i] = a[i * n + j];
          }
        }
      }
    }
  });
}

template <typename T>
void SparseGram(const CsrMatrix& x, std::span<const int32_t> col_map, uint32_t n, T* out,
                int threads) {
  // Renumber X's columns to the kept ones once (kept columns are numbered in increasing order,
  // so each row stays sorted), remembering for every stored entry where it sits in its row.
  // Then output row r (item r) only accumulates columns >= r: for each user u of item r, the
  // entries of u's row from r's own position on. That is the upper triangle, half of the
  // Σ_u |I_u|² scattered adds, with no lookup in the inner loop; the lower triangle is mirrored.
  CsrMatrix xk;
  xk.rows = x.rows;
  xk.cols = n;
  xk.indptr.assign(static_cast<size_t>(x.rows) + 1, 0);
  xk.indices.reserve(x.nnz());
  xk.values.reserve(x.nnz());
  for (uint32_t u = 0; u < x.rows; ++u) {
    for (uint64_t p = x.indptr[u]; p < x.indptr[u + 1]; ++p) {
      const int32_t c = col_map[x.indices[p]];
      if (c < 0) continue;
      xk.indices.push_back(static_cast<uint32_t>(c));
      xk.values.push_back(x.values[p]);
    }
    xk.indptr[u + 1] = xk.indices.size();
  }
  // Column-major view: for item r, the positions (into xk.indices) of its entries.
  std::vector<uint64_t> col_ptr(static_cast<size_t>(n) + 1, 0);
  for (uint32_t c : xk.indices) ++col_ptr[c + 1];
  for (uint32_t c = 0; c < n; ++c) col_ptr[c + 1] += col_ptr[c];
  std::vector<uint64_t> pos(xk.nnz());
  std::vector<uint32_t> row_of(xk.nnz());
  {
    std::vector<uint64_t> fill(col_ptr.begin(), col_ptr.end() - 1);
    for (uint32_t u = 0; u < xk.rows; ++u) {
      for (uint64_t p = xk.indptr[u]; p < xk.indptr[u + 1]; ++p) {
        const uint64_t q = fill[xk.indices[p]]++;
        pos[q] = p;
        row_of[q] = u;
      }
    }
  }
  ParallelForDynamic(n, threads, 16, [&](size_t r, int) {
    T* row = out + r * n;
    std::fill(row, row + n, T(0));
    for (uint64_t q = col_ptr[r]; q < col_ptr[r + 1]; ++q) {
      const uint64_t p0 = pos[q];
      const uint64_t end = xk.indptr[row_of[q] + 1];
      const T w = static_cast<T>(xk.values[p0]);
      for (uint64_t p = p0; p < end; ++p) row[xk.indices[p]] += w * static_cast<T>(xk.values[p]);
    }
  });
  MirrorTriangle(out, n, /*from_upper=*/true, threads);
}

namespace {
lapack_int Potrf(float* a, lapack_int n) { return LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'L', n, a, n); }
lapack_int Potrf(double* a, lapack_int n) { return LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, a, n); }
lapack_int Potri(float* a, lapack_int n) { return LAPACKE_spotri(LAPACK_ROW_MAJOR, 'L', n, a, n); }
lapack_int Potri(double* a, lapack_int n) { return LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, a, n); }
}  // namespace

template <typename T>
void InvertSpdInPlace(T* a, uint32_t n, int threads) {
  if (n == 0) return;
  SetBlasThreads(threads);
  const auto ln = static_cast<lapack_int>(n);
  lapack_int info = Potrf(a, ln);
  if (info > 0) {
    Fail(ErrorCode::kFailedPrecondition,
         "matrix is not positive definite (leading minor {} of {}); increase the regularisation",
         info, n);
  }
  if (info < 0) Fail(ErrorCode::kInternal, "potrf rejected argument {}", -info);
  info = Potri(a, ln);
  if (info != 0)
    Fail(ErrorCode::kFailedPrecondition, "matrix inverse failed (potri info {})", info);
  // potri fills the lower triangle (row-major); mirror it into the upper one.
  MirrorTriangle(a, n, /*from_upper=*/false, threads);
}

template void SparseGram<float>(const CsrMatrix&, std::span<const int32_t>, uint32_t, float*,
                                int);
template void SparseGram<double>(const CsrMatrix&, std::span<const int32_t>, uint32_t, double*,
                                 int);
template void InvertSpdInPlace<float>(float*, uint32_t, int);
template void InvertSpdInPlace<double>(double*, uint32_t, int);

}  // namespace marquee
