// Evaluate (see evaluator.h). Eval rows are cut into fixed batches (their composition depends
// only on batch_size and the eval set); batches run in parallel, each user's metric values land
// in a per-user slot, and the means are summed in user order afterwards, so the result does not
// depend on the thread count or on which thread ran which batch.
#include "eval/evaluator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>

#include "common/thread_pool.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// Upper bound on one thread's score buffer (rows x items floats, 256 MiB): with a large
// catalogue the batch shrinks rather than the process running out of memory.
constexpr size_t kMaxScoreFloats = size_t{1} << 26;

struct ThreadState {
  std::vector<float> scores;
  std::vector<uint32_t> top;
  std::vector<uint32_t> rows;
  // Per item: the best 0-based position it reached in any top-K list of this thread's users
  // (UINT32_MAX: never). Item i is covered at K iff min_pos[i] < K; only kept for coverage@K.
  std::vector<uint32_t> min_pos;
};

double PerUser(const MetricSpec& m, std::span<const uint32_t> top,
               std::span<const uint32_t> targets, uint64_t full_rank) {
  switch (m.kind) {
    case MetricKind::kRecall:
      return RecallAtK(top, targets, m.k);
    case MetricKind::kNdcg:
      return NdcgAtK(top, targets, m.k);
    case MetricKind::kHitRate:
      return HitRateAtK(top, targets, m.k);
    case MetricKind::kPrecision:
      return PrecisionAtK(top, targets, m.k);
    case MetricKind::kMap:
      return MapAtK(top, targets, m.k);
    case MetricKind::kMrr:
      if (m.k == 0) return full_rank == 0 ? 0.0 : 1.0 / static_cast<double>(full_rank);
      return MrrAtK(top, targets, m.k);
    case MetricKind::kCoverage:
      return 0.0;  // corpus-level, computed after the loop
  }
  return 0.0;
}

}  // namespace

nlohmann::json EvalResult::ToJson() const {
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [name, value] : metrics) m[name] = value;
  return {{"metrics", m},
          {"users_evaluated", users_evaluated},
          {"users_skipped", users_skipped},
          {"items", items},
          {"seconds", seconds}};
}

EvalResult Evaluate(const Recommender& model, const EvalSet& eval,
                    const std::vector<MetricSpec>& metrics, const Context& ctx,
                    uint32_t batch_size) {
  const auto start = std::chrono::steady_clock::now();
  const uint32_t n_items = model.num_items();
  const uint32_t n_rows = eval.input.rows;
  if (batch_size == 0) Fail(ErrorCode::kInvalidArgument, "evaluation batch_size must be >= 1");
  if (eval.target.rows != n_rows) {
    Fail(ErrorCode::kInvalidArgument, "eval set has {} input rows but {} target rows", n_rows,
         eval.target.rows);
  }
  if (eval.input.cols != n_items || eval.target.cols != n_items) {
    Fail(ErrorCode::kInvalidArgument,
         "eval set has {} (input) / {} (target) item columns but the {} model scores {} items",
         eval.input.cols, eval.target.cols, model.family(), n_items);
  }
  uint32_t max_k = 0;
  bool need_full_rank = false, need_coverage = false;
  for (const auto& m : metrics) {
    if (m.k == 0 && m.kind != MetricKind::kMrr) {
      Fail(ErrorCode::kInvalidArgument, "metric '{}' needs a cut-off K >= 1", m.name);
    }
    max_k = std::max(max_k, m.k);
    need_full_rank |= m.kind == MetricKind::kMrr && m.k == 0;
    need_coverage |= m.kind == MetricKind::kCoverage;
  }

  const size_t n_metrics = metrics.size();
  const size_t rows_per_batch = std::min<size_t>(
      batch_size, std::max<size_t>(1, kMaxScoreFloats / std::max<uint32_t>(n_items, 1)));
  const size_t n_batches = (static_cast<size_t>(n_rows) + rows_per_batch - 1) / rows_per_batch;
  const int threads = std::max(ctx.threads, 1);
  std::vector<double> per_user(static_cast<size_t>(n_rows) * n_metrics, 0.0);
  std::vector<ThreadState> state(static_cast<size_t>(threads));
  // Scoring runs single-threaded inside each batch: the parallelism is across batches, and the
  // model's own progress reports would be noise here.
  Context inner = ctx;
  inner.threads = 1;
  inner.progress = nullptr;
  std::atomic<size_t> batches_done{0};

  ctx.Report("evaluate", 0.0);
  ParallelForDynamic(n_batches, threads, 1, [&](size_t b, int t) {
    ThreadState& st = state[static_cast<size_t>(t)];
    const uint32_t r0 = static_cast<uint32_t>(b * rows_per_batch);
    const uint32_t r1 = static_cast<uint32_t>(std::min<size_t>(n_rows, r0 + rows_per_batch));
    st.rows.clear();
    for (uint32_t r = r0; r < r1; ++r) {
      if (eval.target.row_size(r) > 0) st.rows.push_back(r);  // no targets: skipped
    }
    if (!st.rows.empty()) {
      const CsrMatrix histories = eval.input.SelectRows(st.rows);
      st.scores.resize(st.rows.size() * static_cast<size_t>(n_items));
      model.ScoreBatch(histories, st.scores, inner);
      if (need_coverage && st.min_pos.empty()) {
        st.min_pos.assign(n_items, std::numeric_limits<uint32_t>::max());
      }
      for (size_t j = 0; j < st.rows.size(); ++j) {
        const uint32_t r = st.rows[j];
        const std::span<const float> scores(st.scores.data() + j * n_items, n_items);
        const auto excluded = eval.input.row_indices(r);
        const auto targets = eval.target.row_indices(r);
        TopK(scores, excluded, max_k, st.top);
        const uint64_t full_rank = need_full_rank ? RankOfBestTarget(scores, excluded, targets) : 0;
        for (size_t m = 0; m < n_metrics; ++m) {
          per_user[static_cast<size_t>(r) * n_metrics + m] =
              PerUser(metrics[m], st.top, targets, full_rank);
        }
        if (need_coverage) {
          for (uint32_t p = 0; p < st.top.size(); ++p) {
            st.min_pos[st.top[p]] = std::min(st.min_pos[st.top[p]], p);
          }
        }
      }
    }
    ctx.Report("evaluate", static_cast<double>(++batches_done) / static_cast<double>(n_batches));
  });

  EvalResult res;
  res.items = n_items;
  for (uint32_t r = 0; r < n_rows; ++r) {
    if (eval.target.row_size(r) > 0) {
      ++res.users_evaluated;
    } else {
      ++res.users_skipped;
    }
  }
  // Union of every thread's covered items: the minimum position over threads.
  std::vector<uint32_t> min_pos;
  if (need_coverage) {
    min_pos.assign(n_items, std::numeric_limits<uint32_t>::max());
    for (const auto& st : state) {
      for (size_t i = 0; i < st.min_pos.size(); ++i)
        min_pos[i] = std::min(min_pos[i], st.min_pos[i]);
    }
  }
  for (size_t m = 0; m < n_metrics; ++m) {
    double value = 0.0;
    if (metrics[m].kind == MetricKind::kCoverage) {
      // coverage@K: distinct items in any evaluated user's top-K / number of items.
      uint64_t covered = 0;
      for (uint32_t p : min_pos) covered += p < metrics[m].k ? 1 : 0;
      value = n_items == 0 ? 0.0 : static_cast<double>(covered) / static_cast<double>(n_items);
    } else {
      // Mean over evaluated users, summed in user order (0 when no user has targets).
      double sum = 0.0;
      for (uint32_t r = 0; r < n_rows; ++r) {
        if (eval.target.row_size(r) > 0) sum += per_user[static_cast<size_t>(r) * n_metrics + m];
      }
      value = res.users_evaluated == 0 ? 0.0 : sum / static_cast<double>(res.users_evaluated);
    }
    res.metrics.emplace_back(metrics[m].name, value);
  }
  if (n_batches == 0) ctx.Report("evaluate", 1.0);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace marquee
