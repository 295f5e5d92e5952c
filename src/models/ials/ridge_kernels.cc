// Portable ridge-solve kernels (the definition of ridge_kernels.h's operation order, written as
// plain loops), Init, and the runtime choice between these and the AVX-512 ones. Compiled with
// -ffp-contract=off (src/CMakeLists.txt): a·b + c stays a multiply and an add, as in the AVX-512
// kernels, whatever -march the build uses. The compiler may vectorise the loops below: every
// element is its own chain, so vectorising across elements leaves each result unchanged.
#include "models/ials/ridge_kernels.h"

#include <algorithm>
#include <cmath>

#include "models/simd_choice.h"

namespace marquee::ridge {

size_t PaddedWidth(int k) { return (static_cast<size_t>(k) + 7) / 8 * 8; }

size_t AccumulateTileRows(int k) {
  constexpr size_t kTileBytes = 32 * 1024;  // of a 48 KiB L1d: h and u of the tile
  return std::max<size_t>(1, kTileBytes / (2 * sizeof(double) * PaddedWidth(k)));
}

size_t AccumulateScratch(int k) { return 2 * AccumulateTileRows(k) * PaddedWidth(k); }

void Init(const double* g, double a0, double reg, int k, double* a) {
  const size_t n = static_cast<size_t>(k);
  for (size_t j = 0; j < n; ++j) {
    for (size_t i = j; i < n; ++i) a[j * n + i] = a0 * g[j * n + i];
    a[j * n + j] += reg;
  }
}

namespace {

void PortableAccumulate(const float* const* rows, const double* c, const double* ct, size_t count,
                        int k, double* a, double* b, double* work) {
  const size_t n = static_cast<size_t>(k), kp = PaddedWidth(k);
  const size_t tile = AccumulateTileRows(k);
  double* hd = work;
  double* u = work + tile * kp;
  for (size_t first = 0; first < count; first += tile) {
    const size_t m = std::min(tile, count - first);
    for (size_t t = 0; t < m; ++t) {
      const float* h = rows[first + t];
      double* ht = hd + t * kp;
      double* ut = u + t * kp;
      for (size_t i = 0; i < n; ++i) {
        ht[i] = static_cast<double>(h[i]);
        ut[i] = c[first + t] * ht[i];
        b[i] += ct[first + t] * ht[i];
      }
    }
    for (size_t j = 0; j < n; ++j) {
      double* col = a + j * n;
      for (size_t t = 0; t < m; ++t) {
        const double uj = u[t * kp + j];
        const double* ht = hd + t * kp;
        for (size_t i = j; i < n; ++i) col[i] += uj * ht[i];
      }
    }
  }
}

bool PortableFactor(double* a, int k) {
  const size_t n = static_cast<size_t>(k);
  for (size_t j = 0; j < n; ++j) {
    double* x = a + j * n;
    for (size_t p = 0; p < j; ++p) {
      const double s = a[p * n + j];
      const double* lp = a + p * n;
      for (size_t i = j; i < n; ++i) x[i] -= s * lp[i];
    }
    const double d = x[j];
    if (!(d > 0.0)) return false;
    const double r = std::sqrt(d);
    x[j] = r;
    const double inv = 1.0 / r;
    for (size_t i = j + 1; i < n; ++i) x[i] *= inv;
  }
  return true;
}

void PortableSolve(const double* l, int k, double* b) {
  const size_t n = static_cast<size_t>(k);
  for (size_t j = 0; j < n; ++j) {
    const double* col = l + j * n;
    const double y = b[j] / col[j];
    b[j] = y;
    for (size_t i = j + 1; i < n; ++i) b[i] -= col[i] * y;
  }
  for (size_t i = n; i-- > 0;) {
    const double* col = l + i * n;
    // Σ_{f > i} L(f, i)·x(f), f descending, in the partial sum of lane f mod 8, then the tree.
    double lanes[8] = {};
    for (size_t f = n; f-- > i + 1;) lanes[f % 8] += col[f] * b[f];
    for (size_t w = 4; w > 0; w /= 2) {
      for (size_t q = 0; q < w; ++q) lanes[q] += lanes[q + w];
    }
    b[i] = (b[i] - lanes[0]) / col[i];
  }
}

const Kernels kPortable{"portable", PortableAccumulate, PortableFactor, PortableSolve};

}  // namespace

// Defined in ridge_kernels_avx512.cc when the compiler can target AVX-512 (MARQUEE_RIDGE_AVX512).
#if defined(MARQUEE_RIDGE_AVX512)
const Kernels& Avx512KernelTable();
#endif

const Kernels& PortableKernels() { return kPortable; }

const Kernels* Avx512Kernels() {
#if defined(MARQUEE_RIDGE_AVX512)
  return CpuHasAvx512f() ? &Avx512KernelTable() : nullptr;
#else
  return nullptr;
#endif
}

const Kernels& ActiveKernels() { return ActiveOf(kPortable, Avx512Kernels); }

}  // namespace marquee::ridge
