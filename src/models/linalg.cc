#include "models/linalg.h"

#include <lapacke.h>

#include <algorithm>
#include <cstring>

#include "common/thread_pool.h"
#include "marquee/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace marquee {

void SetBlasThreads(int threads) { openblas_set_num_threads(std::max(threads, 1)); }

template <typename T>
void SparseGram(const CsrMatrix& x, const CsrMatrix& xt, std::span<const int32_t> col_map,
                uint32_t n, T* out, int threads) {
  // Output row r belongs to item i (col_map[i] == r). Each row is written by one thread, so
  // there is no contention; the cost is Σ_u |I_u|² scattered adds into a row that fits cache.
  std::vector<uint32_t> item_of_row(n);
  for (uint32_t i = 0; i < xt.rows; ++i) {
    if (col_map[i] >= 0) item_of_row[static_cast<uint32_t>(col_map[i])] = i;
  }
  ParallelForDynamic(n, threads, 16, [&](size_t r, int) {
    T* row = out + r * n;
    std::fill(row, row + n, T(0));
    const uint32_t i = item_of_row[r];
    for (uint64_t p = xt.indptr[i]; p < xt.indptr[i + 1]; ++p) {
      const uint32_t u = xt.indices[p];
      const T w = static_cast<T>(xt.values[p]);
      for (uint64_t q = x.indptr[u]; q < x.indptr[u + 1]; ++q) {
        const int32_t c = col_map[x.indices[q]];
        if (c >= 0) row[c] += w * static_cast<T>(x.values[q]);
      }
    }
  });
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
  // potri fills the lower triangle (row-major); mirror it into the upper one, in parallel
  // over row blocks (each thread writes whole rows of the upper part).
  ParallelForDynamic(n, threads, 64, [&](size_t i, int) {
    for (size_t j = i + 1; j < n; ++j) a[i * n + j] = a[j * n + i];
  });
}

template void SparseGram<float>(const CsrMatrix&, const CsrMatrix&, std::span<const int32_t>,
                                uint32_t, float*, int);
template void SparseGram<double>(const CsrMatrix&, const CsrMatrix&, std::span<const int32_t>,
                                 uint32_t, double*, int);
template void InvertSpdInPlace<float>(float*, uint32_t, int);
template void InvertSpdInPlace<double>(double*, uint32_t, int);

}  // namespace marquee
