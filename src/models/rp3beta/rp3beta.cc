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
#include <cmath>

#include "models/item_graph.h"
#include "models/params.h"

namespace marquee {
namespace {

class Rp3Beta final : public ItemGraphModel {
 public:
  // Scores by rows: row i of the matrix is W(i, ·), and a history item i adds it.
  explicit Rp3Beta(const nlohmann::json& params)
      : ItemGraphModel("rp3beta", "transitions", ScoreBy::kRows) {
    ParamReader p("rp3beta", params);
    neighbors_ = static_cast<uint32_t>(p.Integer("neighbors", kDefaultNeighbors, 1, 1 << 20));
    alpha_ = p.Number("alpha", kDefaultAlpha, 0.0, 10.0);
    beta_ = p.Number("beta", kDefaultBeta, 0.0, 10.0);
    normalize_ = p.Bool("normalize", true);
    p.Finish();
    set_params(p.resolved());
  }

 private:
  static constexpr int64_t kDefaultNeighbors = 200;
  static constexpr double kDefaultAlpha = 0.8;
  static constexpr double kDefaultBeta = 0.5;

  void ComputeRows(const CsrMatrix& x, const CsrMatrix& xt, const Context& ctx,
                   std::vector<std::vector<Neighbor>>& rows) const override {
    const uint32_t n = x.cols;
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
    struct Scratch {
      std::vector<double> acc;
      std::vector<uint8_t> seen;
      std::vector<uint32_t> touched;
      TopNeighbors top;
    };
    Scratch scratch;
    scratch.acc.assign(n, 0.0);
    scratch.seen.assign(n, 0);
    ForEachItem(n, ctx, scratch, [&](uint32_t i, Scratch& s) {
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
    });
  }

  uint32_t neighbors_ = kDefaultNeighbors;
  double alpha_ = kDefaultAlpha;
  double beta_ = kDefaultBeta;
  bool normalize_ = true;
};

}  // namespace

std::unique_ptr<Recommender> NewRp3Beta(const nlohmann::json& params) {
  return std::make_unique<Rp3Beta>(params);
}

}  // namespace marquee
