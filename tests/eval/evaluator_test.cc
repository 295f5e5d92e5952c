#include "eval/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "marquee/error.h"

namespace marquee {
namespace {

using ::testing::HasSubstr;

// A recommender with scores fixed at construction: every query row gets `base`, optionally
// perturbed by a hash of its history (so different users rank differently, with many ties).
class FixedScores final : public Recommender {
 public:
  explicit FixedScores(std::vector<float> base, bool history_dependent = false)
      : base_(std::move(base)), history_dependent_(history_dependent) {}
  std::string_view family() const override { return "fixed"; }
  nlohmann::json params() const override { return nlohmann::json::object(); }
  void Fit(const CsrMatrix&, const Context&) override {}
  uint32_t num_items() const override { return static_cast<uint32_t>(base_.size()); }
  void ScoreBatch(const CsrMatrix& h, std::span<float> out, const Context&) const override {
    const size_t n = base_.size();
    if (out.size() != h.rows * n) Fail(ErrorCode::kInternal, "bad output size");
    for (uint32_t r = 0; r < h.rows; ++r) {
      uint64_t seed = 0;
      for (uint32_t i : h.row_indices(r)) seed = seed * 1000003u + i + 1;
      for (size_t i = 0; i < n; ++i) {
        float s = base_[i];
        if (history_dependent_) {
          s += static_cast<float>(((seed + 1) * 0x9E3779B97F4A7C15ull + i * 40503u) >> 60);
        }
        out[r * n + i] = s;
      }
    }
  }
  void Save(ArtifactWriter&) const override {}
  void Load(const ArtifactReader&) override {}

 private:
  std::vector<float> base_;
  bool history_dependent_;
};

CsrMatrix Rows(uint32_t cols, const std::vector<std::vector<uint32_t>>& rows) {
  CsrMatrix m;
  m.cols = cols;
  for (const auto& r : rows) m.AppendRow(r, std::vector<float>(r.size(), 1.0f));
  return m;
}

std::vector<MetricSpec> Specs(const std::vector<std::string>& names) {
  std::vector<MetricSpec> out;
  for (const auto& n : names) out.push_back(ParseMetric(n));
  return out;
}

double Get(const EvalResult& r, const std::string& name) {
  for (const auto& [n, v] : r.metrics) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no metric " << name;
  return -1;
}

// Items 0..5 rank in index order (descending scores). Hand-worked users:
//   A: input {0}, targets {1, 4}: ranking 1 2 3 4 5 -> top-2 {1, 2}, best target at rank 1
//   B: input {},  targets {5}:    ranking 0 1 2 3 4 5 -> no hit in top-2, best target rank 6
//   C: input {1}, targets {}:     skipped
//   D: input {2, 3}, targets {0, 4}: ranking 0 1 4 5 -> top-2 {0, 1}, best target rank 1
TEST(Evaluate, HandComputedMetrics) {
  const FixedScores model({0.6f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f});
  EvalSet eval;
  eval.input = Rows(6, {{0}, {}, {1}, {2, 3}});
  eval.target = Rows(6, {{1, 4}, {5}, {}, {0, 4}});
  eval.users = {0, 1, 2, 3};
  Context ctx;
  const EvalResult r = Evaluate(model, eval,
                                Specs({"recall@2", "ndcg@2", "hitrate@2", "precision@2", "map@2",
                                       "mrr", "mrr@2", "coverage@2", "recall@5", "ndcg@5"}),
                                ctx, 2);
  EXPECT_EQ(r.users_evaluated, 3u);
  EXPECT_EQ(r.users_skipped, 1u);
  EXPECT_EQ(r.items, 6u);
  const double d2 = 1.0 / std::log2(3.0);
  EXPECT_DOUBLE_EQ(Get(r, "recall@2"), (0.5 + 0.0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(Get(r, "ndcg@2"), (1.0 / (1.0 + d2) + 0.0 + 1.0 / (1.0 + d2)) / 3);
  EXPECT_DOUBLE_EQ(Get(r, "hitrate@2"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Get(r, "precision@2"), (0.5 + 0.0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(Get(r, "map@2"), (0.5 + 0.0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(Get(r, "mrr"), (1.0 + 1.0 / 6 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(Get(r, "mrr@2"), (1.0 + 0.0 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(Get(r, "coverage@2"), 3.0 / 6);  // {0, 1, 2}; C's list does not count
  // K = 5: A hits 1 (rank 1) and 4 (rank 4); B hits 5? no (rank 6); D hits 0 (1) and 4 (3).
  EXPECT_DOUBLE_EQ(Get(r, "recall@5"), (1.0 + 0.0 + 1.0) / 3);
  const double d4 = 1.0 / std::log2(5.0), d3 = 0.5;
  EXPECT_DOUBLE_EQ(Get(r, "ndcg@5"), ((1.0 + d4) / (1.0 + d2) + 0.0 + (1.0 + d3) / (1.0 + d2)) / 3);
  // Metrics come back in the order asked.
  ASSERT_EQ(r.metrics.size(), 10u);
  EXPECT_EQ(r.metrics[0].first, "recall@2");
  EXPECT_EQ(r.metrics[5].first, "mrr");

  const nlohmann::json j = r.ToJson();
  EXPECT_DOUBLE_EQ(j.at("metrics").at("hitrate@2").get<double>(), 2.0 / 3);
  EXPECT_EQ(j.at("users_evaluated"), 3);
  EXPECT_EQ(j.at("users_skipped"), 1);
  EXPECT_EQ(j.at("items"), 6);
  EXPECT_TRUE(j.contains("seconds"));
}

TEST(Evaluate, TiesRankLowerIndexFirst) {
  const FixedScores model(std::vector<float>(5, 1.0f));  // all equal: ranking 0 1 2 3 4
  EvalSet eval;
  eval.input = Rows(5, {{0}, {}});
  eval.target = Rows(5, {{2}, {3}});
  const EvalResult r = Evaluate(model, eval, Specs({"hitrate@2", "mrr", "coverage@2"}), {}, 256);
  // Row 0: ranking 1 2 3 4 -> 2 at rank 2. Row 1: ranking 0 1 2 3 4 -> 3 at rank 4.
  EXPECT_DOUBLE_EQ(Get(r, "hitrate@2"), 0.5);
  EXPECT_DOUBLE_EQ(Get(r, "mrr"), (0.5 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(Get(r, "coverage@2"), 3.0 / 5);
}

// A straightforward reference: full stable sort of the unmasked items, metrics from the
// definitions with sets.
std::map<std::string, double> NaiveEvaluate(const Recommender& model, const EvalSet& eval,
                                            uint32_t k) {
  const uint32_t n = model.num_items();
  std::vector<float> scores(static_cast<size_t>(eval.input.rows) * n);
  model.ScoreBatch(eval.input, scores, Context{});
  double recall = 0, ndcg = 0, mrr = 0, users = 0;
  std::set<uint32_t> covered;
  for (uint32_t r = 0; r < eval.input.rows; ++r) {
    const auto tg = eval.target.row_indices(r);
    if (tg.empty()) continue;
    users += 1;
    const std::set<uint32_t> targets(tg.begin(), tg.end());
    const auto in = eval.input.row_indices(r);
    const std::set<uint32_t> input(in.begin(), in.end());
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < n; ++i) {
      if (!input.count(i)) order.push_back(i);
    }
    const float* s = scores.data() + static_cast<size_t>(r) * n;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return s[a] > s[b]; });
    double hits = 0, dcg = 0, idcg = 0;
    for (size_t p = 0; p < order.size(); ++p) {
      if (p < k) covered.insert(order[p]);
      if (!targets.count(order[p])) continue;
      if (p < k) {
        hits += 1;
        dcg += 1.0 / std::log2(p + 2.0);
      }
    }
    for (size_t p = 0; p < order.size(); ++p) {
      if (targets.count(order[p])) {
        mrr += 1.0 / static_cast<double>(p + 1);
        break;
      }
    }
    const size_t ideal = std::min<size_t>(k, targets.size());
    for (size_t p = 0; p < ideal; ++p) idcg += 1.0 / std::log2(p + 2.0);
    recall += hits / static_cast<double>(ideal);
    ndcg += dcg / idcg;
  }
  return {{"recall", recall / users},
          {"ndcg", ndcg / users},
          {"mrr", mrr / users},
          {"coverage", static_cast<double>(covered.size()) / n}};
}

EvalSet RandomEvalSet(uint32_t rows, uint32_t items, uint64_t seed) {
  std::mt19937_64 rng(seed);
  EvalSet eval;
  eval.input.cols = eval.target.cols = items;
  for (uint32_t r = 0; r < rows; ++r) {
    std::vector<uint32_t> in, tg;
    for (uint32_t i = 0; i < items; ++i) {
      const auto x = rng() % 10;
      if (x == 0) in.push_back(i);
      if (x == 1 && r % 7 != 3) tg.push_back(i);  // every 7th row has no targets
    }
    eval.input.AppendRow(in, std::vector<float>(in.size(), 1.0f));
    eval.target.AppendRow(tg, std::vector<float>(tg.size(), 1.0f));
    eval.users.push_back(r);
  }
  return eval;
}

TEST(Evaluate, AgreesWithANaiveFullSort) {
  std::mt19937_64 rng(3);
  std::vector<float> base(120);
  for (auto& b : base) b = static_cast<float>(rng() % 5);
  const FixedScores model(base, /*history_dependent=*/true);
  const EvalSet eval = RandomEvalSet(300, 120, 4);
  const auto want = NaiveEvaluate(model, eval, 10);
  Context ctx;
  ctx.threads = 3;
  const EvalResult r =
      Evaluate(model, eval, Specs({"recall@10", "ndcg@10", "mrr", "coverage@10"}), ctx, 17);
  EXPECT_EQ(r.users_skipped, 300u / 7 + 1);  // rows 3, 10, ..., 297
  EXPECT_NEAR(Get(r, "recall@10"), want.at("recall"), 1e-12);
  EXPECT_NEAR(Get(r, "ndcg@10"), want.at("ndcg"), 1e-12);
  EXPECT_NEAR(Get(r, "mrr"), want.at("mrr"), 1e-12);
  EXPECT_DOUBLE_EQ(Get(r, "coverage@10"), want.at("coverage"));
}

TEST(Evaluate, ResultDoesNotDependOnThreadCount) {
  std::mt19937_64 rng(5);
  std::vector<float> base(200);
  for (auto& b : base) b = static_cast<float>(rng() % 1000) / 7.0f;
  const FixedScores model(base, true);
  const EvalSet eval = RandomEvalSet(1000, 200, 6);
  const auto specs = Specs(
      {"recall@20", "ndcg@20", "map@20", "precision@5", "hr@1", "mrr", "mrr@10", "coverage@3"});
  Context ctx;
  ctx.threads = 1;
  const EvalResult one = Evaluate(model, eval, specs, ctx, 32);
  for (int threads : {2, 3, 8}) {
    ctx.threads = threads;
    const EvalResult many = Evaluate(model, eval, specs, ctx, 32);
    ASSERT_EQ(many.metrics.size(), one.metrics.size());
    for (size_t m = 0; m < one.metrics.size(); ++m) {
      EXPECT_EQ(many.metrics[m].second, one.metrics[m].second)  // bit for bit
          << one.metrics[m].first << " with " << threads << " threads";
    }
    EXPECT_EQ(many.users_evaluated, one.users_evaluated);
  }
}

TEST(Evaluate, PopularityOnASplitAndProgressReachesOne) {
  std::mt19937_64 rng(9);
  std::vector<RawInteraction> rows;
  for (int u = 0; u < 300; ++u) {
    for (int k = 0; k < 12; ++k) {
      // Skewed item choice so popularity has something to find.
      const uint64_t item = (rng() % 40) * (rng() % 40) / 40;
      rows.push_back({"u" + std::to_string(u), "i" + std::to_string(item), 1.0f, 0});
    }
  }
  const Dataset ds = Dataset::FromRows(rows, false, false, "skewed");
  SplitConfig c;
  c.test_users = 60;
  const Split split = MakeSplit(ds, std::nullopt, c);
  auto model = CreateRecommender("popularity", nlohmann::json::object());
  model->Fit(split.train, Context{});

  std::mutex mu;
  std::vector<double> fractions;
  Context ctx;
  ctx.threads = 2;
  ctx.progress = [&](std::string_view stage, double f) {
    EXPECT_EQ(stage, "evaluate");
    std::lock_guard<std::mutex> lock(mu);
    fractions.push_back(f);
  };
  const auto specs = Specs({"recall@5", "ndcg@10", "mrr"});
  const EvalResult r = Evaluate(*model, split.eval, specs, ctx, 8);
  EXPECT_EQ(r.users_evaluated, 60u);
  EXPECT_GT(Get(r, "recall@5"), 0.0);
  ASSERT_FALSE(fractions.empty());
  EXPECT_DOUBLE_EQ(*std::max_element(fractions.begin(), fractions.end()), 1.0);

  // Popularity scores every user alike, so its metrics are those of the FixedScores model with
  // the same scores.
  std::vector<float> counts(ds.num_items(), 0.0f);
  for (uint32_t i : split.train.indices) counts[i] += 1.0f;
  const EvalResult same = Evaluate(FixedScores(counts), split.eval, specs, Context{}, 256);
  for (size_t m = 0; m < specs.size(); ++m) {
    EXPECT_DOUBLE_EQ(r.metrics[m].second, same.metrics[m].second) << specs[m].name;
  }
}

TEST(Evaluate, RejectsMismatchedShapesAndZeroBatch) {
  const FixedScores model(std::vector<float>(4, 1.0f));
  EvalSet eval;
  eval.input = Rows(5, {{0}});
  eval.target = Rows(5, {{1}});
  try {
    Evaluate(model, eval, Specs({"recall@2"}), {}, 256);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("4 items"));
  }
  eval.input.cols = eval.target.cols = 4;
  EXPECT_THROW(Evaluate(model, eval, Specs({"recall@2"}), {}, 0), Error);
}

}  // namespace
}  // namespace marquee
