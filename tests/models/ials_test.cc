#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "model_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

using ::testing::HasSubstr;

struct Factors {
  std::vector<float> w, h;  // row-major users x k, items x k
  size_t users = 0, items = 0, k = 0;
};

Factors ReadFactors(const Recommender& m) {
  testing::TempDir dir;
  auto r = testing::SaveArtifact(m, dir.file("model.mqa"));
  Factors f;
  f.w = r->GetVector<float>("user_factors");
  f.h = r->GetVector<float>("item_factors");
  f.users = r->Shape("user_factors")[0];
  f.items = r->Shape("item_factors")[0];
  f.k = r->Shape("item_factors")[1];
  return f;
}

// The iALS objective of Rendle et al. 2022, evaluated by brute force in double:
// Σ_S c (ŷ−1)² + α0 Σ_u Σ_i ŷ² + λ (Σ_u ν_u‖w_u‖² + Σ_i ν_i‖h_i‖²).
double IalsLoss(const CsrMatrix& x, const Factors& f, const nlohmann::json& p) {
  const double reg = p["reg"], a0 = p["unobserved_weight"], nu = p["reg_exponent"],
               alpha = p["alpha"];
  const CsrMatrix xt = x.Transpose();
  auto dot = [&](size_t u, size_t i) {
    double s = 0;
    for (size_t d = 0; d < f.k; ++d) s += double(f.w[u * f.k + d]) * f.h[i * f.k + d];
    return s;
  };
  auto norm2 = [&](const std::vector<float>& m, size_t r) {
    double s = 0;
    for (size_t d = 0; d < f.k; ++d) s += double(m[r * f.k + d]) * m[r * f.k + d];
    return s;
  };
  double loss = 0;
  for (uint32_t u = 0; u < x.rows; ++u) {
    for (uint64_t q = x.indptr[u]; q < x.indptr[u + 1]; ++q) {
      const double e = dot(u, x.indices[q]) - 1.0;
      loss += (1.0 + alpha * x.values[q]) * e * e;
    }
    for (size_t i = 0; i < f.items; ++i) loss += a0 * dot(u, i) * dot(u, i);
    loss += reg * std::pow(x.row_size(u) + a0 * x.cols, nu) * norm2(f.w, u);
  }
  for (uint32_t i = 0; i < x.cols; ++i) {
    loss += reg * std::pow(xt.row_size(i) + a0 * x.rows, nu) * norm2(f.h, i);
  }
  return loss;
}

std::unique_ptr<Recommender> Train(const nlohmann::json& params, const CsrMatrix& x,
                                   int threads = 1, uint64_t seed = 42) {
  auto m = CreateRecommender("ials", params);
  Context ctx;
  ctx.threads = threads;
  ctx.seed = seed;
  m->Fit(x, ctx);
  return m;
}

CsrMatrix Data() { return testing::PlantedClusters(240, 90, 5, 12, 0.75, 3); }

TEST(Ials, LossDecreasesEveryIterationForBothSolvers) {
  // Non-binary values with alpha > 0 exercise the Hu et al. confidences too.
  CsrMatrix x = Data();
  for (size_t q = 0; q < x.values.size(); ++q) x.values[q] = 1.0f + static_cast<float>(q % 3);
  for (const std::string solver : {"cholesky", "cg"}) {
    for (double alpha : {0.0, 2.0}) {
      std::vector<double> losses;
      for (int it = 1; it <= 6; ++it) {
        auto m =
            Train({{"factors", 12}, {"iterations", it}, {"solver", solver}, {"alpha", alpha}}, x);
        losses.push_back(IalsLoss(x, ReadFactors(*m), m->params()));
      }
      for (size_t t = 1; t < losses.size(); ++t) {
        EXPECT_LE(losses[t], losses[t - 1] * (1 + 1e-6))
            << solver << " alpha " << alpha << " iteration " << t + 1;
      }
      EXPECT_LT(losses.back(), 0.9 * losses.front()) << solver;
    }
  }
}

TEST(Ials, ConjugateGradientMatchesCholesky) {
  const CsrMatrix x = Data();
  const nlohmann::json base = {{"factors", 16}, {"iterations", 10}};
  nlohmann::json chol = base, cg = base, cg_long = base;
  chol["solver"] = "cholesky";
  cg["solver"] = "cg";
  cg_long["solver"] = "cg";
  cg_long["cg_steps"] = 64;
  auto m_chol = Train(chol, x), m_cg = Train(cg, x), m_long = Train(cg_long, x);
  const double l_chol = IalsLoss(x, ReadFactors(*m_chol), m_chol->params());
  const double l_cg = IalsLoss(x, ReadFactors(*m_cg), m_cg->params());
  const double l_long = IalsLoss(x, ReadFactors(*m_long), m_long->params());
  // Three warm-started CG steps per solve track the exact solves closely...
  EXPECT_NEAR(l_cg / l_chol, 1.0, 0.002);
  // ...and with enough steps CG is the exact solver (k = 16 dimensions).
  EXPECT_NEAR(l_long / l_chol, 1.0, 1e-4);
  const CsrMatrix q = x.SelectRows(std::vector<uint32_t>{0, 1, 2, 3, 50, 100, 239});
  const auto s_chol = testing::ScoreAll(*m_chol, q);
  const auto s_cg = testing::ScoreAll(*m_cg, q);
  const auto s_long = testing::ScoreAll(*m_long, q);
  double diff_cg = 0, diff_long = 0, norm = 0;
  for (size_t n = 0; n < s_chol.size(); ++n) {
    norm += double(s_chol[n]) * s_chol[n];
    diff_cg += std::pow(double(s_cg[n]) - s_chol[n], 2);
    diff_long += std::pow(double(s_long[n]) - s_chol[n], 2);
  }
  EXPECT_LT(std::sqrt(diff_cg / norm), 0.05);
  EXPECT_LT(std::sqrt(diff_long / norm), 1e-5);
}

TEST(Ials, FoldInOfATrainingHistoryReproducesTheTrainedUser) {
  const CsrMatrix x = Data();
  // The last half-step of training is the exact user step against the final item factors, and
  // fold-in solves the same system, so the scores match W·Hᵀ of the trained users.
  for (int threads : {1, 2}) {
    auto m = Train({{"factors", 16}, {"iterations", 5}, {"solver", "cholesky"}}, x, threads);
    const Factors f = ReadFactors(*m);
    std::vector<uint32_t> users = {0, 7, 42, 119, 239};
    const auto s = testing::ScoreAll(*m, x.SelectRows(users), threads);
    double max_abs = 0, max_err = 0;
    for (size_t r = 0; r < users.size(); ++r) {
      for (size_t i = 0; i < f.items; ++i) {
        double want = 0;
        for (size_t d = 0; d < f.k; ++d) want += double(f.w[users[r] * f.k + d]) * f.h[i * f.k + d];
        max_abs = std::max(max_abs, std::abs(want));
        max_err = std::max(max_err, std::abs(want - s[r * f.items + i]));
      }
    }
    EXPECT_GT(max_abs, 0.1);
    EXPECT_LT(max_err, 1e-5 * max_abs) << "threads " << threads;
  }
}

TEST(Ials, DeterministicForSeedAndThreadCount) {
  const CsrMatrix x = Data();
  const nlohmann::json p = {{"factors", 16}, {"iterations", 3}};
  for (int threads : {1, 2}) {
    const Factors a = ReadFactors(*Train(p, x, threads));
    const Factors b = ReadFactors(*Train(p, x, threads));
    EXPECT_EQ(a.w, b.w) << "threads " << threads;
    EXPECT_EQ(a.h, b.h) << "threads " << threads;
  }
  // Every row's solve depends only on the other side, so the thread count does not matter.
  EXPECT_EQ(ReadFactors(*Train(p, x, 1)).h, ReadFactors(*Train(p, x, 2)).h);
  EXPECT_NE(ReadFactors(*Train(p, x, 1, 42)).h, ReadFactors(*Train(p, x, 1, 43)).h);
}

TEST(Ials, SaveLoadRoundTripScoresBitIdentically) {
  const CsrMatrix x = Data();
  auto m = Train({{"factors", 8}, {"iterations", 3}}, x, 2);
  testing::TempDir dir;
  auto reader = testing::SaveArtifact(*m, dir.file("ials.mqa"));
  EXPECT_EQ(reader->Shape("item_factors"), (std::vector<uint64_t>{90, 8}));
  EXPECT_EQ(reader->Shape("user_factors"), (std::vector<uint64_t>{240, 8}));
  auto loaded = CreateRecommender("ials", m->params());
  loaded->Load(*reader);
  const CsrMatrix q = x.SelectRows(std::vector<uint32_t>{3, 1, 4, 1, 5, 9, 2, 6});
  EXPECT_EQ(testing::ScoreAll(*loaded, q), testing::ScoreAll(*m, q));
  // A model of another width refuses the artifact.
  auto wrong = CreateRecommender("ials", {{"factors", 9}});
  try {
    wrong->Load(*reader);
    FAIL() << "expected kCorruption";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption);
  }
}

TEST(Ials, ScoresDoNotDependOnTheBatchOrThreadCount) {
  const CsrMatrix x = Data();
  auto m = Train({{"factors", 24}, {"iterations", 3}}, x);
  std::vector<uint32_t> rows(37);
  for (uint32_t r = 0; r < rows.size(); ++r) rows[r] = (r * 13) % x.rows;
  const auto batch = testing::ScoreAll(*m, x.SelectRows(rows), 1);
  EXPECT_EQ(batch, testing::ScoreAll(*m, x.SelectRows(rows), 2));
  for (size_t r : {size_t{0}, size_t{20}, size_t{36}}) {
    const auto alone = testing::ScoreAll(*m, x.SelectRows(std::vector<uint32_t>{rows[r]}));
    EXPECT_TRUE(std::equal(alone.begin(), alone.end(), batch.begin() + r * x.cols)) << r;
  }
}

TEST(Ials, EmptyAndUnknownHistoriesAreHandled) {
  const CsrMatrix x = Data();
  auto m = Train({{"factors", 8}, {"iterations", 2}}, x);
  CsrMatrix h;
  h.cols = 200;
  h.AppendRow({}, {});
  h.AppendRow(std::vector<uint32_t>{150, 199}, {});  // unknown items only: same as empty
  const auto s = testing::ScoreAll(*m, h);
  ASSERT_EQ(s.size(), 180u);
  for (float v : s) EXPECT_EQ(v, 0.0f);
}

TEST(Ials, RejectsUnknownAndOutOfRangeParameters) {
  try {
    CreateRecommender("ials", {{"factor", 8}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("factor"));
  }
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"factors", 0},
                                                           {"iterations", -1},
                                                           {"reg", -0.1},
                                                           {"unobserved_weight", -1.0},
                                                           {"reg_exponent", 9.0},
                                                           {"solver", "sgd"},
                                                           {"cg_steps", 0},
                                                           {"alpha", "high"}}) {
    try {
      CreateRecommender("ials", {{key, value}});
      FAIL() << "expected an error for " << key;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr(key));
    }
  }
  const auto p = CreateRecommender("ials", {{"factors", 16}})->params();
  EXPECT_DOUBLE_EQ(p["init_stddev"].get<double>(), 0.1 / 4.0);
  EXPECT_EQ(p["solver"], "cg");
  EXPECT_EQ(p["cg_steps"], 3);
}

TEST(Ials, RanksHeldOutClusterItemsFarAbovePopularity) {
  const CsrMatrix all = testing::PlantedClusters(600, 240, 8, 20, 0.8, 5);
  const auto split = testing::StrongGeneralizationSplit(all, 100, 0.5, 77);
  auto pop = CreateRecommender("popularity", {});
  pop->Fit(split.train, Context{});
  auto m = Train({{"factors", 32}}, split.train, 2);
  const auto mp = testing::Evaluate(*pop, split);
  const auto mi = testing::Evaluate(*m, split);
  EXPECT_GT(mi.recall_at_20, mp.recall_at_20 + 0.25) << "popularity " << mp.recall_at_20;
  EXPECT_GT(mi.ndcg_at_100, mp.ndcg_at_100 + 0.15);
}

}  // namespace
}  // namespace marquee
