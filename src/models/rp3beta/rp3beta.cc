// RP3beta (Paudel, Christoffel, Newell & Bernstein 2016, "Updatable, accurate, diverse, and
// scalable recommendations for interactive applications", ACM TiiS 7(1)): a three-step random
// walk item -> user -> item on the bipartite graph of the binarised training matrix, its
// transition probabilities raised to α, and the landing item's popularity divided out to the
// power β, which trades accuracy for novelty:
//
//   W(i, j) = Σ_{u ∈ U_i ∩ U_j} (1/|U_i|)^α · (1/|I_u|)^α / |U_j|^β,   W(i, i) = 0.
//
// For every source item i only its `neighbors` largest W(i, ·) are kept (ties: lower index);
// with `normalize` each kept row is scaled to sum 1, so every history item casts the same total
// vote. A history H scores candidate j by
//
//   score(j) = Σ_{i ∈ H} W(i, j),
//
// so a new member is scored from its history alone (fold-in by construction). Dacrema, Cremonesi
// & Jannach 2019 ("Are we really making much progress?") found it a strong, cheap baseline.
//
// Rows come from sparse walk counting, as in itemknn: for item i, for every user u of i and every
// item j of u, acc[j] += (1/|I_u|)^α, into a per-thread dense accumulator, then a bounded-heap
// top-N. Each row is summed in a fixed order (users, then their items, ascending), so the model
// does not depend on the thread count. The artifact stores the rows as CSR (row i: (j, W(i, j))),
// which is also the scoring layout.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "common/log.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/artifact.h"
#include "models/item_graph.h"
#include "models/params.h"

namespace marquee {
namespace {

class Rp3Beta final : public Recommender {
 public:
  explicit Rp3Beta(const nlohmann::json& params) {
    ParamReader p("rp3beta", params);
    neighbors_ = static_cast<uint32_t>(p.Integer("neighbors", kDefaultNeighbors, 1, 1 << 20));
    alpha_ = p.Number("alpha", kDefaultAlpha, 0.0, 10.0);
    beta_ = p.Number("beta", kDefaultBeta, 0.0, 10.0);
    normalize_ = p.Bool("normalize", true);
    p.Finish();
    params_ = p.resolved();
  }
  std::string_view family() const override { return "rp3beta"; }
  nlohmann::json params() const override { return params_; }
  uint32_t num_items() const override { return num_items_; }

  void Fit(const CsrMatrix& x, const Context& ctx) override {
    Stopwatch sw;
    ctx.Report("rp3beta", 0.0);
    const uint32_t n = x.cols;
    const CsrMatrix xt = x.Transpose();  // items x users; stored values are ignored (binary)
    // (1/|I_u|)^α per user; (1/|U_i|)^α and |U_j|^-β per item.
    std::vector<double> step_user(x.rows), step_item(n), penalty(n);
    for (uint32_t u = 0; u < x.rows; ++u) {
      const double d = x.row_size(u);
      step_user[u] = d > 0 ? std::pow(1.0 / d, alpha_) : 0.0;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const double d = xt.row_size(i);
      step_item[i] = d > 0 ? std::pow(1.0 / d, alpha_) : 0.0;
      penalty[i] = d > 0 ? std::pow(d, -beta_) : 0.0;
    }
    const int t_count = std::max(ctx.threads, 1);
    struct Scratch {
      std::vector<double> acc;
      std::vector<uint8_t> seen;
      std::vector<uint32_t> touched;
      TopNeighbors top;
    };
    std::vector<Scratch> scratch(static_cast<size_t>(t_count));
    for (auto& s : scratch) {
      s.acc.assign(n, 0.0);
      s.seen.assign(n, 0);
    }
    std::vector<std::vector<Neighbor>> rows(n);
    std::atomic<uint32_t> done{0};
    ParallelForDynamic(n, ctx.threads, 16, [&](size_t item, int t) {
      Scratch& s = scratch[static_cast<size_t>(t)];
      const auto i = static_cast<uint32_t>(item);
      s.touched.clear();
      for (uint32_t u : xt.row_indices(i)) {
        const double w = step_user[u];
        for (uint32_t j : x.row_indices(u)) {
          if (!s.seen[j]) {
            s.seen[j] = 1;
            s.touched.push_back(j);
          }
          s.acc[j] += w;
        }
      }
      s.top.Reset(neighbors_);
      for (uint32_t j : s.touched) {
        const double walk = s.acc[j];
        s.acc[j] = 0.0;
        s.seen[j] = 0;
        if (j == i) continue;
        const auto weight = static_cast<float>(step_item[i] * walk * penalty[j]);
        if (!(weight > 0.0f)) continue;
        s.top.Offer(weight, j);
      }
      s.top.TakeSorted(&rows[i]);
      if (normalize_) {
        double sum = 0.0;
        for (const auto& [w, j] : rows[i]) sum += w;
        if (sum > 0.0) {
          for (auto& [w, j] : rows[i]) w = static_cast<float>(w / sum);
        }
      }
      const uint32_t d = done.fetch_add(1) + 1;
      if (d % 1024 == 0) ctx.Report("rp3beta", static_cast<double>(d) / n);
    });
    w_ = ItemMatrixFromRows(rows);
    num_items_ = n;
    ctx.Report("rp3beta", 1.0);
    spdlog::info("rp3beta: {} items, {} users, {} nnz -> {} transitions in {:.2f}s", n, x.rows,
                 x.nnz(), w_.nnz(), sw.Seconds());
  }

  void ScoreBatch(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const override {
    ScoreByRows(w_, hist, out, ctx);
  }

  void Save(ArtifactWriter& w) const override { SaveItemMatrix(w_, w); }

  void Load(const ArtifactReader& r) override {
    w_ = LoadItemMatrix(r, "rp3beta");
    num_items_ = w_.rows;
  }

 private:
  static constexpr int64_t kDefaultNeighbors = 200;
  static constexpr double kDefaultAlpha = 0.8;
  static constexpr double kDefaultBeta = 0.5;

  uint32_t neighbors_ = kDefaultNeighbors;
  double alpha_ = kDefaultAlpha;
  double beta_ = kDefaultBeta;
  bool normalize_ = true;
  nlohmann::json params_;
  uint32_t num_items_ = 0;
  CsrMatrix w_;  // row i = W(i, ·): saved as is, and the scoring layout
};

}  // namespace

std::unique_ptr<Recommender> NewRp3Beta(const nlohmann::json& params) {
  return std::make_unique<Rp3Beta>(params);
}

}  // namespace marquee
