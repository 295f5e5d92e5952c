// Portable CG kernels, the runtime choice between them and the AVX-512 ones, and the CG
// recurrence itself. Compiled with -ffp-contract=off (src/CMakeLists.txt): a·b + c stays a
// multiply and an add, as in the AVX-512 kernels, whatever -march the build uses.
#include "models/ials/cg_kernels.h"

#include "models/simd_choice.h"

namespace marquee::cg {

float DotFixed(const float* a, const float* b, int k) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  const int first = k < kLanes ? k : kLanes;
  for (int l = 0; l < first; ++l) lanes[l] = a[l] * b[l];
  int f = first;
  for (; f + kLanes <= k; f += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[f + l] * b[f + l];
  }
  for (int l = 0; f < k; ++f, ++l) lanes[l] += a[f] * b[f];
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  }
  return lanes[0];
}

namespace {

void PortableGram(const float* a0g, const float* v, float lam, int k, float* acc) {
  const auto row = [&](int g) { return a0g + static_cast<size_t>(g) * static_cast<size_t>(k); };
  for (int f = 0; f < k; ++f) acc[f] = 0.0f;
  int g = 0;
  for (; g + 4 <= k; g += 4) {
    const float *g0 = row(g), *g1 = row(g + 1), *g2 = row(g + 2), *g3 = row(g + 3);
    for (int f = 0; f < k; ++f) {
      acc[f] += (v[g] * g0[f] + v[g + 1] * g1[f]) + (v[g + 2] * g2[f] + v[g + 3] * g3[f]);
    }
  }
  for (; g < k; ++g) {
    for (int f = 0; f < k; ++f) acc[f] += v[g] * row(g)[f];
  }
  for (int f = 0; f < k; ++f) acc[f] += lam * v[f];
}

void PortableRows(const float* const* rows, const float* conf, size_t n, int k, const float* v,
                  bool residual, float* acc) {
  const auto scale = [&](size_t i) {
    const float q = DotFixed(rows[i], v, k);
    return residual ? conf[i] * (1.0f - q) : conf[i] * q;
  };
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float s0 = scale(i), s1 = scale(i + 1), s2 = scale(i + 2), s3 = scale(i + 3);
    const float *h0 = rows[i], *h1 = rows[i + 1], *h2 = rows[i + 2], *h3 = rows[i + 3];
    for (int f = 0; f < k; ++f) acc[f] += (s0 * h0[f] + s1 * h1[f]) + (s2 * h2[f] + s3 * h3[f]);
  }
  for (; i < n; ++i) {
    const float s0 = scale(i);
    for (int f = 0; f < k; ++f) acc[f] += s0 * rows[i][f];
  }
}

const Kernels kPortable{"portable", PortableGram, PortableRows};

}  // namespace

// Defined in cg_kernels_avx512.cc when the compiler can target AVX-512 (MARQUEE_CG_AVX512).
#if defined(MARQUEE_CG_AVX512)
const Kernels& Avx512KernelTable();
#endif

const Kernels& PortableKernels() { return kPortable; }

const Kernels* Avx512Kernels() {
#if defined(MARQUEE_CG_AVX512)
  return CpuHasAvx512f() ? &Avx512KernelTable() : nullptr;
#else
  return nullptr;
#endif
}

const Kernels& ActiveKernels() { return ActiveOf(kPortable, Avx512Kernels); }

void SolveRow(const Kernels& kern, const float* const* rows, const float* conf, size_t n, int k,
              const float* a0g, float lam, int steps, float* w, float* scratch) {
  float* r = scratch;
  float* p = r + k;
  float* ap = p + k;
  // r = b − A·w = Σ c (1 − hᵀw) h − (a0g·w + λ·w).
  kern.gram(a0g, w, lam, k, r);
  for (int f = 0; f < k; ++f) r[f] = -r[f];
  kern.rows(rows, conf, n, k, w, /*residual=*/true, r);
  std::memcpy(p, r, static_cast<size_t>(k) * sizeof(float));
  double rs = DotFixed(r, r, k);
  for (int step = 0; step < steps; ++step) {
    if (rs <= 1e-20) break;
    kern.gram(a0g, p, lam, k, ap);
    kern.rows(rows, conf, n, k, p, /*residual=*/false, ap);
    const double pap = DotFixed(p, ap, k);
    if (!(pap > 0.0)) break;
    const auto alpha = static_cast<float>(rs / pap);
    for (int f = 0; f < k; ++f) {
      w[f] += alpha * p[f];
      r[f] -= alpha * ap[f];
    }
    const double rs_new = DotFixed(r, r, k);
    const auto beta = static_cast<float>(rs_new / rs);
    for (int f = 0; f < k; ++f) p[f] = r[f] + beta * p[f];
    rs = rs_new;
  }
}

}  // namespace marquee::cg
