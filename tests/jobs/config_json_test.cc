// A train config given as JSON (as an API request sends it) parses exactly as the same TOML does.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "marquee/error.h"
#include "pipeline/config.h"

namespace marquee {
namespace {

const char* kToml = R"(
[model]
family = "ials"
name = "title-recs"
factors = 64
regularization = 0.5
[data]
dataset = "ml100k"
positive_threshold = 3.5
[split]
protocol = "strong-generalization"
test_users = 150
seed = 98765
[eval]
metrics = ["recall@20", "ndcg@100"]
)";

const char* kJson = R"({
  "data": {"dataset": "ml100k", "positive_threshold": 3.5},
  "split": {"protocol": "strong-generalization", "test_users": 150, "seed": 98765},
  "model": {"family": "ials", "name": "title-recs", "factors": 64, "regularization": 0.5},
  "eval": {"metrics": ["recall@20", "ndcg@100"]}
})";

// The message of the kInvalidArgument that parsing `json` throws ("" when it parses).
std::string JsonError(const std::string& json, const std::vector<std::string>& sets = {}) {
  try {
    ParseTrainConfigJson(json, "<string>", sets);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "";
}

TEST(JsonTrainConfig, ParsesAsTheSameToml) {
  const TrainConfig t = ParseTrainConfig(kToml, "<string>", {"model.factors=32"});
  const TrainConfig j = ParseTrainConfigJson(kJson, "<string>", {"model.factors=32"});
  EXPECT_EQ(j.as_given, t.as_given);
  EXPECT_EQ(j.family, "ials");
  EXPECT_EQ(j.family, t.family);
  EXPECT_EQ(j.model_name, "title-recs");
  EXPECT_EQ(j.params, t.params);
  EXPECT_EQ(j.params.at("factors"), 32);  // the override applies to JSON too
  EXPECT_EQ(j.settings->Resolved(), t.settings->Resolved());
  // Integers stay integers, as in TOML.
  EXPECT_TRUE(j.as_given["split"]["test_users"].is_number_integer());
  EXPECT_EQ(j.as_given["split"]["test_users"].dump(), t.as_given["split"]["test_users"].dump());
}

TEST(JsonTrainConfig, RefusalsNameTheKey) {
  EXPECT_NE(JsonError(R"({"data": {"dataset": "x", "datset": 1}, "model": {"family": "ease"}})")
                .find("unknown key 'datset' in [data]"),
            std::string::npos);
  EXPECT_NE(JsonError(R"({"dta": {}, "model": {"family": "ease"}})").find("unknown section [dta]"),
            std::string::npos);
  EXPECT_NE(JsonError(R"({"data": {"dataset": "x"}, "split": {"test_users": 10.5},)"
                      R"( "model": {"family": "ease"}})")
                .find("test_users must be an integer"),
            std::string::npos);
  EXPECT_NE(JsonError(R"({"data": {"dataset": "x"}})").find("[model] family is required"),
            std::string::npos);
  EXPECT_NE(JsonError(R"({"data": {"train": null}, "model": {"family": "ease"}})")
                .find("data.train is null"),
            std::string::npos);
  EXPECT_NE(JsonError(R"({"data": {"dataset": "x"}, "split": {"seed": 18446744073709551615},)"
                      R"( "model": {"family": "ease"}})")
                .find("split.seed = 18446744073709551615 is out of the integer range"),
            std::string::npos);
  EXPECT_NE(JsonError(R"(["data"])").find("a JSON config is an object of sections"),
            std::string::npos);
  EXPECT_NE(JsonError(R"({"data": {"dataset": )").find("not a JSON config"), std::string::npos);
  // A number beyond double's range is the parser's out_of_range, not a parse_error: still a
  // refusal (it escaped as an uncaught exception before; found by fuzz_config).
  EXPECT_NE(JsonError(R"({"model": {"family": "ease", "lambda": 1e999}})")
                .find("number overflow parsing '1e999'"),
            std::string::npos);
  EXPECT_NE(JsonError(std::string(100, '[') + std::string(100, ']')).find("deeper than 64"),
            std::string::npos);
  EXPECT_NE(JsonError(kJson, {"lambda=3"}).find("name a section"), std::string::npos);
  EXPECT_EQ(JsonError(kJson), "");
}

}  // namespace
}  // namespace marquee
