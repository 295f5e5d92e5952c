// RP3beta (src/models/rp3beta/rp3beta.cc): the transition weights against a dense reference
// written from the paper's formula, pruning and row normalisation, fold-in, thread-count
// independence, bit-identical save/load, parameters, and ranking on planted clusters.
#include <gtest/gtest.h>

#include <cmath>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "model_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

// testing::TinyMatrix: u0 {0,1}, u1 {0,1,2}, u2 {1,2}, u3 {0,3}.
CsrMatrix Tiny() { return testing::TinyMatrix(); }
using testing::Histories;

std::unique_ptr<Recommender> Train(const nlohmann::json& params, const CsrMatrix& x,
                                   int threads = 1) {
  return testing::FitFamily("rp3beta", params, x, threads);
}

// W as Paudel et al. define it, on a dense 0/1 matrix: the item -> user step 1/|U_i|, the
// user -> item step 1/|I_u|, both to the power alpha, then divided by |U_j|^beta; no pruning.
std::vector<std::vector<double>> DenseW(const CsrMatrix& x, double alpha, double beta) {
  const uint32_t n = x.cols, m = x.rows;
  std::vector<std::vector<int>> a(m, std::vector<int>(n, 0));
  for (uint32_t u = 0; u < m; ++u) {
    for (uint32_t i : x.row_indices(u)) a[u][i] = 1;
  }
  std::vector<double> deg_u(m, 0), deg_i(n, 0);
  for (uint32_t u = 0; u < m; ++u) {
    for (uint32_t i = 0; i < n; ++i) {
      deg_u[u] += a[u][i];
      deg_i[i] += a[u][i];
    }
  }
  std::vector<std::vector<double>> w(n, std::vector<double>(n, 0.0));
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < n; ++j) {
      if (i == j) continue;
      double walk = 0;
      for (uint32_t u = 0; u < m; ++u) {
        if (a[u][i] && a[u][j])
          walk += std::pow(1 / deg_i[i], alpha) * std::pow(1 / deg_u[u], alpha);
      }
      w[i][j] = walk / std::pow(deg_i[j], beta);
    }
  }
  return w;
}

TEST(Rp3Beta, WeightsMatchTheDenseFormulaWithoutNormalisation) {
  const CsrMatrix x = Tiny();
  for (auto [alpha, beta] : {std::pair{1.0, 0.0}, std::pair{0.8, 0.5}, std::pair{0.5, 1.2}}) {
    auto m = Train({{"alpha", alpha}, {"beta", beta}, {"normalize", false}}, x);
    const auto ref = DenseW(x, alpha, beta);
    for (uint32_t i = 0; i < 4; ++i) {
      // A history of one item scores each candidate j with W(i, j).
      const auto s = testing::ScoreAll(*m, Histories({{i}}, 4));
      for (uint32_t j = 0; j < 4; ++j) {
        EXPECT_NEAR(s[j], ref[i][j], 1e-6)
            << "alpha " << alpha << " beta " << beta << " W(" << i << ", " << j << ")";
      }
    }
  }
  // By hand for alpha = 1, beta = 0: W(0, 1) = 1/3 (1/2 + 1/3) = 5/18 (users 0 and 1).
  auto m = Train({{"alpha", 1.0}, {"beta", 0.0}, {"normalize", false}}, x);
  EXPECT_NEAR(testing::ScoreAll(*m, Histories({{0}}, 4))[1], 5.0 / 18.0, 1e-7);
}

TEST(Rp3Beta, KeepsTheTopNeighboursPerSourceItemAndNormalisesEachRow) {
  const CsrMatrix x = Tiny();
  auto m = Train({{"neighbors", 1}, {"alpha", 1.0}, {"beta", 0.0}}, x);
  const auto ref = DenseW(x, 1.0, 0.0);
  for (uint32_t i = 0; i < 4; ++i) {
    const auto s = testing::ScoreAll(*m, Histories({{i}}, 4));
    uint32_t best = i == 0 ? 1 : 0;
    for (uint32_t j = 0; j < 4; ++j) {
      // Equal weights (up to rounding: the reference sums in another order) go to the lower
      // index.
      const double d = ref[i][j] - ref[i][best];
      if (j != i && (d > 1e-12 || (std::abs(d) <= 1e-12 && j < best))) best = j;
    }
    for (uint32_t j = 0; j < 4; ++j) {
      // One neighbour kept, normalised to 1 (item 3's only co-user also holds item 0).
      EXPECT_FLOAT_EQ(s[j], j == best ? 1.0f : 0.0f) << "row " << i << " column " << j;
    }
  }
  // Without pruning every normalised row sums to 1.
  auto full = Train({}, x);
  for (uint32_t i = 0; i < 4; ++i) {
    const auto s = testing::ScoreAll(*full, Histories({{i}}, 4));
    EXPECT_NEAR(s[0] + s[1] + s[2] + s[3], 1.0, 1e-6) << "row " << i;
  }
}

TEST(Rp3Beta, AHistoryScoresTheSumOfItsRowsAndUnknownItemsAreIgnored) {
  auto m = Train({}, Tiny());
  const auto a = testing::ScoreAll(*m, Histories({{0}}, 4));
  const auto b = testing::ScoreAll(*m, Histories({{2}}, 4));
  const auto ab = testing::ScoreAll(*m, Histories({{0, 2, 9}}, 10));
  for (uint32_t j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(ab[j], a[j] + b[j]);
  const auto empty = testing::ScoreAll(*m, Histories({{}}, 4));
  for (float v : empty) EXPECT_EQ(v, 0.0f);
}

TEST(Rp3Beta, IndependentOfThreadCountAndSurvivesSaveLoadBitForBit) {
  testing::ExpectThreadIndependentAndIdenticalAfterSaveLoad("rp3beta", {{"neighbors", 20}});
}

TEST(Rp3Beta, RejectsUnknownAndOutOfRangeParameters) {
  testing::ExpectParameterErrors(
      "rp3beta", "betta",
      {{"neighbors", 0}, {"alpha", -0.1}, {"beta", 11.0}, {"normalize", "yes"}});
  const auto p = CreateRecommender("rp3beta", {})->params();
  EXPECT_EQ(p["neighbors"], 200);
  EXPECT_DOUBLE_EQ(p["alpha"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(p["beta"].get<double>(), 0.5);
  EXPECT_EQ(p["normalize"], true);
}

TEST(Rp3Beta, RanksHeldOutClusterItemsFarAbovePopularity) {
  testing::ExpectFarAbovePopularityOnPlantedClusters("rp3beta", nlohmann::json::object());
}

}  // namespace
}  // namespace marquee
