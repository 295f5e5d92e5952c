// Numerical helpers shared by the matrix-factorisation families (iALS and BPR): a portable
// deterministic RNG, the Gramian of a factor matrix, and the exact ridge solve that is the iALS
// user step (also BPR's fold-in; its kernels are models/ials/ridge_kernels.h). Internal to
// marquee_models.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// GCC 12 reports false -Wmaybe-uninitialized positives inside Eigen's AVX-512 packet code
// (_mm512_undefined_ps; GCC bug 105593). Silenced for Eigen's headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Cholesky>
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "common/thread_pool.h"
#include "marquee/context.h"
#include "marquee/error.h"
#include "marquee/sparse.h"
#include "models/ials/ridge_kernels.h"
#include "models/simd_reduce.h"

namespace marquee {

// Factor matrices: one row per user or item, rows contiguous (float32, as served).
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// SplitMix64 finaliser (Steele et al. 2014): a bijective 64-bit mixer used to derive
// independent seeds from (seed, stream ids).
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline uint64_t DeriveSeed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return Mix64(Mix64(Mix64(Mix64(seed) ^ a) ^ b) ^ c);
}

// std::mt19937_64 (whose output sequence the standard fixes) with distributions written out
// here, because std::uniform_int_distribution / normal_distribution differ between standard
// libraries. Same seed => same numbers on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  // Uniform in [0, n), n >= 1 (Lemire 2019, unbiased multiply-and-reject).
  uint64_t Uniform(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(gen_()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(gen_()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // Uniform in (0, 1): 53 random bits, never 0.
  double Open01() { return (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53; }
  // Standard normal by the Box-Muller transform (both outputs used).
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(Open01()));
    const double theta = 6.283185307179586476925 * Open01();
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }
  // Fisher-Yates: for i = n..2, swap v[i−1] with v[Uniform(i)]. The draws do not depend on v, so
  // they are made 64 at a time and their targets prefetched before the swaps (same draws, same
  // swaps in the same order, same result): on a vector larger than the caches each swap would
  // otherwise wait for a miss to memory.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    constexpr size_t kBatch = 64;
    size_t targets[kBatch];
    for (size_t i = v.size(); i > 1;) {
      const size_t m = std::min(kBatch, i - 1);
      for (size_t t = 0; t < m; ++t) {
        targets[t] = static_cast<size_t>(Uniform(i - t));
        __builtin_prefetch(&v[targets[t]], 1);
      }
      for (size_t t = 0; t < m; ++t) std::swap(v[i - t - 1], v[targets[t]]);
      i -= m;
    }
  }

 private:
  std::mt19937_64 gen_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Fills `m` row by row with N(0, stddev²) draws (sequential, so independent of threads).
inline void FillNormal(RowMatrixXf& m, double stddev, Rng& rng) {
  float* p = m.data();
  for (Eigen::Index k = 0; k < m.size(); ++k) p[k] = static_cast<float>(stddev * rng.Normal());
}

// G = FᵀF (k x k) in double. Rows are processed in fixed chunks whose double GEMMs run in
// parallel and are added in chunk order, so the result is independent of the thread count.
inline Eigen::MatrixXd Gramian(const RowMatrixXf& f, int threads) {
  const Eigen::Index n = f.rows(), k = f.cols();
  constexpr Eigen::Index kChunk = 2048;
  const size_t chunks = static_cast<size_t>((n + kChunk - 1) / kChunk);
  const size_t round = static_cast<size_t>(std::max(threads, 1));
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(k, k);
  std::vector<Eigen::MatrixXd> partial(std::min(round, std::max<size_t>(chunks, 1)));
  for (size_t first = 0; first < chunks; first += round) {
    const size_t count = std::min(round, chunks - first);
    ParallelFor(count, threads, [&](size_t begin, size_t end, int) {
      for (size_t c = begin; c < end; ++c) {
        const Eigen::Index row0 = static_cast<Eigen::Index>(first + c) * kChunk;
        const Eigen::Index rows = std::min(kChunk, n - row0);
        const Eigen::MatrixXd block = f.middleRows(row0, rows).cast<double>();
        partial[c].setZero(k, k);
        partial[c].selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
      }
    });
    for (size_t c = 0; c < count; ++c) g += partial[c];
  }
  g.triangularView<Eigen::StrictlyUpper>() = g.transpose();
  return g;
}

// ⟨a, b⟩ over d floats in a fixed summation order (16 interleaved partial sums, then a fixed
// tree), whatever the alignment of a and b; vectorised by the compiler.
inline float DotFixedOrder(const float* a, const float* b, Eigen::Index d) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  Eigen::Index k = 0;
  for (; k + kLanes <= d; k += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[k + l] * b[k + l];
  }
  for (int l = 0; k < d; ++k, ++l) lanes[l] += a[k] * b[k];
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  }
  return lanes[0];
}

#if defined(__AVX512F__)
// out[t] = DotFixedOrder(f + t * d, w, d) for t < 16 (rows of f are d floats apart).
inline void DotSixteen(const float* f, const float* w, Eigen::Index d, float* out) {
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_setzero_ps();
  Eigen::Index k = 0;
  for (; k + 16 <= d; k += 16) {
    const __m512 wv = _mm512_loadu_ps(w + k);
    for (int t = 0; t < 16; ++t) {
      acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(_mm512_loadu_ps(f + t * d + k), wv));
    }
  }
  if (k < d) {  // the tail: lanes past it add 0 * 0, leaving them unchanged
    const __mmask16 m = static_cast<__mmask16>((1u << (d - k)) - 1);
    const __m512 wv = _mm512_maskz_loadu_ps(m, w + k);
    for (int t = 0; t < 16; ++t) {
      acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(_mm512_maskz_loadu_ps(m, f + t * d + k), wv));
    }
  }
  _mm512_storeu_ps(out, ReduceSixteen(acc));
}
#endif

// out[r * ld + i] = ⟨w_r, f_i⟩ for every row r of `w` and item i of `f`. Each score equals
// DotFixedOrder bit for bit, so it does not depend on the batch it came in, the thread count or
// alignment (a GEMM's result does: its kernels differ with the matrix sizes). Items are walked
// in tiles that stay in cache while every query row visits them; within a tile, sixteen items
// are scored per pass (AVX-512) so the loads of f stream and the reductions are shared.
inline void ScoreWithFactors(const float* w, Eigen::Index queries, const float* f,
                             Eigen::Index items, Eigen::Index d, float* out, size_t ld) {
  constexpr Eigen::Index kTile = 256;
  for (Eigen::Index i0 = 0; i0 < items; i0 += kTile) {
    const Eigen::Index i1 = std::min(items, i0 + kTile);
    for (Eigen::Index r = 0; r < queries; ++r) {
      const float* wr = w + r * d;
      float* o = out + static_cast<size_t>(r) * ld;
      Eigen::Index i = i0;
#if defined(__AVX512F__)
      for (; i + 16 <= i1; i += 16) DotSixteen(f + i * d, wr, d, o + i);
#endif
      for (; i < i1; ++i) o[i] = DotFixedOrder(f + i * d, wr, d);
    }
  }
}
inline void ScoreWithFactors(const RowMatrixXf& w, const RowMatrixXf& f, float* out, size_t ld) {
  ScoreWithFactors(w.data(), w.rows(), f.data(), f.rows(), f.cols(), out, ld);
}

// Recommender::FoldIn of a factor model of dimension `dim`: fold_in(begin, end, w) writes the
// query vectors of history rows [begin, end) into w ((end - begin) x dim floats), on ctx.threads
// contiguous ranges. kInternal when `out` is not hist.rows x dim.
template <typename FoldInFn>
void FoldInByRanges(const CsrMatrix& hist, Eigen::Index dim, std::span<float> out,
                    const Context& ctx, FoldInFn fold_in) {
  const size_t d = static_cast<size_t>(dim);
  if (out.size() != static_cast<size_t>(hist.rows) * d) {
    Fail(ErrorCode::kInternal, "FoldIn: output has {} floats, need {}", out.size(),
         static_cast<size_t>(hist.rows) * d);
  }
  ParallelFor(hist.rows, ctx.threads,
              [&](size_t begin, size_t end, int) { fold_in(begin, end, out.data() + begin * d); });
}

// Recommender::ScoreBatch of a factor model with item rows `f`: each range of history rows is
// folded in (as FoldInByRanges) and scored against every item by ScoreWithFactors, so a score
// is DotFixedOrder(query, item row) whatever the batch. kInternal when `out` is not
// hist.rows x f.rows().
template <typename FoldInFn>
void ScoreByFoldIn(const CsrMatrix& hist, const RowMatrixXf& f, std::span<float> out,
                   const Context& ctx, FoldInFn fold_in) {
  const size_t ni = static_cast<size_t>(f.rows());
  if (out.size() != static_cast<size_t>(hist.rows) * ni) {
    Fail(ErrorCode::kInternal, "ScoreBatch: output has {} floats, need {}", out.size(),
         static_cast<size_t>(hist.rows) * ni);
  }
  ParallelFor(hist.rows, ctx.threads, [&](size_t begin, size_t end, int) {
    RowMatrixXf wb(static_cast<Eigen::Index>(end - begin), f.cols());
    fold_in(begin, end, wb.data());
    ScoreWithFactors(wb, f, out.data() + begin * ni, ni);
  });
}

// Scratch space of RidgeSolve; one per thread. Its vectors only grow, so a thread solving many
// rows allocates nothing after the first few. `kernels` is the path RidgeSolve takes (the active
// one; tests and benchmarks may point it at another).
struct RidgeScratch {
  const ridge::Kernels* kernels = &ridge::ActiveKernels();
  std::vector<const float*> rows;  // the history's factor rows, in place
  std::vector<double> c, ct;       // c_n and c_n·t_n
  std::vector<double> a, b, work;  // A (k x k, column-major; factorised in place), b, the tile
};

// Exact solve of the weighted ridge problem that is the iALS user step (Hu et al. 2008;
// Rendle et al. 2022):
//   w = argmin Σ_{n} c_n (⟨w, h_{i_n}⟩ − t_n)² + a0 · Σ_{all items i} ⟨w, h_i⟩² + reg · ‖w‖²
//     = (Σ_n c_n h h ᵀ + a0·G + reg·I)⁻¹ Σ_n c_n t_n h,          G = HᵀH,
// formed and factorised (Cholesky) in double by the kernels of models/ials/ridge_kernels.h, whose
// result is the same bits on the portable and the AVX-512 path and for any thread count.
// `entry(n, c, t)` sets the confidence c_n > 0 and target t_n of the n-th history item
// `items[n]` (a row of `h`). Writes k floats.
template <typename EntryFn>
void RidgeSolve(const RowMatrixXf& h, std::span<const uint32_t> items, EntryFn entry,
                const Eigen::MatrixXd& gram, double a0, double reg, RidgeScratch& s, float* out) {
  const int k = static_cast<int>(h.cols());
  const size_t n = items.size(), kk = static_cast<size_t>(k);
  s.rows.resize(n);
  s.c.resize(n);
  s.ct.resize(n);
  for (size_t r = 0; r < n; ++r) {
    double c = 1.0, t = 1.0;
    entry(r, c, t);
    s.rows[r] = h.row(items[r]).data();
    s.c[r] = c;
    s.ct[r] = c * t;
  }
  s.a.resize(kk * kk);
  s.work.resize(ridge::AccumulateScratch(k));
  const auto form = [&] {
    ridge::Init(gram.data(), a0, reg, k, s.a.data());
    s.b.assign(kk, 0.0);
    s.kernels->accumulate(s.rows.data(), s.c.data(), s.ct.data(), n, k, s.a.data(), s.b.data(),
                          s.work.data());
  };
  form();
  if (s.kernels->factor(s.a.data(), k)) {
    s.kernels->solve(s.a.data(), k, s.b.data());
    for (size_t f = 0; f < kk; ++f) out[f] = static_cast<float>(s.b[f]);
    return;
  }
  // Only reachable with reg = 0 and a0 = 0 (singular system): least-norm-ish fallback, on A
  // formed again (the failed factorisation overwrote part of it).
  form();
  Eigen::Map<Eigen::MatrixXd> a(s.a.data(), k, k);
  a.triangularView<Eigen::StrictlyUpper>() = a.transpose();
  Eigen::Map<Eigen::VectorXf>(out, k) =
      a.ldlt().solve(Eigen::Map<const Eigen::VectorXd>(s.b.data(), k)).cast<float>();
}

}  // namespace marquee
