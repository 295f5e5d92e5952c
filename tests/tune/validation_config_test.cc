// `[split] validation` in the recommender and tabular train configs: the split the tuning
// objective is computed on (training users / rows only), and its errors.
#include <gtest/gtest.h>

#include <fstream>

#include "pipeline/config.h"
#include "pipeline/train.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::ExpectError;

TrainResult Train(const std::string& toml, const testing::TempDir& dir) {
  std::ofstream(dir.file("job.toml")) << toml;
  TrainConfig c = LoadTrainConfig(dir.file("job.toml"), {});
  TrainOptions o;
  o.home = dir.file("home");
  o.ctx.threads = 1;
  return RunTraining(c, o);
}

TEST(ValidationSplit, RecommenderEvaluatesTrainingUsersOnly) {
  testing::TempDir dir;
  {
    std::ofstream f(dir.file("plays.tsv"));
    for (int u = 0; u < 100; ++u) {
      for (int k = 0; k < 6; ++k) f << "u" << u << "\ti" << (u + k * 5) % 30 << "\n";
    }
  }
  const std::string base =
      "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 20\nrefit = false\n";
  TrainResult test = Train(base + "[model]\nfamily = \"popularity\"\n", dir);
  EXPECT_EQ(test.protocol, "strong-generalization");
  EXPECT_EQ(test.split["eval_users"], 20);
  TrainResult val = Train(base + "validation = 0.25\n[model]\nfamily = \"popularity\"\n", dir);
  EXPECT_EQ(val.protocol, "strong-generalization+validation");
  EXPECT_EQ(val.split["eval_users"], 20);  // 25% of the 80 training users
  EXPECT_EQ(val.split["train_users"], 60);
  EXPECT_EQ(val.split["test"]["eval_users"], 20);
  ExpectError([&] { Train(base + "validation = 1.5\n[model]\nfamily = \"popularity\"\n", dir); },
              ErrorCode::kInvalidArgument, "[split] validation must be in (0, 1)");
}

TEST(ValidationSplit, TabularHoldsOutTrainingRows) {
  testing::TempDir dir;
  {
    std::ofstream f(dir.file("rows.csv"));
    f << "x,z,y\n";
    for (int i = 0; i < 200; ++i) f << i % 17 << "," << (i * 7) % 11 << "," << (i % 17 > 8) << "\n";
  }
  const std::string base =
      "[data]\ntrain = \"rows.csv\"\nlabel = \"y\"\n[split]\ntest_fraction = 0.2\nrefit = false\n";
  const std::string model = "[model]\nfamily = \"xgboost\"\nnum_round = 5\n";
  TrainResult test = Train(base + model, dir);
  EXPECT_EQ(test.protocol, "stratified-holdout");
  EXPECT_FALSE(test.split.contains("validation"));
  TrainResult val = Train(base + "validation = 0.25\n" + model, dir);
  EXPECT_EQ(val.protocol, "stratified-holdout+validation");
  EXPECT_EQ(val.split["validation"], 0.25);
  ExpectError(
      [&] {
        Train(
            "[data]\ntrain = \"rows.csv\"\nlabel = \"y\"\n[split]\nprotocol = \"kfold\"\n"
            "validation = 0.2\n" +
                model,
            dir);
      },
      ErrorCode::kInvalidArgument, "validation needs a holdout protocol");
}

}  // namespace
}  // namespace marquee
