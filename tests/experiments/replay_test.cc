// The replay simulator (src/experiments/replay.h) on a small synthetic dataset with a clear
// winner, on identical rankers (A/A), and on ML-100K when shared/data is present.
#include "experiments/replay.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

// 600 users in 6 taste clusters of 20 items each; a user likes 12 items of its cluster and 2
// globally popular items, so a collaborative model clearly beats popularity.
std::string WriteClusteredData(const testing::TempDir& dir) {
  const std::string path = dir.file("clustered.tsv");
  std::ofstream out(path);
  std::mt19937_64 rng(3);
  for (int u = 0; u < 600; ++u) {
    const int cluster = u % 6;
    std::vector<int> items(20);
    for (int i = 0; i < 20; ++i) items[i] = cluster * 20 + i;
    std::shuffle(items.begin(), items.end(), rng);
    for (int i = 0; i < 12; ++i) out << "u" << u << "\ti" << items[i] << "\n";
    out << "u" << u << "\tpop" << (u % 3) << "\n";
    out << "u" << u << "\tpop" << (u % 3 + 1) << "\n";
  }
  return path;
}

ReplayConfig SmallConfig(const std::string& file) {
  ReplayConfig c;
  c.data_file = file;
  c.seeds = 3;
  c.max_members = 3000;
  c.power_reps = 20;
  return c;
}

Context OneThread() {
  Context ctx;
  ctx.threads = 1;
  return ctx;
}

TEST(Replay, BothMethodsFindTheBetterRanker) {
  testing::TempDir dir;
  const ReplayConfig c = SmallConfig(WriteClusteredData(dir));
  const auto result = RunReplaySimulation(c, ParseRankerSpec("popularity"),
                                          ParseRankerSpec("itemknn"), OneThread());
  EXPECT_EQ(result["better"], "b");
  EXPECT_GT(result["b"]["plays_per_member"].get<double>(),
            result["a"]["plays_per_member"].get<double>());
  EXPECT_EQ(result["held_out_members"].get<int>(), 300);  // half the users by default
  EXPECT_EQ(result["ab"]["detected"].get<int>(), 3);
  EXPECT_EQ(result["ab"]["right_direction"].get<int>(), 3);
  EXPECT_EQ(result["interleave"]["detected"].get<int>(), 3);
  EXPECT_EQ(result["interleave"]["right_direction"].get<int>(), 3);
  // The effect here is so large that either method stops within a few dozen members (which
  // one is faster varies by seed); ML-100K below checks interleaving's advantage.
  EXPECT_GT(result["ratio_ab_over_interleave"]["mean"].get<double>(), 0.0);
  EXPECT_LE(result["ab"]["members"]["max"].get<double>(), 300.0);
  EXPECT_LE(result["interleave"]["members"]["max"].get<double>(), 300.0);
  ASSERT_EQ(result["seeds"].size(), 3u);
  // Deterministic: the same settings give the same members needed.
  const auto again = RunReplaySimulation(c, ParseRankerSpec("popularity"),
                                         ParseRankerSpec("itemknn"), OneThread());
  EXPECT_EQ(again["seeds"], result["seeds"]);
  EXPECT_EQ(again["fixed_horizon"], result["fixed_horizon"]);
  const std::string report = FormatReplayReport(result);
  EXPECT_NE(report.find("ratio A/B over interleaving"), std::string::npos) << report;
}

TEST(Replay, IdenticalRankersRarelyReachSignificance) {
  testing::TempDir dir;
  ReplayConfig c = SmallConfig(WriteClusteredData(dir));
  c.seeds = 10;
  c.max_members = 1500;
  c.power_reps = 0;
  const auto result =
      RunReplaySimulation(c, ParseRankerSpec("itemknn"), ParseRankerSpec("itemknn"), OneThread());
  EXPECT_EQ(result["better"], "tie");
  // Under the null each sequential test stops with probability <= alpha; allow 2 of 10.
  EXPECT_LE(result["ab"]["detected"].get<int>(), 2);
  EXPECT_LE(result["interleave"]["detected"].get<int>(), 2);
  EXPECT_TRUE(result["fixed_horizon"]["grid"].empty());
}

TEST(Replay, RankerSpecsAndBadSettings) {
  const RankerSpec s = ParseRankerSpec("ease:lambda=250.0");
  EXPECT_EQ(s.family, "ease");
  EXPECT_DOUBLE_EQ(s.params["lambda"].get<double>(), 250.0);
  auto code = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code([] { ParseRankerSpec("no-such-family"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([] { ParseRankerSpec("ease:lambda"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([] { ParseRankerSpec("ease:no_such_param=1"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([] { ParseRankerSpec(""); }), ErrorCode::kInvalidArgument);
  const std::string example = std::string(MARQUEE_SOURCE_DIR) + "/examples/ml100k-ease.toml";
  const RankerSpec from_file = ParseRankerSpec(example);
  EXPECT_EQ(from_file.family, "ease");
  EXPECT_DOUBLE_EQ(from_file.params["lambda"].get<double>(), 500.0);

  // Model references go to the resolver; family names and "family:params" do not.
  int lookups = 0;
  const RankerRefResolver resolver = [&](const std::string& ref) -> std::optional<RankerSpec> {
    ++lookups;
    if (ref != "recs@production") return std::nullopt;
    RankerSpec r;
    r.family = "ease";
    r.params = {{"lambda", 123.0}};
    return r;
  };
  const RankerSpec ref = ParseRankerSpec("recs@production", resolver);
  EXPECT_EQ(ref.family, "ease");
  EXPECT_EQ(ref.label, "recs@production");
  EXPECT_DOUBLE_EQ(ref.params["lambda"].get<double>(), 123.0);
  EXPECT_EQ(ParseRankerSpec("popularity", resolver).family, "popularity");
  EXPECT_EQ(lookups, 1);
  EXPECT_EQ(code([&] { ParseRankerSpec("other/3", resolver); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(lookups, 2);

  testing::TempDir dir;
  ReplayConfig c = SmallConfig(WriteClusteredData(dir));
  c.k = 0;
  EXPECT_EQ(code([&] { RunReplaySimulation(c, s, s, OneThread()); }), ErrorCode::kInvalidArgument);
  c = SmallConfig(dir.file("missing.tsv"));
  EXPECT_EQ(code([&] { RunReplaySimulation(c, s, s, OneThread()); }), ErrorCode::kNotFound);
  c = ReplayConfig{};
  EXPECT_EQ(code([&] { RunReplaySimulation(c, s, s, OneThread()); }), ErrorCode::kInvalidArgument);
}

TEST(Replay, Ml100kEaseAgainstPopularity) {
  MARQUEE_REQUIRE_SHARED(path, "movielens-100k/u.data");
  ReplayConfig c;
  c.data_file = path;
  c.positive_threshold = 3.5;
  c.seeds = 5;
  c.power_reps = 50;
  const auto result = RunReplaySimulation(c, ParseRankerSpec("popularity"),
                                          ParseRankerSpec("ease:lambda=500.0"), OneThread());
  EXPECT_EQ(result["better"], "b");
  EXPECT_EQ(result["ab"]["detected"].get<int>(), 5);
  EXPECT_EQ(result["ab"]["right_direction"].get<int>(), 5);
  EXPECT_EQ(result["interleave"]["detected"].get<int>(), 5);
  EXPECT_EQ(result["interleave"]["right_direction"].get<int>(), 5);
  EXPECT_GT(result["ratio_ab_over_interleave"]["mean"].get<double>(), 1.0);
}

}  // namespace
}  // namespace marquee
