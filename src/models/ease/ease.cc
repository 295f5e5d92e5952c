// EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a closed-form
// item-item model. With G = XᵀX + λI and P = G⁻¹, the weights are B = I − P·diag(1/diag(P)),
// i.e. B_ij = −P_ij / P_jj and B_jj = 0. A user's scores are x_u·B, so fold-in is free.
// P is computed through LAPACK's Cholesky factorisation (potrf) and inverse (potri).
//
// Distributed (Context::comm, under mpirun; issue #18): each rank computes the Gram matrix XᵀX
// of its own block of users (PartitionRows, equal interaction counts) and the blocks are summed
// by one allreduce of n² values. Binary interactions make every Gram entry an integer count, so
// the sum is exact (below 2^24 users per item in float32) and the Gram matrix, and so B, equal
// one process's. The inverse is then computed on rank 0 only: the other ranks' models are left
// empty (they only contribute; in a distributed training only rank 0 evaluates and saves), so
// on a shared machine rank 0's BLAS threads have the cores to themselves.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#endif

#include <spdlog/spdlog.h>

#include "common/communicator.h"
#include "common/log.h"
#include "common/shard.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/additive_scores.h"
#include "models/artifact.h"
#include "models/linalg.h"
#include "models/params.h"

namespace marquee {
namespace {

// out[k] = float(Σ_p rows[p][k]), each column summed in double over the rows in order, starting
// from 0 (so the result does not depend on how columns are blocked). Columns are walked in
// blocks whose double accumulators stay in registers while every row is added, so a row block
// is read once and the accumulators never go through memory: one pass over the history's rows
// of B, the least memory traffic a user's scores can take.
#if defined(__AVX512F__) && defined(__AVX512DQ__)
// One block of up to 16 * kVecs columns from c0 (`len` of them; a shorter block masks its loads
// and stores). The loads of a block jump from row to row of B (6.7 KB apart on ML-100K), which
// the hardware prefetchers do not follow: each row's part of the block is prefetched kAhead
// rows ahead, and the last rows prefetch the first rows' part of the next block, so the loads
// find their lines in L1 instead of waiting on the last-level cache or memory one row at a time.
template <int kVecs>
inline void SumRowBlock(std::span<const float* const> rows, uint32_t c0, uint32_t len, uint32_t n,
                        float* out) {
  constexpr size_t kAhead = 8;
  __m512d acc[2 * kVecs];
  for (auto& a : acc) a = _mm512_setzero_pd();
  const size_t nr = rows.size();
  const uint32_t next = c0 + 16 * kVecs;  // the next block's first column
  for (size_t p = 0; p < nr; ++p) {
    if (p + kAhead < nr) {
      for (int v = 0; v < kVecs; ++v) {
        _mm_prefetch(reinterpret_cast<const char*>(rows[p + kAhead] + c0 + 16 * v), _MM_HINT_T0);
      }
    } else if (p + kAhead - nr < nr && next < n) {
      const float* ahead = rows[p + kAhead - nr] + next;
      const uint32_t ahead_len = std::min<uint32_t>(16 * kVecs, n - next);
      for (uint32_t v = 0; v < ahead_len; v += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead + v), _MM_HINT_T0);
      }
    }
    const float* src = rows[p] + c0;
    for (int v = 0; v < kVecs; ++v) {
      __m512 x;
      if (len == 16u * kVecs) {
        x = _mm512_loadu_ps(src + 16 * v);
      } else {
        const int left = static_cast<int>(len) - 16 * v;
        const __mmask16 m = left >= 16  ? __mmask16(0xFFFF)
                            : left <= 0 ? __mmask16(0)
                                        : static_cast<__mmask16>((1u << left) - 1);
        x = _mm512_maskz_loadu_ps(m, src + 16 * v);
      }
      acc[2 * v] = _mm512_add_pd(acc[2 * v], _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
      acc[2 * v + 1] = _mm512_add_pd(acc[2 * v + 1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
    }
  }
  for (int v = 0; v < 2 * kVecs; ++v) {
    const int left = static_cast<int>(len) - 8 * v;
    if (left <= 0) break;
    const __mmask8 m = left >= 8 ? __mmask8(0xFF) : static_cast<__mmask8>((1u << left) - 1);
    _mm256_mask_storeu_ps(out + c0 + 8 * v, m, _mm512_cvtpd_ps(acc[v]));
  }
}
#endif

void SumRowsInDouble(std::span<const float* const> rows, uint32_t n, float* out) {
  uint32_t c0 = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  // 128 columns a block: 16 of the 32 zmm registers hold the accumulators.
  constexpr uint32_t kBlock = 128;
  for (; c0 + kBlock <= n; c0 += kBlock) SumRowBlock<8>(rows, c0, kBlock, n, out);
  for (; c0 < n; c0 += 16) SumRowBlock<1>(rows, c0, std::min<uint32_t>(16, n - c0), n, out);
#else
  double acc[64];
  for (; c0 < n; c0 += 64) {
    const uint32_t len = std::min<uint32_t>(64, n - c0);
    std::fill(acc, acc + len, 0.0);
    for (const float* row : rows) {
      for (uint32_t k = 0; k < len; ++k) acc[k] += row[c0 + k];
    }
    for (uint32_t k = 0; k < len; ++k) out[c0 + k] = static_cast<float>(acc[k]);
  }
#endif
}

class Ease final : public Recommender, public AdditiveScores {
 public:
  explicit Ease(const nlohmann::json& params) {
    ParamReader p("ease", params);
    lambda_ = p.Number("lambda", 500.0, 0.0, 1e12);
    precision_ = p.Choice("precision", "float32", {"float32", "float64"});
    max_items_ = static_cast<uint32_t>(p.Integer("max_items", 0, 0, 1 << 20));
    p.Finish();
    params_ = p.resolved();
  }
  std::string_view family() const override { return "ease"; }
  nlohmann::json params() const override { return params_; }
  uint32_t num_items() const override { return num_items_; }
  bool distributed_fit() const override { return true; }

  void Fit(const CsrMatrix& x, const Context& ctx) override {
    num_items_ = x.cols;
    CheckShard(ctx);
    // Keep every item, or the max_items most popular ones (ties: lower index), counted over
    // all of X (a shard carries the global counts; its x holds only this rank's users).
    std::vector<uint32_t> counts;
    if (ctx.shard != nullptr) {
      counts = ctx.shard->item_counts;
    } else {
      counts.assign(x.cols, 0);
      for (uint32_t c : x.indices) ++counts[c];
    }
    std::vector<uint32_t> order(x.cols);
    std::iota(order.begin(), order.end(), 0u);
    uint32_t n = x.cols;
    if (max_items_ > 0 && max_items_ < x.cols) {
      std::stable_sort(order.begin(), order.end(),
                       [&](uint32_t a, uint32_t b) { return counts[a] > counts[b]; });
      n = max_items_;
      order.resize(n);
      std::sort(order.begin(), order.end());
    }
    kept_ = order;
    col_map_.assign(x.cols, -1);
    for (uint32_t r = 0; r < n; ++r) col_map_[kept_[r]] = static_cast<int32_t>(r);
    n_ = n;
    if (precision_ == "float64") {
      FitTyped<double>(x, ctx, b64_);
      b32_.clear();
    } else {
      FitTyped<float>(x, ctx, b32_);
      RoundToSumGrid(b32_, n_);
      b64_.clear();
    }
  }

  // AdditiveScores, offered in float32 (B on the grid of RoundToSumGrid); a float64 model's
  // sums round, so it offers none (accumulator_size() 0).
  size_t accumulator_size() const override { return b32_.empty() ? 0 : n_; }
  uint64_t max_rows() const override { return uint64_t{1} << (29 - SumGridBits(n_)); }
  void Accumulate(std::span<const uint32_t> items, double* acc) const override {
    for (uint32_t i : items) {
      if (i >= num_items_ || col_map_[i] < 0) continue;
      const float* row = b32_.data() + static_cast<size_t>(col_map_[i]) * n_;
      for (uint32_t k = 0; k < n_; ++k) acc[k] += static_cast<double>(row[k]);
    }
  }
  void Finish(const double* acc, std::span<float> out) const override {
    if (out.size() != num_items_) {
      Fail(ErrorCode::kInternal, "Finish: output has {} floats, need {}", out.size(), num_items_);
    }
    if (n_ == num_items_) {
      for (uint32_t k = 0; k < n_; ++k) out[k] = static_cast<float>(acc[k]);
      return;
    }
    std::fill(out.begin(), out.end(), -std::numeric_limits<float>::infinity());
    for (uint32_t k = 0; k < n_; ++k) out[kept_[k]] = static_cast<float>(acc[k]);
  }

  void ScoreBatch(const CsrMatrix& h, std::span<float> out, const Context& ctx) const override {
    const size_t ni = num_items_;
    if (out.size() != static_cast<size_t>(h.rows) * ni) {
      Fail(ErrorCode::kInternal, "ScoreBatch: output has {} floats, need {}", out.size(),
           static_cast<size_t>(h.rows) * ni);
    }
    const bool f64 = !b64_.empty();
    std::vector<double> acc;
    std::vector<const float*> rows;
    std::vector<float> kept_scores;
    for (uint32_t r = 0; r < h.rows; ++r) {
      float* o = out.data() + static_cast<size_t>(r) * ni;
      float* dst = o;
      if (n_ != ni) {
        kept_scores.resize(n_);
        dst = kept_scores.data();
      }
      if (f64) {
        acc.assign(n_, 0.0);
        for (uint64_t p = h.indptr[r]; p < h.indptr[r + 1]; ++p) {
          if (h.indices[p] >= ni || col_map_[h.indices[p]] < 0) continue;
          const double* row = b64_.data() + static_cast<size_t>(col_map_[h.indices[p]]) * n_;
          for (uint32_t k = 0; k < n_; ++k) acc[k] += row[k];
        }
        for (uint32_t k = 0; k < n_; ++k) dst[k] = static_cast<float>(acc[k]);
      } else {
        rows.clear();
        for (uint64_t p = h.indptr[r]; p < h.indptr[r + 1]; ++p) {
          if (h.indices[p] >= ni || col_map_[h.indices[p]] < 0) continue;
          rows.push_back(b32_.data() + static_cast<size_t>(col_map_[h.indices[p]]) * n_);
        }
        SumRowsInDouble(rows, n_, dst);
      }
      if (n_ != ni) {
        std::fill(o, o + ni, -std::numeric_limits<float>::infinity());
        for (uint32_t k = 0; k < n_; ++k) o[kept_[k]] = dst[k];
      }
    }
  }

  void Save(ArtifactWriter& w) const override {
    w.Add<uint32_t>("kept_items", kept_);
    if (!b64_.empty()) {
      w.Add<double>("B", b64_, {n_, n_});
    } else {
      w.Add<float>("B", b32_, {n_, n_});
    }
    w.header()["ease"] = {{"num_items", num_items_}, {"modelled_items", n_}};
    if (!b32_.empty()) w.header()["ease"]["sum_grid_bits"] = SumGridBits(n_);
  }

  void Load(const ArtifactReader& r) override {
    num_items_ = r.header().at("ease").at("num_items").get<uint32_t>();
    kept_ = r.GetVector<uint32_t>("kept_items");
    n_ = static_cast<uint32_t>(kept_.size());
    auto shape = r.Shape("B");
    if (shape.size() != 2 || shape[0] != n_ || shape[1] != n_) {
      Fail(ErrorCode::kCorruption, "EASE artifact: B is not {}x{}", n_, n_);
    }
    if (precision_ == "float64") {
      b64_ = r.GetVector<double>("B");
      b32_.clear();
    } else {
      b32_ = r.GetVector<float>("B");
      // Artifacts from before the grid (no sum_grid_bits) are rounded here.
      const auto bits = r.header().at("ease").find("sum_grid_bits");
      if (bits == r.header().at("ease").end() || !bits->is_number_integer() ||
          bits->get<int64_t>() != SumGridBits(n_)) {
        RoundToSumGrid(b32_, n_);
      }
      b64_.clear();
    }
    col_map_.assign(num_items_, -1);
    for (uint32_t k = 0; k < n_; ++k) {
      if (kept_[k] >= num_items_) Fail(ErrorCode::kCorruption, "EASE artifact: bad item index");
      col_map_[kept_[k]] = static_cast<int32_t>(k);
    }
  }

 private:
  template <typename T>
  void FitTyped(const CsrMatrix& x, const Context& ctx, std::vector<T>& b) {
    const size_t n = n_;
    b.assign(n * n, T(0));
    Stopwatch sw;
    ctx.Report("ease gram", 0.0);
    const int ranks = ctx.comm != nullptr ? ctx.comm->size() : 1;
    if (ranks == 1) {
      SparseGram<T>(x, col_map_, n_, b.data(), ctx.threads);
    } else {
      const int rank = ctx.comm->rank();
      if (ctx.shard != nullptr) {  // x holds this rank's users' rows only
        SparseGram<T>(x, col_map_, n_, b.data(), ctx.threads);
      } else {
        const std::vector<uint64_t> offsets = PartitionRows(x.indptr, ranks, shard_plan().row_cost);
        std::vector<uint32_t> mine(offsets[static_cast<size_t>(rank) + 1] -
                                   offsets[static_cast<size_t>(rank)]);
        std::iota(mine.begin(), mine.end(),
                  static_cast<uint32_t>(offsets[static_cast<size_t>(rank)]));
        SparseGram<T>(x.SelectRows(mine), col_map_, n_, b.data(), ctx.threads);
      }
      ctx.comm->AllReduceSum(std::span<T>(b));
      if (rank != 0) {
        b.clear();
        b.shrink_to_fit();
        return;
      }
    }
    for (size_t i = 0; i < n; ++i) b[i * n + i] += static_cast<T>(lambda_);
    const double gram_s = sw.Seconds();
    ctx.Report("ease inverse", 0.0);
    Stopwatch inv;
    InvertSpdInPlace<T>(b.data(), n_, ctx.threads);
    const double inv_s = inv.Seconds();
    // B = -P / diag(P) column-wise, zero diagonal.
    std::vector<T> diag(n);
    for (size_t j = 0; j < n; ++j) diag[j] = b[j * n + j];
    ParallelFor(n, ctx.threads, [&](size_t begin, size_t end, int) {
      for (size_t i = begin; i < end; ++i) {
        T* row = b.data() + i * n;
        for (size_t j = 0; j < n; ++j) row[j] = -row[j] / diag[j];
        row[i] = T(0);
      }
    });
    ctx.Report("ease", 1.0);
    spdlog::info("ease: {} items, gram {:.2f}s, cholesky inverse {:.2f}s ({:.1f} GFLOP/s)", n_,
                 gram_s, inv_s, inv_s > 0 ? static_cast<double>(n) * n * n / inv_s / 1e9 : 0.0);
  }

  double lambda_ = 500.0;
  std::string precision_ = "float32";
  uint32_t max_items_ = 0;
  nlohmann::json params_;
  uint32_t num_items_ = 0;
  uint32_t n_ = 0;
  std::vector<uint32_t> kept_;
  std::vector<int32_t> col_map_;
  std::vector<float> b32_;
  std::vector<double> b64_;
};

}  // namespace

std::unique_ptr<Recommender> NewEase(const nlohmann::json& params) {
  return std::make_unique<Ease>(params);
}

}  // namespace marquee
