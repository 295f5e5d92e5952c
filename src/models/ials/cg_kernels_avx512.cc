// AVX-512 CG kernels (see cg_kernels.h), selected at runtime by ActiveKernels(). This TU alone is
// compiled with -mavx512f -ffp-contract=off (src/CMakeLists.txt), so it includes nothing whose
// inline functions a portable TU could share: only <immintrin.h> and headers that declare
// functions or define them `static`. Every result equals the portable kernels' bit for bit: the
// same multiplies and adds in the same order, with the 16 dot products of a tile reduced by
// ReduceSixteen, which pairs exactly the lanes of DotFixed's tree.
#include "models/ials/cg_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include "models/simd_reduce.h"

namespace marquee::cg {
namespace {

// Lanes of vector j (of 16 floats) that lie inside k floats.
inline __mmask16 LaneMask(int k, int j) {
  const int left = k - 16 * j;
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

// Row j of V vectors of p (the last one masked to k).
template <int V>
inline __m512 Load(const float* p, int j, __mmask16 tail) {
  return j == V - 1 ? _mm512_maskz_loadu_ps(tail, p + 16 * j) : _mm512_loadu_ps(p + 16 * j);
}

template <int V>
void Gram(const float* a0g, const float* v, float lam, int k, float* acc) {
  const auto row = [&](int g) { return a0g + static_cast<size_t>(g) * static_cast<size_t>(k); };
  const __mmask16 tail = LaneMask(k, V - 1);
  __m512 a[V];
  for (int j = 0; j < V; ++j) a[j] = _mm512_setzero_ps();
  int g = 0;
  for (; g + 4 <= k; g += 4) {
    const __m512 v0 = _mm512_set1_ps(v[g]), v1 = _mm512_set1_ps(v[g + 1]);
    const __m512 v2 = _mm512_set1_ps(v[g + 2]), v3 = _mm512_set1_ps(v[g + 3]);
    for (int j = 0; j < V; ++j) {
      const __m512 x01 = _mm512_add_ps(_mm512_mul_ps(v0, Load<V>(row(g), j, tail)),
                                       _mm512_mul_ps(v1, Load<V>(row(g + 1), j, tail)));
      const __m512 x23 = _mm512_add_ps(_mm512_mul_ps(v2, Load<V>(row(g + 2), j, tail)),
                                       _mm512_mul_ps(v3, Load<V>(row(g + 3), j, tail)));
      a[j] = _mm512_add_ps(a[j], _mm512_add_ps(x01, x23));
    }
  }
  for (; g < k; ++g) {
    const __m512 vg = _mm512_set1_ps(v[g]);
    for (int j = 0; j < V; ++j) {
      a[j] = _mm512_add_ps(a[j], _mm512_mul_ps(vg, Load<V>(row(g), j, tail)));
    }
  }
  const __m512 l = _mm512_set1_ps(lam);
  for (int j = 0; j < V; ++j) {
    const __mmask16 m = LaneMask(k, j);
    a[j] = _mm512_add_ps(a[j], _mm512_mul_ps(l, _mm512_maskz_loadu_ps(m, v + 16 * j)));
    _mm512_mask_storeu_ps(acc + 16 * j, m, a[j]);
  }
}

template <int V>
void Rows(const float* const* rows, const float* conf, size_t n, int k, const float* v,
          bool residual, float* acc) {
  // v padded with zeros to V vectors, so the dot products load it unmasked.
  alignas(64) float vpad[16 * V];
  __m512 a[V];
  for (int j = 0; j < V; ++j) {
    const __mmask16 m = LaneMask(k, j);
    _mm512_store_ps(vpad + 16 * j, _mm512_maskz_loadu_ps(m, v + 16 * j));
    a[j] = _mm512_maskz_loadu_ps(m, acc + 16 * j);
  }
  const __mmask16 tail = LaneMask(k, V - 1);
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 vv[V];
  for (int j = 0; j < V; ++j) vv[j] = _mm512_load_ps(vpad + 16 * j);
  // Tiles of 16 rows (the last one shorter): 16 dot products at once, then the scaled rows
  // added while they are in L1.
  for (size_t i = 0; i < n; i += 16) {
    const float* const* tile = rows + i;
    const int m = n - i < 16 ? static_cast<int>(n - i) : 16;
    const int next = n - i <= 16 ? 0 : (n - i - 16 < 16 ? static_cast<int>(n - i - 16) : 16);
    for (int t = 0; t < next; ++t) {  // the next tile's rows, which may lie anywhere
      for (int j = 0; j < V; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(tile[16 + t] + 16 * j), _MM_HINT_T0);
      }
    }
    // A short last tile repeats its first row: the loop below stays unrolled (d in registers),
    // and the extra dot products are not used.
    const float* r[16];
    for (int t = 0; t < 16; ++t) r[t] = tile[t < m ? t : 0];
    __m512 d[16];
    for (int t = 0; t < 16; ++t) {  // row by row: each row pointer is loaded once
      d[t] = _mm512_mul_ps(Load<V>(r[t], 0, tail), vv[0]);
      for (int j = 1; j < V - 1; ++j) {
        d[t] = _mm512_add_ps(d[t], _mm512_mul_ps(_mm512_loadu_ps(r[t] + 16 * j), vv[j]));
      }
      if (V > 1) {  // lanes past k keep their partial sum untouched, as in DotFixed
        d[t] = _mm512_mask_add_ps(d[t], tail, d[t],
                                  _mm512_mul_ps(Load<V>(r[t], V - 1, tail), vv[V - 1]));
      }
    }
    const __m512 q = ReduceSixteen(d);
    const __m512 c = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << m) - 1), conf + i);
    const __m512 s = residual ? _mm512_mul_ps(c, _mm512_sub_ps(one, q)) : _mm512_mul_ps(c, q);
    alignas(64) float sv[16];
    _mm512_store_ps(sv, s);
    int t = 0;
    for (; t + 4 <= m; t += 4) {
      const __m512 s0 = _mm512_set1_ps(sv[t]), s1 = _mm512_set1_ps(sv[t + 1]);
      const __m512 s2 = _mm512_set1_ps(sv[t + 2]), s3 = _mm512_set1_ps(sv[t + 3]);
      for (int j = 0; j < V; ++j) {
        const __m512 x01 = _mm512_add_ps(_mm512_mul_ps(s0, Load<V>(r[t], j, tail)),
                                         _mm512_mul_ps(s1, Load<V>(r[t + 1], j, tail)));
        const __m512 x23 = _mm512_add_ps(_mm512_mul_ps(s2, Load<V>(r[t + 2], j, tail)),
                                         _mm512_mul_ps(s3, Load<V>(r[t + 3], j, tail)));
        a[j] = _mm512_add_ps(a[j], _mm512_add_ps(x01, x23));
      }
    }
    for (; t < m; ++t) {
      const __m512 st = _mm512_set1_ps(sv[t]);
      for (int j = 0; j < V; ++j) {
        a[j] = _mm512_add_ps(a[j], _mm512_mul_ps(st, Load<V>(r[t], j, tail)));
      }
    }
  }
  for (int j = 0; j < V; ++j) _mm512_mask_storeu_ps(acc + 16 * j, LaneMask(k, j), a[j]);
}

template <int V>
struct Width {
  static constexpr int value = V;
};

// Calls fn(Width<V>{}) with V = ⌈k/16⌉ vectors: k ≤ 128 factors are held in registers. Returns
// false for wider rows, which use the portable code.
template <typename Fn>
bool WithWidth(int k, Fn&& fn) {
  switch ((k + 15) / 16) {
    case 1:
      fn(Width<1>{});
      return true;
    case 2:
      fn(Width<2>{});
      return true;
    case 3:
      fn(Width<3>{});
      return true;
    case 4:
      fn(Width<4>{});
      return true;
    case 5:
      fn(Width<5>{});
      return true;
    case 6:
      fn(Width<6>{});
      return true;
    case 7:
      fn(Width<7>{});
      return true;
    case 8:
      fn(Width<8>{});
      return true;
    default:
      return false;
  }
}

void GramAny(const float* a0g, const float* v, float lam, int k, float* acc) {
  if (!WithWidth(k, [&](auto w) { Gram<decltype(w)::value>(a0g, v, lam, k, acc); })) {
    PortableKernels().gram(a0g, v, lam, k, acc);
  }
}

void RowsAny(const float* const* rows, const float* conf, size_t n, int k, const float* v,
             bool residual, float* acc) {
  if (!WithWidth(k,
                 [&](auto w) { Rows<decltype(w)::value>(rows, conf, n, k, v, residual, acc); })) {
    PortableKernels().rows(rows, conf, n, k, v, residual, acc);
  }
}

const Kernels kAvx512{"avx512", GramAny, RowsAny};

}  // namespace

const Kernels& Avx512KernelTable() { return kAvx512; }

}  // namespace marquee::cg
#endif  // __AVX512F__
