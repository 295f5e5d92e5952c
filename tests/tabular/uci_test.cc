// The issue's acceptance check on real data: UCI credit-card default, stratified 80/20 holdout,
// AUC >= 0.77. Skips when ../shared/data is absent.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tabular/train.h"
#include "test_util.h"

namespace marquee {
namespace {

TEST(TabularUci, SlowStratifiedHoldoutAuc) {
  MARQUEE_REQUIRE_SHARED(csv, "uci-credit-card-default/UCI_Credit_Card.csv");
  testing::TempDir tmp;
  TabularTrainConfig c =
      ParseTabularConfig(nlohmann::json::parse(fmt::format(
                             R"({{"data": {{"train": "{}", "label": "Y", "drop": ["ID"]}},
               "split": {{"protocol": "stratified-holdout", "test_fraction": 0.2, "seed": 98765}},
               "model": {{"family": "xgboost", "max_depth": 4, "eta": 0.05, "num_round": 400,
                          "subsample": 0.8, "min_child_weight": 5,
                          "early_stopping_rounds": 30}}}})",
                             csv)),
                         "", "uci");
  c.refit = false;
  Context ctx;
  ctx.threads = 2;
  nlohmann::json r = RunTabularTraining(c, tmp.path(), ctx);
  const double auc = r["metrics"]["auc"].get<double>();
  std::printf("UCI holdout AUC %.4f, PR-AUC %.4f, ECE %.4f, rounds %d\n", auc,
              r["metrics"]["pr_auc"].get<double>(), r["metrics"]["ece"].get<double>(),
              r["rounds"].get<int>());
  EXPECT_GE(auc, 0.77);
  EXPECT_EQ(r["split"]["rows"].get<uint64_t>(), 30000u);
  EXPECT_EQ(r["split"]["features"].get<int>(), 23);
}

}  // namespace
}  // namespace marquee
