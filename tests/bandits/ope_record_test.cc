// The latest off-policy evaluation per policy (bandits/ope_record.h): written atomically, read
// back whole, replaced by the next one, and refused when damaged, of a newer format or of
// another policy.
#include <gtest/gtest.h>

#include "bandits/ope_record.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

OpeResult Result(double ips, int bootstrap) {
  OpeResult r;
  r.order = {"ips", "snips"};
  r.estimates = {{"ips", {ips, ips - 0.1, ips + 0.1}},
                 {"snips", {std::nan(""), 0.0, 1.0}}};  // a non-finite value is null
  r.n = 500;
  r.ess = 123.5;
  r.logged_reward = 0.25;
  r.bootstrap = bootstrap;
  r.warnings = {"few rows"};
  return r;
}

TEST(OpeRecord, RoundTripsAndTheLatestReplacesTheFirst) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  Env* env = Env::Default();
  EXPECT_FALSE(LoadOpeRecord(env, home, "artwork").has_value());
  const json first = OpeRecordJson(
      {"artwork", 2, "artwork version 2 (linucb)", "clicks", "sha-of-clicks", 1796083200},
      Result(0.5, 100));
  EXPECT_EQ(SaveOpeRecord(env, home, first), home + "/bandit/ope/artwork.json");
  const auto back = LoadOpeRecord(env, home, "artwork");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, first);
  EXPECT_EQ((*back)["computed_at"], "2026-12-01T00:00:00Z");
  EXPECT_EQ((*back)["decisions"], 500);
  EXPECT_EQ((*back)["estimates"][0],
            json({{"estimator", "ips"}, {"value", 0.5}, {"lo", 0.5 - 0.1}, {"hi", 0.5 + 0.1}}));
  EXPECT_TRUE((*back)["estimates"][1]["value"].is_null());
  // The next evaluation replaces it; without a bootstrap there are no interval ends.
  const json second =
      OpeRecordJson({"artwork", 3, "v3", "clicks", "sha", 1796083300}, Result(0.7, 0));
  SaveOpeRecord(env, home, second);
  const json latest = *LoadOpeRecord(env, home, "artwork");
  EXPECT_EQ(latest["version"], 3);
  EXPECT_DOUBLE_EQ(latest["estimates"][0]["value"].get<double>(), 0.7);
  EXPECT_TRUE(latest["estimates"][0]["lo"].is_null());
  EXPECT_TRUE(latest["estimates"][0]["hi"].is_null());
  EXPECT_FALSE(LoadOpeRecord(env, home, "other").has_value());
}

TEST(OpeRecord, RefusesDamagedNewerAndMisplacedRecordsAndBadNames) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  Env* env = Env::Default();
  const json record = OpeRecordJson({"artwork", 1, "c", "log", "id", 1}, Result(0.5, 10));
  SaveOpeRecord(env, home, record);
  const std::string path = OpeRecordPath(home, "artwork");
  auto code_of = [&](const std::string& policy) {
    try {
      LoadOpeRecord(env, home, policy);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;  // no error: the test fails below
  };
  env->WriteFileAtomic(path, "{\"format_version\": 1, \"policy\": ");
  EXPECT_EQ(code_of("artwork"), ErrorCode::kCorruption);
  json newer = record;
  newer["format_version"] = 2;
  env->WriteFileAtomic(path, newer.dump());
  EXPECT_EQ(code_of("artwork"), ErrorCode::kCorruption);
  json misplaced = record;
  misplaced["policy"] = "other";
  env->WriteFileAtomic(path, misplaced.dump());
  EXPECT_EQ(code_of("artwork"), ErrorCode::kCorruption);
  EXPECT_EQ(code_of("../etc"), ErrorCode::kInvalidArgument);
  json bad = record;
  bad.erase("estimates");
  EXPECT_THROW(SaveOpeRecord(env, home, bad), Error);
}

}  // namespace
}  // namespace marquee
