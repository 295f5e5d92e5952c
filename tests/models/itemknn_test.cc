#include <gtest/gtest.h>

#include <cmath>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "model_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

// 4 users x 4 items:  u0 {0,1}, u1 {0,1,2}, u2 {1,2}, u3 {0,3}.
// |U_0| = 3, |U_1| = 3, |U_2| = 2, |U_3| = 1; co-occurrences (0,1) = 2, (0,2) = 1, (0,3) = 1,
// (1,2) = 2, (1,3) = (2,3) = 0.
CsrMatrix Tiny() { return testing::TinyMatrix(); }
using testing::Histories;

std::unique_ptr<Recommender> Train(const nlohmann::json& params, const CsrMatrix& x,
                                   int threads = 1) {
  return testing::FitFamily("itemknn", params, x, threads);
}

TEST(ItemKnn, CosineSimilaritiesMatchHandComputedValues) {
  auto m = Train({{"neighbors", 10}, {"shrinkage", 0.0}}, Tiny());
  testing::TempDir dir;
  auto r = testing::SaveArtifact(*m, dir.file("knn.mqa"));
  const auto indptr = r->GetVector<uint64_t>("indptr");
  const auto indices = r->GetVector<uint32_t>("indices");
  const auto values = r->GetVector<float>("values");
  ASSERT_EQ(indptr, (std::vector<uint64_t>{0, 3, 5, 7, 8}));
  // Item 0: sim(0,1) = 2/3, sim(0,3) = 1/√3, sim(0,2) = 1/√6, best first.
  EXPECT_EQ(std::vector<uint32_t>(indices.begin(), indices.begin() + 3),
            (std::vector<uint32_t>{1, 3, 2}));
  EXPECT_NEAR(values[0], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(values[1], 1.0 / std::sqrt(3.0), 1e-6);
  EXPECT_NEAR(values[2], 1.0 / std::sqrt(6.0), 1e-6);
  // Item 1: sim(1,2) = 2/√6, sim(1,0) = 2/3; item 3 has no co-occurrence with 1 or 2.
  EXPECT_EQ(indices[3], 2u);
  EXPECT_NEAR(values[3], 2.0 / std::sqrt(6.0), 1e-6);
  EXPECT_EQ(indices[4], 0u);
  EXPECT_EQ(indices[7], 0u);
  EXPECT_NEAR(values[7], 1.0 / std::sqrt(3.0), 1e-6);

  // Unpruned, a history scores c by sim(c, history items): symmetric cosine sums.
  const auto s = testing::ScoreAll(*m, Histories({{0}, {0, 2}}, 4));
  EXPECT_FLOAT_EQ(s[0], 0.0f);
  EXPECT_NEAR(s[1], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(s[2], 1.0 / std::sqrt(6.0), 1e-6);
  EXPECT_NEAR(s[3], 1.0 / std::sqrt(3.0), 1e-6);
  EXPECT_NEAR(s[4 + 1], 2.0 / 3.0 + 2.0 / std::sqrt(6.0), 1e-6);
  EXPECT_NEAR(s[4 + 0], 1.0 / std::sqrt(6.0), 1e-6);
}

TEST(ItemKnn, ShrinkageAndAsymmetricCosine) {
  // shrinkage 1: sim(0,1) = 2 / (3 + 1).
  auto shrunk = Train({{"shrinkage", 1.0}}, Tiny());
  auto s = testing::ScoreAll(*shrunk, Histories({{1}}, 4));
  EXPECT_NEAR(s[0], 0.5, 1e-6);
  EXPECT_NEAR(s[2], 2.0 / (std::sqrt(6.0) + 1.0), 1e-6);
  // alpha = 1: sim(c, j) = |U_c ∩ U_j| / |U_c| (the conditional probability P(j | c)).
  auto asym = Train({{"shrinkage", 0.0}, {"alpha", 1.0}}, Tiny());
  s = testing::ScoreAll(*asym, Histories({{0}}, 4));
  EXPECT_NEAR(s[3], 1.0, 1e-6);        // sim(3, 0) = 1 / |U_3|
  EXPECT_NEAR(s[2], 0.5, 1e-6);        // sim(2, 0) = 1 / |U_2|
  EXPECT_NEAR(s[1], 2.0 / 3.0, 1e-6);  // sim(1, 0) = 2 / |U_1|
}

TEST(ItemKnn, KeepsOnlyTopNeighborsPerCandidate) {
  // neighbors = 1: N(0) = {1}, N(1) = {2} (0.816 > 0.667), N(2) = {1}, N(3) = {0}.
  auto m = Train({{"neighbors", 1}, {"shrinkage", 0.0}}, Tiny());
  const auto s = testing::ScoreAll(*m, Histories({{0}, {1}}, 4));
  EXPECT_EQ(std::vector<float>(s.begin(), s.begin() + 4),
            (std::vector<float>{0.0f, 0.0f, 0.0f, s[3]}));
  EXPECT_NEAR(s[3], 1.0 / std::sqrt(3.0), 1e-6);
  EXPECT_NEAR(s[4 + 0], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(s[4 + 2], 2.0 / std::sqrt(6.0), 1e-6);
  EXPECT_FLOAT_EQ(s[4 + 1], 0.0f);
  EXPECT_FLOAT_EQ(s[4 + 3], 0.0f);
}

TEST(ItemKnn, IgnoresUnknownHistoryItemsAndEmptyHistories) {
  auto m = Train({}, Tiny());
  CsrMatrix h = Histories({{}, {1, 7}}, 8);
  const auto s = testing::ScoreAll(*m, h);
  ASSERT_EQ(s.size(), 8u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s[i], 0.0f);
  const auto only1 = testing::ScoreAll(*m, Histories({{1}}, 4));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s[4 + i], only1[i]);
}

TEST(ItemKnn, IndependentOfThreadCountAndSurvivesSaveLoad) {
  testing::ExpectThreadIndependentAndIdenticalAfterSaveLoad("itemknn", {{"neighbors", 20}});
}

TEST(ItemKnn, RejectsUnknownAndOutOfRangeParameters) {
  testing::ExpectParameterErrors(
      "itemknn", "neighbours",
      {{"neighbors", 0}, {"shrinkage", -1.0}, {"alpha", 1.5}, {"neighbors", "many"}});
  EXPECT_EQ(CreateRecommender("itemknn", {})->params()["neighbors"], 100);
}

TEST(ItemKnn, RanksHeldOutClusterItemsFarAbovePopularity) {
  testing::ExpectFarAbovePopularityOnPlantedClusters("itemknn", nlohmann::json::object());
}

}  // namespace
}  // namespace marquee
