// iALS: implicit alternating least squares (Hu, Koren & Volinsky 2008, "Collaborative Filtering
// for Implicit Feedback Datasets") with the regularisation and unobserved-weight scheme of
// Rendle, Krichene, Zhang & Koren 2022 ("Revisiting the Performance of iALS on Item
// Recommendation Benchmarks"). With user factors W (users x k), item factors H (items x k),
// observed set S and confidences c_ui = 1 + alpha·x_ui, the loss is
//
//   L = Σ_{(u,i)∈S} c_ui (⟨w_u,h_i⟩ − 1)²  +  α0 Σ_u Σ_i ⟨w_u,h_i⟩²
//       + λ (Σ_u ν_u ‖w_u‖² + Σ_i ν_i ‖h_i‖²),   ν_u = (|I_u| + α0·|I|)^ν, ν_i = (|U_i| +
//       α0·|U|)^ν.
//
// (The α0 term runs over all pairs, observed ones included, as in Rendle et al.; ν = 1 is their
// frequency-scaled regularisation, ν = 0 plain L2.) Each half-step solves, for every user,
//
//   w_u = (Σ_{i∈I_u} c_ui h_i h_iᵀ + α0·G + λν_u·I)⁻¹ Σ_{i∈I_u} c_ui h_i,     G = HᵀH,
//
// and symmetrically for items. G is computed once per half-step (a GEMM). Two solvers:
//  * "cholesky": forms the k x k system in double and factorises it (exact; O(|I_u|k² + k³)),
//    with the kernels of models/ials/ridge_kernels.h (AVX-512 where the CPU has it, chosen at
//    runtime; the same bits as the portable path);
//  * "cg": `cg_steps` conjugate-gradient steps warm-started from the previous factor (Takács,
//    Pilászy & Tikk 2011, "Applications of the conjugate gradient method for implicit feedback
//    collaborative filtering"), never forming the matrix: A·p = α0·G·p + λν·p + Σ c h (hᵀp),
//    O(|I_u|k + k²) per step, in float32, with the kernels of models/ials/cg_kernels.h
//    (AVX-512 where the CPU has it, chosen at runtime; the same bits as the portable path).
// One iteration is an item step followed by a user step, so the stored user factors are the
// exact (cholesky) or near-exact (cg) user step against the final item factors, and fold-in of a
// training user's history reproduces them. Every row's update depends only on the other side's
// factors, so results are identical for any thread count.
//
// Distributed (Context::comm, under mpirun; issue #18): each rank solves a contiguous block of
// the rows of each side (users by X's rows, items by Xᵀ's, cut to equal work by PartitionRows),
// every half-step's Gram matrix is the allreduced sum of the ranks' Gramians of their blocks of
// the fixed side, and the solved blocks are allgathered, so every rank holds all factors after
// each half-step. Per-row arithmetic is unchanged; only the Gram matrix's summation order
// differs from one process (docs/SCALING.md states the measured difference).
//
// Fold-in (ScoreBatch): each query history gets the exact cholesky user step against H
// regardless of the training solver, then scores = W_batch·Hᵀ, each score a fixed-order dot
// product so that it does not depend on the batch or the thread count.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/communicator.h"
#include "common/log.h"
#include "common/shard.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/artifact.h"
#include "models/ials/cg_kernels.h"
#include "models/ials/factor_math.h"
#include "models/params.h"

namespace marquee {
namespace {

class Ials final : public Recommender {
 public:
  explicit Ials(const nlohmann::json& params) {
    ParamReader p("ials", params);
    // Defaults: tuned without per-dataset search on MovieLens-100K and ML-latest-small (strong
    // generalisation, recall@20); ν = 1 as in Rendle et al.'s best configurations. Because
    // ν_u grows with α0·|I|, much larger catalogues may want a smaller reg or unobserved_weight.
    factors_ = static_cast<int>(p.Integer("factors", 64, 1, 4096));
    iterations_ = static_cast<int>(p.Integer("iterations", 16, 0, 10000));
    reg_ = p.Number("reg", 0.01, 0.0, 1e9);
    unobserved_weight_ = p.Number("unobserved_weight", 0.2, 0.0, 1e9);
    reg_exponent_ = p.Number("reg_exponent", 1.0, 0.0, 4.0);
    alpha_ = p.Number("alpha", 0.0, 0.0, 1e9);
    init_stddev_ =
        p.Number("init_stddev", 0.1 / std::sqrt(static_cast<double>(factors_)), 0.0, 1e3);
    solver_ = p.Choice("solver", "cg", {"cg", "cholesky"});
    cg_steps_ = static_cast<int>(p.Integer("cg_steps", 3, 1, 1000));
    p.Finish();
    params_ = p.resolved();
  }
  std::string_view family() const override { return "ials"; }
  nlohmann::json params() const override { return params_; }
  uint32_t num_items() const override { return static_cast<uint32_t>(h_.rows()); }
  bool distributed_fit() const override { return true; }

  ShardPlan shard_plan() const override {
    // A row's cost is its entries (k each) plus its k x k solve; both sides are solved.
    return {static_cast<uint64_t>(factors_), true};
  }

  void Fit(const CsrMatrix& x, const Context& ctx) override {
    const int k = factors_;
    CheckShard(ctx);
    // Several ranks with a shard: x holds this rank's users' rows and the shard its items' rows
    // of Xᵀ, which is all the half-steps read. Otherwise x is whole and so is its transpose.
    CsrMatrix whole_xt;
    if (ctx.shard == nullptr) whole_xt = x.Transpose();
    const CsrMatrix& xt = ctx.shard != nullptr ? ctx.shard->item_rows : whole_xt;
    // Sequential initialisation from the seed: W then H, N(0, init_stddev²).
    Rng rng(DeriveSeed(ctx.seed, 0x1A15));
    w_.resize(x.rows, k);
    h_.resize(x.cols, k);
    FillNormal(w_, init_stddev_, rng);
    FillNormal(h_, init_stddev_, rng);
    // The rows this rank solves: a row's cost is its entries (k each) plus its k x k solve.
    const Shard users{ctx.shard != nullptr
                          ? ctx.shard->user_offsets
                          : PartitionRows(x.indptr, Ranks(ctx), shard_plan().row_cost),
                      Rank(ctx)};
    const Shard items{ctx.shard != nullptr
                          ? ctx.shard->item_offsets
                          : PartitionRows(xt.indptr, Ranks(ctx), shard_plan().row_cost),
                      Rank(ctx)};
    ctx.Report("ials", 0.0);
    Stopwatch total;
    for (int it = 0; it < iterations_; ++it) {
      Stopwatch sw;
      SolveSide(xt, w_, users, h_, items, ctx);  // items given users
      SolveSide(x, h_, items, w_, users, ctx);   // users given items
      ctx.Report("ials", static_cast<double>(it + 1) / iterations_);
      spdlog::debug("ials: iteration {}/{} took {:.2f}s", it + 1, iterations_, sw.Seconds());
    }
    gram_ = Gramian(h_, ctx.threads);
    spdlog::info("ials: {} users x {} items, {} nnz, k={}, {} iterations ({}) in {:.2f}s", x.rows,
                 x.cols, ctx.shard != nullptr ? ctx.shard->nnz : x.nnz(), k, iterations_, solver_,
                 total.Seconds());
  }

  void ScoreBatch(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const override {
    ScoreByFoldIn(hist, h_, out, ctx,
                  [&](size_t begin, size_t end, float* w) { FoldInRows(hist, begin, end, w); });
  }

  ItemFactors item_factors() const override {
    return {h_.data(), static_cast<uint32_t>(h_.rows()), static_cast<uint32_t>(h_.cols())};
  }

  void FoldIn(const CsrMatrix& hist, std::span<float> out, const Context& ctx) const override {
    FoldInByRanges(hist, h_.cols(), out, ctx,
                   [&](size_t begin, size_t end, float* w) { FoldInRows(hist, begin, end, w); });
  }

  void Save(ArtifactWriter& w) const override {
    const auto k = static_cast<uint64_t>(factors_);
    w.Add<float>("item_factors", {h_.data(), static_cast<size_t>(h_.size())},
                 {static_cast<uint64_t>(h_.rows()), k});
    w.Add<float>("user_factors", {w_.data(), static_cast<size_t>(w_.size())},
                 {static_cast<uint64_t>(w_.rows()), k});
  }

  void Load(const ArtifactReader& r) override {
    LoadFactors(r, "item_factors", h_);
    LoadFactors(r, "user_factors", w_);
    gram_ = Gramian(h_, 1);
  }

 private:
  void LoadFactors(const ArtifactReader& r, const std::string& name, RowMatrixXf& m) const {
    const auto shape = r.Shape(name);
    if (shape.size() != 2 || shape[1] != static_cast<uint64_t>(factors_)) {
      Fail(ErrorCode::kCorruption, "ials artifact: {} is not an n x {} matrix", name, factors_);
    }
    const auto data = r.Get<float>(name);
    if (data.size() != shape[0] * shape[1]) {
      Fail(ErrorCode::kCorruption, "ials artifact: {} has {} values, shape says {}", name,
           data.size(), shape[0] * shape[1]);
    }
    m = Eigen::Map<const RowMatrixXf>(data.data(), static_cast<Eigen::Index>(shape[0]),
                                      static_cast<Eigen::Index>(shape[1]));
  }

  // The exact user step of history rows [begin, end) into out (rows x k floats).
  void FoldInRows(const CsrMatrix& hist, size_t begin, size_t end, float* out) const {
    const size_t ni = static_cast<size_t>(h_.rows());
    RidgeScratch scratch;
    std::vector<uint32_t> items;
    std::vector<float> vals;
    for (size_t r = begin; r < end; ++r) {
      items.clear();
      vals.clear();
      const auto idx = hist.row_indices(static_cast<uint32_t>(r));
      const auto val = hist.row_values(static_cast<uint32_t>(r));
      for (size_t n = 0; n < idx.size(); ++n) {
        if (idx[n] >= ni) continue;  // items unknown to the model carry no signal
        items.push_back(idx[n]);
        vals.push_back(val[n]);
      }
      SolveExact(items, vals, h_, gram_, static_cast<Eigen::Index>(ni), scratch,
                 out + (r - begin) * static_cast<size_t>(factors_));
    }
  }

  // λ·ν_u with ν_u = (|I_u| + α0·|I|)^ν; `others` is |I| (the number of rows of the fixed side).
  double RowReg(size_t count, Eigen::Index others) const {
    return reg_ *
           std::pow(static_cast<double>(count) + unobserved_weight_ * static_cast<double>(others),
                    reg_exponent_);
  }
  float Confidence(float value) const {
    return static_cast<float>(1.0 + alpha_ * static_cast<double>(value));
  }

  // The exact user step for one history (training with solver = cholesky, and fold-in).
  void SolveExact(std::span<const uint32_t> items, std::span<const float> vals,
                  const RowMatrixXf& fixed, const Eigen::MatrixXd& gram, Eigen::Index others,
                  RidgeScratch& scratch, float* out) const {
    RidgeSolve(
        fixed, items,
        [&](size_t n, double& c, double& t) {
          c = Confidence(vals[n]);
          t = 1.0;
        },
        gram, unobserved_weight_, RowReg(items.size(), others), scratch, out);
  }

  // The rows of one side each rank owns (offsets from PartitionRows) and this rank's index.
  struct Shard {
    std::vector<uint64_t> offsets;
    int rank = 0;
    uint64_t begin() const { return offsets[static_cast<size_t>(rank)]; }
    uint64_t end() const { return offsets[static_cast<size_t>(rank) + 1]; }
  };
  static int Rank(const Context& ctx) { return ctx.comm != nullptr ? ctx.comm->rank() : 0; }
  static int Ranks(const Context& ctx) { return ctx.comm != nullptr ? ctx.comm->size() : 1; }

  // G = FᵀF: with several ranks, the sum (allreduce) of each rank's Gramian of its own rows.
  static Eigen::MatrixXd SharedGramian(const RowMatrixXf& f, const Shard& rows,
                                       const Context& ctx) {
    if (Ranks(ctx) == 1) return Gramian(f, ctx.threads);
    const RowMatrixXf mine = f.middleRows(static_cast<Eigen::Index>(rows.begin()),
                                          static_cast<Eigen::Index>(rows.end() - rows.begin()));
    Eigen::MatrixXd g = Gramian(mine, ctx.threads);
    ctx.comm->AllReduceSum({g.data(), static_cast<size_t>(g.size())});
    return g;
  }

  // Updates this rank's rows of `solved` given the fixed factors (rows of `m` index `solved`,
  // columns index `fixed`), then gathers every rank's rows so that all ranks hold all of
  // `solved`.
  void SolveSide(const CsrMatrix& m, const RowMatrixXf& fixed, const Shard& fixed_rows,
                 RowMatrixXf& solved, const Shard& solved_rows, const Context& ctx) const {
    SolveRows(m, fixed, SharedGramian(fixed, fixed_rows, ctx), solved, solved_rows.begin(),
              solved_rows.end(), ctx.threads);
    if (Ranks(ctx) == 1) return;
    std::vector<uint64_t> floats(solved_rows.offsets);
    for (auto& o : floats) o *= static_cast<uint64_t>(solved.cols());
    ctx.comm->AllGather({solved.data(), static_cast<size_t>(solved.size())}, floats);
  }

  // Updates rows [first, last) of `solved` given the fixed factors and their Gram matrix.
  void SolveRows(const CsrMatrix& m, const RowMatrixXf& fixed, const Eigen::MatrixXd& gram,
                 RowMatrixXf& solved, uint64_t first, uint64_t last, int threads) const {
    const Eigen::Index others = fixed.rows();
    const int t_count = std::max(threads, 1);
    if (solver_ == "cholesky") {
      std::vector<RidgeScratch> scratch(static_cast<size_t>(t_count));
      ParallelForDynamic(last - first, threads, 64, [&](size_t i, int t) {
        const size_t r = first + i;
        const auto row = static_cast<uint32_t>(r);
        SolveExact(m.row_indices(row), m.row_values(row), fixed, gram, others,
                   scratch[static_cast<size_t>(t)],
                   solved.row(static_cast<Eigen::Index>(r)).data());
      });
      return;
    }
    // Conjugate gradient on A w = b with A = α0·G + λν·I + Σ c h hᵀ and b = Σ c h, warm-started
    // from the current row, with the kernels of cg_kernels.h (A applied implicitly, float32).
    // The history rows are read in place: a short history stays in L1/L2 across the four passes
    // (packing it into a contiguous block first cost more than it saved: 0.19 against 0.15 s of
    // CPU per iteration on a 4M-interaction set), and the kernel prefetches each next tile.
    const Eigen::Index k = fixed.cols();
    const RowMatrixXf a0g = (unobserved_weight_ * gram).cast<float>();  // symmetric
    const cg::Kernels& kern = cg::ActiveKernels();
    struct Scratch {
      std::vector<const float*> rows;
      std::vector<float> conf, work;
    };
    std::vector<Scratch> scratch(static_cast<size_t>(t_count));
    for (auto& s : scratch) s.work.resize(cg::SolveRowScratch(static_cast<int>(k)));
    ParallelForDynamic(last - first, threads, 64, [&](size_t j, int t) {
      const size_t r_index = first + j;
      Scratch& s = scratch[static_cast<size_t>(t)];
      const auto row = static_cast<uint32_t>(r_index);
      const auto idx = m.row_indices(row);
      const auto val = m.row_values(row);
      const size_t n = idx.size();
      s.rows.resize(n);
      s.conf.resize(n);
      for (size_t i = 0; i < n; ++i) {
        s.rows[i] = fixed.row(idx[i]).data();
        s.conf[i] = Confidence(val[i]);
      }
      cg::SolveRow(kern, s.rows.data(), s.conf.data(), n, static_cast<int>(k), a0g.data(),
                   static_cast<float>(RowReg(n, others)), cg_steps_,
                   solved.row(static_cast<Eigen::Index>(r_index)).data(), s.work.data());
    });
  }

  int factors_ = 64;
  int iterations_ = 16;
  double reg_ = 0.01;
  double unobserved_weight_ = 0.2;
  double reg_exponent_ = 1.0;
  double alpha_ = 0.0;
  double init_stddev_ = 0.0125;
  std::string solver_ = "cg";
  int cg_steps_ = 3;
  nlohmann::json params_;
  RowMatrixXf w_;         // users x k
  RowMatrixXf h_;         // items x k
  Eigen::MatrixXd gram_;  // HᵀH of the final item factors (fold-in)
};

}  // namespace

std::unique_ptr<Recommender> NewIals(const nlohmann::json& params) {
  return std::make_unique<Ials>(params);
}

}  // namespace marquee
