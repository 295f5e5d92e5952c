// ItemKNN: item-based nearest neighbours (Sarwar et al. 2001, "Item-based collaborative
// filtering recommendation algorithms"; Deshpande & Karypis 2004, "Item-based top-N
// recommendation algorithms") on the binarised training matrix, with the shrunk cosine
//
//   sim(c, j) = |U_c ∩ U_j| / (|U_c|^α · |U_j|^(1−α) + shrinkage),
//
// α = 0.5 being the ordinary cosine (symmetric) and α ≠ 0.5 the asymmetric cosine of Aiolli 2013
// ("Efficient top-N recommendation for very large scale binary rated datasets"). For every item c
// only its `neighbors` most similar items N(c) ∌ c are kept (ties: lower index first), and a
// history H (entries count 1, as in training) scores each candidate c by its neighbours:
//
//   score(c) = Σ_{j ∈ H ∩ N(c)} sim(c, j).
//
// (Pruning per candidate, as Deshpande & Karypis and Dacrema et al. 2019 do, beats letting each
// history item vote for its own top list: on ML-100K strong generalisation recall@20 0.38 vs 0.30
// at 100 neighbours, because popular items no longer flood every list.)
//
// Similarities come from sparse co-occurrence counting: for item c, for every user u of c and
// every item j of u, acc[j] += 1 — Σ_u |I_u|² increments in all, into a per-thread dense counter
// that fits in cache — followed by a bounded-heap top-N. Items are processed in parallel; counts
// are exact integers, so the model does not depend on the thread count. The artifact stores the
// neighbour lists as CSR (row c = N(c) with similarities); scoring uses its transpose (row j =
// the candidates whose lists contain j), rebuilt after Fit and Load.
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

class ItemKnn final : public Recommender {
 public:
  explicit ItemKnn(const nlohmann::json& params) {
    ParamReader p("itemknn", params);
    // Defaults: 100 neighbours with a small shrinkage were the best plain-cosine setting on
    // MovieLens-100K strong generalisation (recall@20 0.38; 50-200 neighbours are within 0.01).
    neighbors_ = static_cast<uint32_t>(p.Integer("neighbors", 100, 1, 1 << 20));
    shrinkage_ = p.Number("shrinkage", 10.0, 0.0, 1e9);
    alpha_ = p.Number("alpha", 0.5, 0.0, 1.0);
    p.Finish();
    params_ = p.resolved();
  }
  std::string_view family() const override { return "itemknn"; }
  nlohmann::json params() const override { return params_; }
  uint32_t num_items() const override { return num_items_; }

  void Fit(const CsrMatrix& x, const Context& ctx) override {
    Stopwatch sw;
    ctx.Report("itemknn", 0.0);
    const uint32_t n = x.cols;
    const CsrMatrix xt = x.Transpose();  // items x users; stored values are ignored (binary)
    // |U_i|^α and |U_j|^(1−α) for the denominator.
    std::vector<double> pow_a(n), pow_b(n);
    for (uint32_t i = 0; i < n; ++i) {
      const double c = xt.row_size(i);
      pow_a[i] = std::pow(c, alpha_);
      pow_b[i] = std::pow(c, 1.0 - alpha_);
    }
    const int t_count = std::max(ctx.threads, 1);
    struct Scratch {
      std::vector<uint32_t> acc;
      std::vector<uint32_t> touched;
      TopNeighbors top;
    };
    std::vector<Scratch> scratch(static_cast<size_t>(t_count));
    for (auto& s : scratch) s.acc.assign(n, 0);
    std::vector<std::vector<Neighbor>> lists(n);
    std::atomic<uint32_t> done{0};
    ParallelForDynamic(n, ctx.threads, 16, [&](size_t item, int t) {
      Scratch& s = scratch[static_cast<size_t>(t)];
      const auto i = static_cast<uint32_t>(item);
      s.touched.clear();
      for (uint32_t u : xt.row_indices(i)) {
        for (uint32_t j : x.row_indices(u)) {
          if (s.acc[j]++ == 0) s.touched.push_back(j);
        }
      }
      s.top.Reset(neighbors_);
      for (uint32_t j : s.touched) {
        const uint32_t common = s.acc[j];
        s.acc[j] = 0;
        if (j == i) continue;
        const double denom = pow_a[i] * pow_b[j] + shrinkage_;
        const auto sim = static_cast<float>(static_cast<double>(common) / denom);
        if (!(sim > 0.0f)) continue;
        s.top.Offer(sim, j);
      }
      s.top.TakeSorted(&lists[i]);
      const uint32_t d = done.fetch_add(1) + 1;
      if (d % 1024 == 0) ctx.Report("itemknn", static_cast<double>(d) / n);
    });
    graph_ = ItemMatrixFromRows(lists);
    num_items_ = n;
    BuildScoringIndex();
    ctx.Report("itemknn", 1.0);
    spdlog::info("itemknn: {} items, {} users, {} nnz -> {} similarities in {:.2f}s", n, x.rows,
                 x.nnz(), graph_.nnz(), sw.Seconds());
  }

  void ScoreBatch(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const override {
    ScoreByRows(by_neighbor_, hist, out, ctx);
  }

  void Save(ArtifactWriter& w) const override { SaveItemMatrix(graph_, w); }

  void Load(const ArtifactReader& r) override {
    graph_ = LoadItemMatrix(r, "itemknn");
    num_items_ = graph_.rows;
    BuildScoringIndex();
  }

 private:
  // by_neighbor_ = transpose of the neighbour matrix: row j lists (c, sim(c, j)) for j ∈ N(c).
  void BuildScoringIndex() { by_neighbor_ = graph_.Transpose(); }

  uint32_t neighbors_ = 100;
  double shrinkage_ = 10.0;
  double alpha_ = 0.5;
  nlohmann::json params_;
  uint32_t num_items_ = 0;
  CsrMatrix graph_;  // row c = N(c) with similarities
  CsrMatrix by_neighbor_;
};

}  // namespace

std::unique_ptr<Recommender> NewItemKnn(const nlohmann::json& params) {
  return std::make_unique<ItemKnn>(params);
}

}  // namespace marquee
