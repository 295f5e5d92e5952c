// The exact sums behind AdditiveScores (models/additive_scores.h): values on RoundToSumGrid's
// grid sum to the same double in any order and grouping, and EASE's training-row accumulator
// plus new rows gives the floats ScoreBatch gives for the whole history.
#include "models/additive_scores.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "model_test_util.h"

namespace marquee {
namespace {

using marquee::testing::FitFamily;
using marquee::testing::Histories;
using marquee::testing::PlantedClusters;
using marquee::testing::SaveArtifact;
using marquee::testing::ScoreAll;
using marquee::testing::TempDir;
using marquee::testing::TinyMatrix;

// Values spread over 60 binary orders of magnitude, both signs: raw, their double sums depend
// on the order.
std::vector<float> WideValues(size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> mant(0.5, 1.0), expo(-60.0, 0.0);
  std::vector<float> v(n);
  for (float& x : v) {
    x = static_cast<float>(mant(rng) * std::exp2(std::floor(expo(rng))) *
                           ((rng() & 1) != 0 ? 1.0 : -1.0));
  }
  return v;
}

double SumInOrder(const std::vector<float>& v, const std::vector<size_t>& order) {
  double s = 0.0;
  for (size_t i : order) s += static_cast<double>(v[i]);
  return s;
}

// How many of `trials` random orders of `v` sum to another double than the index order.
int OrderDependentSums(const std::vector<float>& v, int trials, std::mt19937_64& rng) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const double first = SumInOrder(v, order);
  int differ = 0;
  for (int t = 0; t < trials; ++t) {
    std::shuffle(order.begin(), order.end(), rng);
    const double s = SumInOrder(v, order);
    differ += std::memcmp(&s, &first, sizeof s) != 0 ? 1 : 0;
  }
  return differ;
}

TEST(SumGrid, SumsOfGridValuesDoNotDependOnTheOrder) {
  std::mt19937_64 rng(7);
  for (uint32_t n : {2u, 100u, 1682u, 20000u}) {
    const int t = SumGridBits(n);
    const size_t rows = size_t{1} << (29 - t);  // the most the grid promises
    ASSERT_GE(rows, 2u * n);
    std::vector<float> v = WideValues(std::min<size_t>(rows, 4096), rng);
    // The check has teeth: raw, the sums of a few hundred or more do depend on the order.
    if (v.size() >= 256) {
      EXPECT_GT(OrderDependentSums(v, 20, rng), 0) << n;
    }
    RoundToSumGrid(v, n);
    EXPECT_EQ(OrderDependentSums(v, 20, rng), 0) << n;
  }
}

TEST(SumGrid, KeepsLargeValuesWholeAndMovesSmallOnesByHalfAStep) {
  std::mt19937_64 rng(11);
  std::vector<float> v = WideValues(5000, rng);
  v[0] = 0.75f;  // the largest: 2^E = 1
  const std::vector<float> raw = v;
  const uint32_t n = 1682;
  RoundToSumGrid(v, n);
  const double step = std::ldexp(1.0, -24 - SumGridBits(n));
  for (size_t i = 0; i < v.size(); ++i) {
    const double err = std::fabs(static_cast<double>(v[i]) - raw[i]);
    ASSERT_LE(err, step / 2) << i;
    if (std::fabs(raw[i]) >= std::ldexp(1.0, -SumGridBits(n))) {
      EXPECT_EQ(v[i], raw[i]) << i;
    }
  }
  std::vector<float> twice = v;
  RoundToSumGrid(twice, n);
  EXPECT_EQ(0, std::memcmp(twice.data(), v.data(), v.size() * sizeof(float)));
}

TEST(EaseAdditive, TrainingSumPlusNewRowsIsScoreBatchBitForBit) {
  const CsrMatrix x = PlantedClusters(400, 150, 6, 20, 0.8, 3);
  for (const nlohmann::json& params :
       {nlohmann::json{{"lambda", 5.0}}, nlohmann::json{{"lambda", 5.0}, {"max_items", 90}}}) {
    auto fitted = FitFamily("ease", params, x);
    // The same after a save and load (the artifact's B is on the grid already).
    TempDir dir;
    auto reader = SaveArtifact(*fitted, dir.file("ease.mqa"));
    // The fit left B on the grid: rounding again changes nothing.
    const std::vector<float> b = reader->GetVector<float>("B");
    std::vector<float> again = b;
    const auto kept = static_cast<uint32_t>(std::sqrt(static_cast<double>(b.size())));
    RoundToSumGrid(again, kept);
    EXPECT_EQ(0, std::memcmp(again.data(), b.data(), b.size() * sizeof(float)));
    auto loaded = CreateRecommender("ease", params);
    loaded->Load(*reader);
    for (const Recommender* m : {fitted.get(), loaded.get()}) {
      const auto* a = dynamic_cast<const AdditiveScores*>(m);
      ASSERT_NE(a, nullptr);
      ASSERT_GT(a->accumulator_size(), 0u);
      std::mt19937_64 rng(5);
      std::vector<double> acc(a->accumulator_size());
      std::vector<float> split(m->num_items());
      for (int trial = 0; trial < 300; ++trial) {
        std::vector<uint32_t> items(m->num_items());
        std::iota(items.begin(), items.end(), 0u);
        std::shuffle(items.begin(), items.end(), rng);
        items.resize(1 + rng() % 60);
        const size_t cut = rng() % items.size();
        std::fill(acc.begin(), acc.end(), 0.0);
        a->Accumulate(std::span(items).first(cut), acc.data());    // the "training row"
        a->Accumulate(std::span(items).subspan(cut), acc.data());  // what the events added
        a->Finish(acc.data(), split);
        std::sort(items.begin(), items.end());
        const std::vector<float> whole = ScoreAll(*m, Histories({items}, m->num_items()));
        ASSERT_EQ(0, std::memcmp(whole.data(), split.data(), split.size() * sizeof(float)))
            << "trial " << trial << " params " << params.dump();
      }
    }
  }
}

TEST(EaseAdditive, Float64OffersNone) {
  const CsrMatrix x = TinyMatrix();
  auto m = FitFamily("ease", {{"lambda", 5.0}, {"precision", "float64"}}, x);
  const auto* a = dynamic_cast<const AdditiveScores*>(m.get());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->accumulator_size(), 0u);
}

}  // namespace
}  // namespace marquee
