// AVX-512 ridge-solve kernels (see ridge_kernels.h), selected at runtime by ActiveKernels(). This
// TU alone is compiled with -mavx512f -ffp-contract=off (src/CMakeLists.txt), so it includes
// nothing whose inline functions a portable TU could share: only <immintrin.h>, <cmath> (sqrt is
// correctly rounded everywhere) and headers that declare functions. Every element of A, L, y and x
// goes through the same multiplies and adds in the same order as in the portable kernels: the
// register tiles below only change which elements are computed side by side.
#include "models/ials/ridge_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <cmath>

namespace marquee::ridge {
namespace {

// Lanes of an 8-double vector starting at row `i` that lie inside k rows.
inline __mmask8 RowMask(int k, int i) {
  const int left = k - i;
  return left >= 8
             ? static_cast<__mmask8>(0xFF)
             : (left <= 0 ? static_cast<__mmask8>(0) : static_cast<__mmask8>((1u << left) - 1));
}

// Calls fn(Const<C>{}, Const<V>{}) for a block of C ≤ 4 columns and V ≤ 4 row vectors, so that
// the register tiles below are fully unrolled.
template <int N>
struct Const {
  static constexpr int value = N;
};
template <int C, typename Fn>
void WithRows(int v, Fn&& fn) {
  switch (v) {
    case 1:
      return fn(Const<C>{}, Const<1>{});
    case 2:
      return fn(Const<C>{}, Const<2>{});
    case 3:
      return fn(Const<C>{}, Const<3>{});
    default:
      return fn(Const<C>{}, Const<4>{});
  }
}
template <typename Fn>
void WithTile(int c, int v, Fn&& fn) {
  switch (c) {
    case 1:
      return WithRows<1>(v, fn);
    case 2:
      return WithRows<2>(v, fn);
    case 3:
      return WithRows<3>(v, fn);
    default:
      return WithRows<4>(v, fn);
  }
}

// Columns j0..j0+C−1 of a, rows i0..i0+8V−1 (clipped to k): a(i, j) += u_t(j)·h_t(i) for the m
// rows t of the tile, in order. Rows above the diagonal are scratch (updated, never read).
// The register tile of columns j0..j0+C−1 of a (k x k, column-major), rows i0..i0+8V−1 clipped
// to k (rows above the diagonal are scratch: updated, never read):
//   a(i, j0 + c) ±= s_t(c)·x_t(i)  for t = 0 .. steps−1 in order (+ when !kSub),
// with x_t = x + t·stride (indexed by row) and s_t = s + t·stride (indexed by column offset c).
// The accumulation of A takes the history tile's rows (x = h_t, s = u_t(j0..)), the Cholesky
// update the finished columns p < j0 of L (x = L(·, p), s = L(j0.., p)). The loops over the tile
// are unrolled by pragma: unrolled only late (-O3's complete unrolling), the accumulators stayed
// an array on the stack, stored on every step, at half the speed.
template <int C, int V, bool kSub>
void UpdateTile(double* a, int k, int j0, int i0, const double* x, const double* s, size_t stride,
                size_t steps) {
  const size_t n = static_cast<size_t>(k);
  const auto at = [&](int c, int v) { return a + static_cast<size_t>(j0 + c) * n + i0 + 8 * v; };
  __mmask8 mk[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) mk[v] = RowMask(k, i0 + 8 * v);
  __m512d acc[C][V];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[c][v] = _mm512_maskz_loadu_pd(mk[v], at(c, v));
  }
  for (size_t t = 0; t < steps; ++t) {
    const double* xt = x + t * stride + i0;
    const double* st = s + t * stride + j0;
    __m512d xv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) xv[v] = _mm512_maskz_loadu_pd(mk[v], xt + 8 * v);
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      const __m512d sc = _mm512_set1_pd(st[c]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512d prod = _mm512_mul_pd(sc, xv[v]);
        acc[c][v] = kSub ? _mm512_sub_pd(acc[c][v], prod) : _mm512_add_pd(acc[c][v], prod);
      }
    }
  }
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_mask_storeu_pd(at(c, v), mk[v], acc[c][v]);
  }
}

// Every tile of the columns j0..j0+3 (clipped to k) from row j0 down: 32 rows at a time.
template <bool kSub>
void UpdateColumns(double* a, int k, int j0, const double* x, const double* s, size_t stride,
                   size_t steps) {
  const int cols = k - j0 < 4 ? k - j0 : 4;
  for (int i0 = j0; i0 < k; i0 += 32) {
    WithTile(cols, (k - i0 + 7) / 8, [&](auto cc, auto vv) {
      UpdateTile<decltype(cc)::value, decltype(vv)::value, kSub>(a, k, j0, i0, x, s, stride, steps);
    });
  }
}

void Accumulate(const float* const* rows, const double* c, const double* ct, size_t count, int k,
                double* a, double* b, double* work) {
  const size_t kp = PaddedWidth(k), tile = AccumulateTileRows(k);
  double* hd = work;
  double* u = work + tile * kp;
  for (size_t first = 0; first < count; first += tile) {
    const size_t m = count - first < tile ? count - first : tile;
    // The tile in double: h_t and u_t = c_t·h_t (zero past k), and b += ct_t·h_t.
    for (size_t t = 0; t < m; ++t) {
      const float* h = rows[first + t];
      const __m512d ctv = _mm512_set1_pd(c[first + t]);
      const __m512d cttv = _mm512_set1_pd(ct[first + t]);
      for (int i = 0; i < k; i += 8) {
        const __mmask8 mk = RowMask(k, i);
        const __m512d hv = _mm512_cvtps_pd(
            _mm512_castps512_ps256(_mm512_maskz_loadu_ps(static_cast<__mmask16>(mk), h + i)));
        _mm512_storeu_pd(hd + t * kp + i, hv);
        _mm512_storeu_pd(u + t * kp + i, _mm512_mul_pd(ctv, hv));
        const __m512d bv = _mm512_maskz_loadu_pd(mk, b + i);
        _mm512_mask_storeu_pd(b + i, mk, _mm512_add_pd(bv, _mm512_mul_pd(cttv, hv)));
      }
    }
    // The triangle, four columns against 32 rows at a time, from the columns' first row down.
    for (int j0 = 0; j0 < k; j0 += 4) UpdateColumns<false>(a, k, j0, hd, u, kp, m);
  }
}

bool Factor(double* a, int k) {
  const size_t n = static_cast<size_t>(k);
  for (int j0 = 0; j0 < k; j0 += 4) {
    const int cols = k - j0 < 4 ? k - j0 : 4;
    // The columns before the block, in register tiles.
    if (j0 > 0) UpdateColumns<true>(a, k, j0, a, a, n, static_cast<size_t>(j0));
    // The block's own columns, one after the other, then each pivot.
    for (int c = 0; c < cols; ++c) {
      const int j = j0 + c;
      double* x = a + static_cast<size_t>(j) * n;
      for (int p = j0; p < j; ++p) {
        const double* lp = a + static_cast<size_t>(p) * n;
        const __m512d s = _mm512_set1_pd(lp[j]);
        for (int i = j; i < k; i += 8) {
          const __mmask8 mk = RowMask(k, i);
          const __m512d xv = _mm512_maskz_loadu_pd(mk, x + i);
          _mm512_mask_storeu_pd(
              x + i, mk, _mm512_sub_pd(xv, _mm512_mul_pd(s, _mm512_maskz_loadu_pd(mk, lp + i))));
        }
      }
      const double d = x[j];
      if (!(d > 0.0)) return false;
      const double r = std::sqrt(d);
      x[j] = r;
      const __m512d inv = _mm512_set1_pd(1.0 / r);
      for (int i = j + 1; i < k; i += 8) {
        const __mmask8 mk = RowMask(k, i);
        _mm512_mask_storeu_pd(x + i, mk, _mm512_mul_pd(_mm512_maskz_loadu_pd(mk, x + i), inv));
      }
    }
  }
  return true;
}

// Forward L·y = b in blocks of 8 columns: the block's triangle in scalar order, then the rows
// below it take the block's 8 terms in order while each vector of b is in a register.
void Forward(const double* l, int k, double* b) {
  const size_t n = static_cast<size_t>(k);
  for (int j0 = 0; j0 < k; j0 += 8) {
    const int cols = k - j0 < 8 ? k - j0 : 8;
    double y[8];
    for (int t = 0; t < cols; ++t) {
      const int j = j0 + t;
      const double* col = l + static_cast<size_t>(j) * n;
      y[t] = b[j] / col[j];
      b[j] = y[t];
      for (int i = j + 1; i < j0 + cols; ++i) b[i] -= col[i] * y[t];
    }
    for (int i = j0 + 8; i < k; i += 8) {
      const __mmask8 mk = RowMask(k, i);
      __m512d bv = _mm512_maskz_loadu_pd(mk, b + i);
      for (int t = 0; t < cols; ++t) {
        const __m512d lv = _mm512_maskz_loadu_pd(mk, l + static_cast<size_t>(j0 + t) * n + i);
        bv = _mm512_sub_pd(bv, _mm512_mul_pd(lv, _mm512_set1_pd(y[t])));
      }
      _mm512_mask_storeu_pd(b + i, mk, bv);
    }
  }
}

// The tree lanes[l] += lanes[l + 4], then + 2, then + 1.
inline double Reduce8(__m512d v) {
  const __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
  const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
  return _mm_cvtsd_f64(s2) + _mm_cvtsd_f64(_mm_unpackhi_pd(s2, s2));
}

// Backward Lᵀ·x = y in blocks of 8 rows, from the last: the block's 8 dot products (lane f mod 8
// = the lane of a vector starting at a multiple of 8) take the finished blocks below, last first,
// side by side; then, row by row upwards, the block's own finished x (kept in a register) and
// the division.
void Backward(const double* l, int k, double* b) {
  const size_t n = static_cast<size_t>(k);
  const int last = (k - 1) / 8;
  for (int q = last; q >= 0; --q) {
    const int i0 = 8 * q;
    const int rows = k - i0 < 8 ? k - i0 : 8;
    const double* col[8];  // columns past k repeat the last one (their sums are not used)
    for (int t = 0; t < 8; ++t) col[t] = l + static_cast<size_t>(t < rows ? i0 + t : k - 1) * n;
    __m512d acc[8];
    for (int t = 0; t < 8; ++t) acc[t] = _mm512_setzero_pd();
    for (int r = last; r > q; --r) {
      const __mmask8 mk = RowMask(k, 8 * r);
      const __m512d xv = _mm512_maskz_loadu_pd(mk, b + 8 * r);
      for (int t = 0; t < 8; ++t) {
        acc[t] = _mm512_mask_add_pd(acc[t], mk, acc[t],
                                    _mm512_mul_pd(_mm512_maskz_loadu_pd(mk, col[t] + 8 * r), xv));
      }
    }
    __m512d xb = _mm512_maskz_loadu_pd(RowMask(k, i0), b + i0);  // y, then x as it is solved
    for (int t = rows - 1; t >= 0; --t) {
      const int i = i0 + t;
      const auto mk = static_cast<__mmask8>(RowMask(k, i0) & (0xFFu << (t + 1)));
      const __m512d a = _mm512_mask_add_pd(
          acc[t], mk, acc[t], _mm512_mul_pd(_mm512_maskz_loadu_pd(mk, col[t] + i0), xb));
      const double x = (b[i] - Reduce8(a)) / col[t][i];
      b[i] = x;
      xb = _mm512_mask_broadcastsd_pd(xb, static_cast<__mmask8>(1u << t), _mm_set_sd(x));
    }
  }
}

void Solve(const double* l, int k, double* b) {
  Forward(l, k, b);
  Backward(l, k, b);
}

const Kernels kAvx512{"avx512", Accumulate, Factor, Solve};

}  // namespace

const Kernels& Avx512KernelTable() { return kAvx512; }

}  // namespace marquee::ridge
#endif  // __AVX512F__
