#include "eval/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "marquee/error.h"

namespace marquee {
namespace {

using ::testing::HasSubstr;

// 1 / log2(r + 1), written out so the expectations below read as the textbook formulas.
double D(int r) { return 1.0 / std::log2(r + 1.0); }

// The running example: ranking 5, 3, 9, 1 and targets {1, 3} (hits at ranks 2 and 4).
const std::vector<uint32_t> kRanked = {5, 3, 9, 1};
const std::vector<uint32_t> kTargets = {1, 3};

TEST(ParseMetric, AcceptsEveryFormCaseInsensitively) {
  struct Case {
    const char* in;
    MetricKind kind;
    uint32_t k;
    const char* name;
  };
  const Case cases[] = {
      {"recall@20", MetricKind::kRecall, 20, "recall@20"},
      {"NDCG@100", MetricKind::kNdcg, 100, "ndcg@100"},
      {"HitRate@10", MetricKind::kHitRate, 10, "hitrate@10"},
      {"hr@5", MetricKind::kHitRate, 5, "hitrate@5"},
      {"precision@10", MetricKind::kPrecision, 10, "precision@10"},
      {"MAP@7", MetricKind::kMap, 7, "map@7"},
      {"mrr", MetricKind::kMrr, 0, "mrr"},
      {"Mrr@10", MetricKind::kMrr, 10, "mrr@10"},
      {"coverage@20", MetricKind::kCoverage, 20, "coverage@20"},
      {" recall@3 ", MetricKind::kRecall, 3, "recall@3"},
  };
  for (const auto& c : cases) {
    const MetricSpec s = ParseMetric(c.in);
    EXPECT_EQ(s.kind, c.kind) << c.in;
    EXPECT_EQ(s.k, c.k) << c.in;
    EXPECT_EQ(s.name, c.name) << c.in;
  }
}

TEST(ParseMetric, ErrorsNameTheEntryAndTheValidForms) {
  for (const char* bad : {"auc@10", "recall", "recall@0", "recall@x", "recall@-1", "ndcg@10x", "",
                          "@10", "recall@99999999999", "mrr@"}) {
    try {
      ParseMetric(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_THAT(e.what(), HasSubstr(std::string("'") + bad + "'"));
      EXPECT_THAT(e.what(), HasSubstr("recall@K"));
      EXPECT_THAT(e.what(), HasSubstr("coverage@K"));
    }
  }
}

TEST(Metrics, Recall) {
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, kTargets, 1), 0.0);
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, kTargets, 2), 0.5);  // 1 hit / min(2, 2)
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, kTargets, 4), 1.0);
  // |T| < K: the denominator is |T|.
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, std::vector<uint32_t>{9}, 4), 1.0);
  // |T| > K: the denominator is K, so a perfect top-2 scores 1.
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, std::vector<uint32_t>{1, 3, 5, 7, 8}, 2), 1.0);
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, std::vector<uint32_t>{1, 3, 5, 7, 8}, 4), 0.75);
  // No hits.
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, std::vector<uint32_t>{0, 2}, 4), 0.0);
  // A ranking shorter than K (small catalogue): missing positions are misses.
  EXPECT_DOUBLE_EQ(RecallAtK(std::vector<uint32_t>{3}, kTargets, 10), 0.5);
}

TEST(Metrics, Ndcg) {
  // Hits at ranks 2 and 4; IDCG over min(4, 2) = 2 positions.
  EXPECT_DOUBLE_EQ(NdcgAtK(kRanked, kTargets, 4), (D(2) + D(4)) / (D(1) + D(2)));
  EXPECT_NEAR(NdcgAtK(kRanked, kTargets, 4), 0.6509209298071326, 1e-15);
  // K = 2: one hit at rank 2, IDCG over 2 positions.
  EXPECT_NEAR(NdcgAtK(kRanked, kTargets, 2), 0.6131471927654584 * D(2), 1e-15);
  // |T| < K: a single target at rank 3 of K = 4: DCG = 1/log2(4) = 0.5, IDCG = 1.
  EXPECT_DOUBLE_EQ(NdcgAtK(kRanked, std::vector<uint32_t>{9}, 4), 0.5);
  // |T| > K: IDCG is over K positions, so a perfect top-3 is 1.
  EXPECT_DOUBLE_EQ(NdcgAtK(kRanked, std::vector<uint32_t>{1, 3, 5, 9, 11}, 3), 1.0);
  // Hits at 1 and 2 among 3 targets, K = 3: IDCG over 3 positions.
  EXPECT_NEAR(NdcgAtK(kRanked, std::vector<uint32_t>{3, 5, 7}, 3), 0.7653606369886217, 1e-15);
  EXPECT_DOUBLE_EQ(NdcgAtK(kRanked, std::vector<uint32_t>{0}, 4), 0.0);
}

TEST(Metrics, HitRatePrecisionMapMrr) {
  EXPECT_DOUBLE_EQ(HitRateAtK(kRanked, kTargets, 1), 0.0);
  EXPECT_DOUBLE_EQ(HitRateAtK(kRanked, kTargets, 2), 1.0);
  EXPECT_DOUBLE_EQ(HitRateAtK(kRanked, std::vector<uint32_t>{}, 4), 0.0);

  EXPECT_DOUBLE_EQ(PrecisionAtK(kRanked, kTargets, 2), 0.5);
  EXPECT_DOUBLE_EQ(PrecisionAtK(kRanked, kTargets, 4), 0.5);
  // Precision divides by K even when the ranking is shorter.
  EXPECT_DOUBLE_EQ(PrecisionAtK(kRanked, kTargets, 8), 0.25);

  // MAP@4: (P@2 + P@4) / min(4, 2) = (1/2 + 2/4) / 2.
  EXPECT_DOUBLE_EQ(MapAtK(kRanked, kTargets, 4), 0.5);
  // MAP@2: P@2 / min(2, 2).
  EXPECT_DOUBLE_EQ(MapAtK(kRanked, kTargets, 2), 0.25);
  // |T| > K: normalised by K. Hits at 1 and 2 of K = 2: (1 + 1) / 2.
  EXPECT_DOUBLE_EQ(MapAtK(kRanked, std::vector<uint32_t>{3, 5, 6, 7}, 2), 1.0);
  // |T| < K: one target at rank 3: (1/3) / 1.
  EXPECT_DOUBLE_EQ(MapAtK(kRanked, std::vector<uint32_t>{9}, 4), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(MapAtK(kRanked, std::vector<uint32_t>{2}, 4), 0.0);

  EXPECT_DOUBLE_EQ(MrrAtK(kRanked, kTargets, 4), 0.5);
  EXPECT_DOUBLE_EQ(MrrAtK(kRanked, kTargets, 1), 0.0);
  EXPECT_DOUBLE_EQ(MrrAtK(kRanked, std::vector<uint32_t>{1}, 4), 0.25);
  EXPECT_DOUBLE_EQ(MrrAtK(kRanked, std::vector<uint32_t>{1}, 0), 0.25);  // whole list
  EXPECT_DOUBLE_EQ(MrrAtK(kRanked, std::vector<uint32_t>{2}, 4), 0.0);
}

TEST(Metrics, ZeroCutOffIsRejectedExceptForMrr) {
  EXPECT_THROW(RecallAtK(kRanked, kTargets, 0), Error);
  EXPECT_THROW(NdcgAtK(kRanked, kTargets, 0), Error);
  EXPECT_THROW(MapAtK(kRanked, kTargets, 0), Error);
}

// Reference: a stable sort of the non-excluded items by descending score.
std::vector<uint32_t> FullRanking(const std::vector<float>& s, const std::vector<uint32_t>& ex) {
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < s.size(); ++i) {
    if (!std::binary_search(ex.begin(), ex.end(), i)) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return s[a] > s[b]; });
  return order;
}

TEST(TopK, MatchesAStableSortAndRankOfBestTargetAgrees) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const uint32_t n = 1 + static_cast<uint32_t>(rng() % 60);
    std::vector<float> s(n);
    for (auto& v : s) v = static_cast<float>(rng() % 8);  // many ties
    std::vector<uint32_t> ex, tg;
    for (uint32_t i = 0; i < n; ++i) {
      const auto r = rng() % 5;
      if (r == 0) ex.push_back(i);
      if (r == 1) tg.push_back(i);
    }
    const uint32_t k = 1 + static_cast<uint32_t>(rng() % 20);
    const std::vector<uint32_t> full = FullRanking(s, ex);
    std::vector<uint32_t> out;
    TopK(s, ex, k, out);
    const std::vector<uint32_t> want(full.begin(), full.begin() + std::min<size_t>(k, full.size()));
    ASSERT_EQ(out, want) << "trial " << trial;

    uint64_t want_rank = 0;
    for (size_t r = 0; r < full.size(); ++r) {
      if (std::binary_search(tg.begin(), tg.end(), full[r])) {
        want_rank = r + 1;
        break;
      }
    }
    ASSERT_EQ(RankOfBestTarget(s, ex, tg), want_rank) << "trial " << trial;
  }
}

TEST(RankOfBestTarget, IgnoresExcludedTargetsAndBreaksTiesByIndex) {
  const std::vector<float> s = {0.5f, 0.9f, 0.5f, 0.5f, 0.1f};
  // Target 3 ties with 0 and 2 (lower indices rank first) and is below 1: rank 4.
  EXPECT_EQ(RankOfBestTarget(s, {}, std::vector<uint32_t>{3}), 4u);
  // Excluding 0 and 1 moves it up to rank 2.
  EXPECT_EQ(RankOfBestTarget(s, std::vector<uint32_t>{0, 1}, std::vector<uint32_t>{3}), 2u);
  // The best of several targets counts.
  EXPECT_EQ(RankOfBestTarget(s, {}, std::vector<uint32_t>{2, 4}), 3u);
  // An excluded target is not rankable.
  EXPECT_EQ(RankOfBestTarget(s, std::vector<uint32_t>{1}, std::vector<uint32_t>{1}), 0u);
}

}  // namespace
}  // namespace marquee
