#include "pipeline/config.h"

#include "kinds/bandit/bandit_kind.h"
#include "kinds/recommender/recommender_kind.h"
#include "kinds/tabular/tabular_kind.h"

#include <gtest/gtest.h>

#include "marquee/error.h"
#include "marquee/recommender.h"

namespace marquee {
namespace {

const char* kIssueConfig = R"(
[data]
dataset = "ml100k"
positive_threshold = 3.5
[split]
protocol = "strong-generalization"
test_users = 150
fold_in = 0.8
seed = 98765
[model]
family = "ease"
lambda = 500.0
[eval]
metrics = ["recall@20", "recall@50", "ndcg@100"]
)";

std::string ErrorOf(const std::string& toml, std::vector<std::string> sets = {}) {
  try {
    ParseTrainConfig(toml, "/tmp/cfg/job.toml", sets);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(TrainConfig, ParsesTheDocumentedContract) {
  TrainConfig tc = ParseTrainConfig(kIssueConfig, "/tmp/cfg/title-recs.toml", {});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  EXPECT_EQ(c.data.dataset, "ml100k");
  ASSERT_TRUE(c.data.positive_threshold.has_value());
  EXPECT_DOUBLE_EQ(*c.data.positive_threshold, 3.5);
  EXPECT_EQ(c.split.protocol, "strong-generalization");
  EXPECT_EQ(c.split.test_users, 150u);
  EXPECT_DOUBLE_EQ(c.split.fold_in, 0.8);
  EXPECT_EQ(c.split.seed, 98765u);
  EXPECT_EQ(c.family, "ease");
  EXPECT_EQ(c.model_name, "title-recs");  // the file's stem
  EXPECT_DOUBLE_EQ(c.model_params.at("lambda").get<double>(), 500.0);
  EXPECT_FALSE(c.model_params.contains("family"));
  EXPECT_EQ(c.metrics, (std::vector<std::string>{"recall@20", "recall@50", "ndcg@100"}));
  EXPECT_TRUE(c.refit);
  EXPECT_EQ(c.model_seed, 98765u);
}

TEST(TrainConfig, OverridesApplyTomlValuesAndBareStrings) {
  TrainConfig tc =
      ParseTrainConfig(kIssueConfig, "x.toml",
                       {"model.lambda=300", "data.dataset=other", "eval.metrics=[\"ndcg@10\"]",
                        "split.refit=false", "model.family=ials", "model.factors=32"});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  EXPECT_DOUBLE_EQ(c.model_params.at("lambda").get<double>(), 300.0);
  EXPECT_EQ(c.model_params.at("factors").get<int>(), 32);
  EXPECT_EQ(c.data.dataset, "other");
  EXPECT_EQ(c.metrics, std::vector<std::string>{"ndcg@10"});
  EXPECT_FALSE(c.refit);
  EXPECT_EQ(c.family, "ials");
}

// Found by the config fuzzer: an override whose key was not UTF-8 reached the JSON copy of the
// config, and dumping that copy threw a non-Error exception.
TEST(TrainConfig, AnOverrideThatIsNotUtf8IsRefusedByName) {
  try {
    ParseTrainConfig(kIssueConfig, "x.toml", {"model.facto\x8e\x8clit.seed=al"});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

TEST(TrainConfig, RelativePathsResolveAgainstTheConfigFolder) {
  TrainConfig tc = ParseTrainConfig(
      "[data]\ntrain = \"data/u.data\"\n[split]\nprotocol = \"given\"\neval_input = \"in.tsv\"\n"
      "eval_target = \"/abs/t.tsv\"\n[model]\nfamily = \"popularity\"\n",
      "/tmp/cfg/job.toml", {});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  EXPECT_EQ(c.data.train, "/tmp/cfg/data/u.data");
  EXPECT_EQ(c.eval_input, "/tmp/cfg/in.tsv");
  EXPECT_EQ(c.eval_target, "/abs/t.tsv");
}

TEST(TrainConfig, ErrorsNameTheProblem) {
  EXPECT_NE(ErrorOf("[data]\ndataset = \"x\"\n").find("[model] family is required"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[data]\n[model]\nfamily=\"ease\"\n").find("exactly one of"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[data]\ndataset=\"x\"\ntrain=\"y\"\n[model]\nfamily=\"ease\"\n")
                .find("exactly one of"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[data]\ndataset=\"x\"\ndatset=1\n[model]\nfamily=\"ease\"\n")
                .find("unknown key 'datset' in [data]"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[dta]\n[model]\nfamily=\"ease\"\n").find("unknown section [dta]"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("[data]\ndataset=\"x\"\n[split]\ntest_users=\"many\"\n[model]\nfamily=\"ease\"\n")
          .find("test_users must be an integer"),
      std::string::npos);
  EXPECT_NE(ErrorOf("[data]\ndataset = \n").find("job.toml:2"), std::string::npos);
  EXPECT_NE(ErrorOf(kIssueConfig, {"lambda"}).find("section.key=value"), std::string::npos);
  EXPECT_NE(ErrorOf(kIssueConfig, {"lambda=3"}).find("name a section"), std::string::npos);
  EXPECT_NE(
      ErrorOf("[data]\ndataset=\"x\"\n[split]\nprotocol=\"given\"\n[model]\nfamily=\"ease\"\n")
          .find("eval_input"),
      std::string::npos);
}

// Issue #12: --set model.family=ials on a config written for EASE used to fail with "unknown
// parameter 'lambda' for family 'ials'". The other family's parameters are now dropped.
TEST(TrainConfig, FamilyOverrideDropsTheOtherFamilysParameters) {
  TrainConfig tc = ParseTrainConfig(kIssueConfig, "/tmp/cfg/job.toml", {"model.family=ials"});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  EXPECT_EQ(c.family, "ials");
  EXPECT_FALSE(c.model_params.contains("lambda")) << c.model_params.dump();
  // The family accepts what is left: creating it does not throw.
  EXPECT_NO_THROW(CreateRecommender(c.family, c.model_params));
}

TEST(TrainConfig, FamilyOverrideKeepsTheChosenFamilysParameters) {
  TrainConfig tc = ParseTrainConfig(
      "[data]\ndataset = \"d\"\n[model]\nfamily = \"ease\"\nlambda = 5.0\nfactors = 8\n",
      "/tmp/cfg/job.toml", {"model.family=ials"});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  EXPECT_EQ(c.model_params.value("factors", 0), 8);  // an ials parameter survives
  EXPECT_FALSE(c.model_params.contains("lambda"));
}

TEST(TrainConfig, FamilyOverrideStillRejectsTypos) {
  // A key no family knows is kept, so the factory names it.
  TrainConfig tc =
      ParseTrainConfig("[data]\ndataset = \"d\"\n[model]\nfamily = \"ease\"\nfactorz = 8\n",
                       "/tmp/cfg/job.toml", {"model.family=ials"});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  ASSERT_TRUE(c.model_params.contains("factorz"));
  try {
    CreateRecommender(c.family, c.model_params);
    ADD_FAILURE() << "a typo was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown parameter 'factorz'"), std::string::npos);
  }
  // Another family's parameter given by --set itself is not silently dropped.
  TrainConfig d =
      ParseTrainConfig(kIssueConfig, "/tmp/cfg/job.toml", {"model.family=ials", "model.lambda=3"});
  EXPECT_TRUE(d.params.contains("lambda"));
  EXPECT_THROW(CreateRecommender(d.family, d.params), Error);
}

TEST(TrainConfig, NoFamilyOverrideNoDropping) {
  // Without --set model.family a wrong parameter stays an error (nothing is dropped).
  TrainConfig tc =
      ParseTrainConfig("[data]\ndataset = \"d\"\n[model]\nfamily = \"ials\"\nlambda = 5.0\n",
                       "/tmp/cfg/job.toml", {});
  const RecommenderConfig& c = tc.As<RecommenderConfig>();
  EXPECT_TRUE(c.model_params.contains("lambda"));
}

// [model] family picks the kind; the kind parses the sections into its own config type.
TEST(TrainConfig, TheFamilyPicksTheKind) {
  TrainConfig rec = ParseTrainConfig(kIssueConfig, "/tmp/cfg/job.toml", {});
  EXPECT_EQ(rec.kind->name(), "recommender");
  EXPECT_EQ(rec.params, rec.As<RecommenderConfig>().model_params);
  EXPECT_THROW(rec.As<BanditKindConfig>(), Error);

  TrainConfig pol = ParseTrainConfig(
      "[data]\ntrain = \"log.jsonl\"\n[model]\nfamily = \"linucb\"\nname = \"art\"\n",
      "/tmp/cfg/job.toml", {});
  EXPECT_EQ(pol.kind->name(), "bandit");
  EXPECT_EQ(pol.model_name, "art");
  EXPECT_EQ(pol.As<BanditKindConfig>().job.train, "/tmp/cfg/log.jsonl");

  TrainConfig tab = ParseTrainConfig(
      "[data]\ntrain = \"rows.csv\"\nlabel = \"y\"\n[model]\nfamily = \"xgboost\"\n",
      "/tmp/cfg/retry.toml", {});
  EXPECT_EQ(tab.kind->name(), "tabular");
  EXPECT_EQ(tab.model_name, "retry");
  EXPECT_EQ(tab.As<TabularKindConfig>().job.label, "y");
}

TEST(TrainConfig, AnUnknownFamilyIsRefusedBeforeAnyWorkListingEveryKindsFamilies) {
  const std::string e = ErrorOf("[data]\ndataset = \"d\"\n[model]\nfamily = \"eaze\"\n");
  EXPECT_NE(e.find("unknown model family 'eaze'"), std::string::npos) << e;
  for (const char* family : {"ease", "rp3beta", "linucb", "xgboost"}) {
    EXPECT_NE(e.find(family), std::string::npos) << family << " missing from: " << e;
  }
  const std::string missing = ErrorOf("[data]\ndataset = \"d\"\n[model]\nname = \"x\"\n");
  EXPECT_NE(missing.find("[model] family is required"), std::string::npos) << missing;
  EXPECT_NE(missing.find("xgboost"), std::string::npos) << missing;
}

}  // namespace
}  // namespace marquee
