// Classification and regression metrics against hand-computed values; splits.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "marquee/error.h"
#include "tabular/metrics.h"
#include "tabular/split.h"

namespace marquee {
namespace {

TEST(TabularMetrics, Classification) {
  const std::vector<float> y = {0, 0, 1, 1};
  const std::vector<float> s = {0.1f, 0.4f, 0.35f, 0.8f};
  // sklearn: roc_auc_score = 0.75, average_precision_score = 0.8333...
  EXPECT_NEAR(RocAuc(y, s), 0.75, 1e-12);
  EXPECT_NEAR(PrAuc(y, s), (1.0 * 0.5 + (2.0 / 3.0) * 0.5), 1e-7);
  const double ll = -(std::log(0.9) + std::log(0.6) + std::log(0.35) + std::log(0.8)) / 4;
  EXPECT_NEAR(LogLoss(y, s), ll, 1e-6);
  EXPECT_DOUBLE_EQ(AccuracyAt(y, s, 0.5), 0.75);
  EXPECT_DOUBLE_EQ(AccuracyAt(y, s, 0.3), 0.75);
  const double brier = (0.01 + 0.16 + 0.4225 + 0.04) / 4;
  EXPECT_NEAR(Brier(y, s), brier, 1e-6);
  // Ties share a rank: all-equal scores give AUC 0.5.
  EXPECT_DOUBLE_EQ(RocAuc(y, std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}), 0.5);
  EXPECT_TRUE(std::isnan(RocAuc(std::vector<float>{1, 1}, std::vector<float>{0.1f, 0.2f})));
  EXPECT_THROW(RocAuc(y, std::vector<float>{0.1f}), Error);
  EXPECT_THROW(RocAuc(std::vector<float>{}, std::vector<float>{}), Error);
}

TEST(TabularMetrics, CalibrationTable) {
  const std::vector<float> y = {0, 1, 1, 1};
  const std::vector<float> s = {0.05f, 0.15f, 0.95f, 0.95f};
  std::vector<ReliabilityBin> t;
  const double ece = ExpectedCalibrationError(y, s, 10, &t);
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t[0].count, 1u);
  EXPECT_EQ(t[1].count, 1u);
  EXPECT_EQ(t[9].count, 2u);
  EXPECT_NEAR(t[9].mean_score, 0.95, 1e-6);
  EXPECT_DOUBLE_EQ(t[9].positive_rate, 1.0);
  // 1/4*0.05 + 1/4*0.85 + 2/4*0.05
  EXPECT_NEAR(ece, 0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.05, 1e-6);
  EXPECT_NEAR(ComputeTabularMetric("ece", y, s), ece, 1e-12);
}

TEST(TabularMetrics, RegressionAndNames) {
  const std::vector<float> y = {1, 2, 3};
  const std::vector<float> p = {1, 2, 5};
  EXPECT_NEAR(Rmse(y, p), std::sqrt(4.0 / 3), 1e-12);
  EXPECT_NEAR(Mae(y, p), 2.0 / 3, 1e-12);
  EXPECT_NEAR(R2(y, p), 1 - 4.0 / 2.0, 1e-12);
  EXPECT_NO_THROW(ValidateTabularMetric("accuracy@0.3", true));
  EXPECT_THROW(ValidateTabularMetric("accuracy@2", true), Error);
  EXPECT_THROW(ValidateTabularMetric("recall@20", true), Error);
  EXPECT_THROW(ValidateTabularMetric("auc", false), Error);
  EXPECT_NO_THROW(ValidateTabularMetric("r2", false));
}

TEST(TabularSplit, StratifiedHoldoutKeepsClassShares) {
  std::vector<float> y(1000, 0);
  for (size_t i = 0; i < 1000; i += 5) y[i] = 1;  // 20% positives
  RowSplit s = StratifiedHoldout(y, 0.2, 7);
  EXPECT_EQ(s.test.size(), 200u);
  EXPECT_EQ(s.train.size(), 800u);
  size_t pos = 0;
  for (uint32_t r : s.test) pos += y[r] > 0.5f;
  EXPECT_EQ(pos, 40u);
  std::set<uint32_t> all(s.train.begin(), s.train.end());
  for (uint32_t r : s.test) EXPECT_TRUE(all.insert(r).second);
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(StratifiedHoldout(y, 0.2, 7).test, s.test);  // deterministic
  EXPECT_NE(StratifiedHoldout(y, 0.2, 8).test, s.test);
  EXPECT_THROW(StratifiedHoldout(y, 1.0, 7), Error);
  EXPECT_THROW(StratifiedHoldout(y, 0.0, 7), Error);
}

TEST(TabularSplit, KFoldAndTemporal) {
  std::vector<float> y(103, 0);
  for (size_t i = 0; i < 103; i += 4) y[i] = 1;
  auto folds = StratifiedKFold(y, 5, 1);
  ASSERT_EQ(folds.size(), 5u);
  std::vector<int> seen(103, 0);
  for (const auto& f : folds) {
    EXPECT_EQ(f.train.size() + f.test.size(), 103u);
    for (uint32_t r : f.test) ++seen[r];
  }
  for (int c : seen) EXPECT_EQ(c, 1);
  EXPECT_THROW(StratifiedKFold(y, 1, 1), Error);

  std::vector<int64_t> t = {50, 10, 40, 20, 30};
  RowSplit s = TemporalSplit(t, 0.4);
  EXPECT_EQ(s.test, (std::vector<uint32_t>{0, 2}));  // the two latest
  EXPECT_EQ(s.train, (std::vector<uint32_t>{1, 3, 4}));
  EXPECT_THROW(TemporalSplit(std::vector<int64_t>{}, 0.2), Error);
}

}  // namespace
}  // namespace marquee
