// The dashboard's experiment and bandit routes over HTTP (control/insight_routes.cc): an
// experiment day by day from a home with a known exposure and event log, the bandit policies
// from a known decision log (buckets, rates, action shares exact), the latest off-policy
// evaluation read back, and unknown names answered 404.
#include <gtest/gtest.h>

#include <atomic>

#include "bandit_serving/bandit_test_util.h"
#include "bandits/decision_log.h"
#include "bandits/ope_record.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "experiments/exposure_log.h"
#include "experiments/stats.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

constexpr int64_t kBase = 1796083200;  // 2026-12-01T00:00:00Z
constexpr int64_t kDay = 86400;
constexpr int64_t kBaseMs = kBase * 1000;
constexpr int64_t kHourMs = 3600 * 1000;

class InsightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    marquee::testing::RegisterModel(home_, "recs", "popularity");
  }
  void Start() {
    marquee::testing::InProcessServerOptions o;
    server_ = std::make_unique<marquee::testing::InProcessServer>(home_, std::move(o));
    server_->Start();
  }
  marquee::testing::HttpResult Get(const std::string& path) {
    return server_->client()->Call("GET", path);
  }

  marquee::testing::TempDir dir_;
  std::string home_;
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

// 30 members in two cells over three days (10, 10, 10 first exposures; the day-0 members
// exposed again on day 2), each playing a shown item the day it was first exposed: treatment
// members 2 or 3 times, control members 1 or 2 times. Read from the home's logs by the route.
TEST_F(InsightTest, ExperimentTimeseriesCountsDaysExactlyAndLooksAtEachDayEnd) {
  ExperimentSpec spec = ParseExperimentToml(R"(
[experiment]
name = "rows"
salt = "s"
[[cell]]
name = "control"
model = "recs/1"
[[cell]]
name = "treatment"
model = "recs/2"
)",
                                            "rows.toml");
  {
    Registry reg(home_);
    CreateExperiment(reg, spec, "", kBase - 10);
    StartExperiment(reg, "rows", kBase - 10);
  }
  std::vector<int> plays(30);
  std::vector<int64_t> first(30);
  {
    auto exposures = ExposureLog::Open(home_ + "/experiments/exposures");
    auto events = EventLog::Open(home_ + "/events");
    std::vector<Event> played;
    auto expose = [&](int u, int64_t ts) {
      Exposure e;
      e.experiment = "rows";
      e.cell = u % 2 ? "treatment" : "control";
      e.user = "u" + std::to_string(u);
      e.ts = ts;
      e.items = {"i1", "i2", "i3"};
      ASSERT_TRUE(exposures->Record(e));
    };
    for (int u = 0; u < 30; ++u) {
      first[u] = kBase + (u / 10) * kDay + 60 * u;
      expose(u, first[u]);
      plays[u] = (u % 2 ? 2 : 1) + (u % 3 == 0 ? 1 : 0);
      for (int p = 0; p < plays[u]; ++p) {
        played.push_back({"u" + std::to_string(u), "i" + std::to_string(1 + p), "play", 1.0f,
                          first[u] + 10 + p});
      }
    }
    for (int u = 0; u < 10; ++u) expose(u, kBase + 2 * kDay + 3600 + u);
    exposures->Flush();
    events->Append(played);
  }
  Start();
  auto r = Get("/api/v1/experiments/rows/timeseries");
  ASSERT_EQ(r.status, 200) << r.body;
  const json t = r.json();
  EXPECT_EQ(t["experiment"], "rows");
  EXPECT_EQ(t["state"], "running");
  EXPECT_EQ(t["cells"], json({"control", "treatment"}));
  ASSERT_EQ(t["days"].size(), 3u) << r.body;
  ASSERT_EQ(t["sequential"].size(), 3u);
  const int exposed[] = {5, 5, 10};  // per cell
  SequentialTest::Options o;
  o.rescale_tau2 = true;
  SequentialTest expected(o);
  for (int k = 0; k < 3; ++k) {
    const json& d = t["days"][k];
    EXPECT_EQ(d["day"], fmt::format("2026-12-0{}", k + 1));
    EXPECT_EQ(d["exposures"], json({{"control", exposed[k]}, {"treatment", exposed[k]}}));
    EXPECT_EQ(d["new_members"], json({{"control", 5}, {"treatment", 5}}));
    MomentAccumulator cells[2];
    for (int u = 0; u < 30; ++u) {
      if (first[u] < kBase + (k + 1) * kDay) cells[u % 2].Add(plays[u]);
    }
    const double p = expected.PeekAt(cells[0].Get(), cells[1].Get());
    EXPECT_EQ(t["sequential"][k]["users"], 10 * (k + 1));
    EXPECT_NEAR(t["sequential"][k]["p_value"].get<double>(), p, 1e-12 * p) << "day " << k;
  }
  EXPECT_LT(expected.p_value(), 1.0);  // the checks above saw the p-value move
  // The analysis of the same route family still carries what the dashboard shows.
  r = Get("/api/v1/experiments/rows/analysis");
  ASSERT_EQ(r.status, 200) << r.body;
  const json a = r.json();
  EXPECT_TRUE(a["srm"].contains("p_value")) << r.body;
  const json& ppm = a["comparisons"][0]["plays_per_member"];
  EXPECT_EQ(ppm["diff_ci"].size(), 2u) << r.body;
  EXPECT_TRUE(ppm["cuped"].contains("diff_ci") || ppm["cuped"].contains("error")) << r.body;

  r = Get("/api/v1/experiments/nope/timeseries");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("nope"), std::string::npos);
}

// A decision log with a clock the test moves: policy "artwork" (versions 1 and 2) decides 10
// times in hour 0 (actions a, b, c in turn; every other decision rewarded 1), 5 times in hour 2
// (one reward 0.5) and 3 times on the next day (still open); "other" decides twice. The window
// is one hour and the rest get the default reward 0.
void WriteDecisionLog(const std::string& home) {
  std::atomic<int64_t> now{kBaseMs};
  DecisionLogOptions o;
  o.now_ms = [&now] { return now.load(); };
  o.sweep_interval = std::chrono::milliseconds(0);
  o.reward_window_ms = kHourMs;
  auto log = DecisionLog::Open(home + "/decisions", o);
  auto decide = [&](const std::string& policy, int64_t version, int64_t ts_ms, uint32_t chosen,
                    std::optional<double> reward) {
    now = ts_ms;
    Decision d;
    d.id = DecisionLog::NewId(ts_ms);
    d.ts_ms = ts_ms;
    d.model = policy;
    d.version = version;
    d.actions = json::array({{{"id", "a"}}, {{"id", "b"}}, {{"id", "c"}}});
    d.probabilities = {0.5, 0.25, 0.25};
    d.chosen = chosen;
    const std::string id = d.id;
    log->Append(std::move(d));
    if (reward) log->Reward(id, *reward);
  };
  for (int i = 0; i < 10; ++i) {
    decide("artwork", 1, kBaseMs + i * 60000, i % 3,
           i % 2 == 0 ? std::optional(1.0) : std::nullopt);
  }
  decide("other", 1, kBaseMs + kHourMs / 2, 0, 1.0);
  decide("other", 1, kBaseMs + kHourMs / 2 + 1, 0, 1.0);
  for (int i = 0; i < 5; ++i) {
    decide("artwork", 2, kBaseMs + 2 * kHourMs + i * 60000, i < 3 ? 0 : 1,
           i == 0 ? std::optional(0.5) : std::nullopt);
  }
  now = kBaseMs + 5 * kHourMs;
  EXPECT_EQ(log->Sweep(), 9u);  // 5 + 4 unrewarded, past their window
  for (int i = 0; i < 3; ++i) decide("artwork", 2, kBaseMs + kDay * 1000 + i * 60000, 2, {});
}

TEST_F(InsightTest, BanditsCountDecisionsRewardsAndActionsPerBucket) {
  WriteDecisionLog(home_);
  Start();
  auto r = Get("/api/v1/bandits");
  ASSERT_EQ(r.status, 200) << r.body;
  const json list = r.json()["policies"];
  ASSERT_EQ(list.size(), 2u) << r.body;  // the recommender "recs" is not a policy
  EXPECT_EQ(list[0]["name"], "artwork");
  EXPECT_EQ(list[0]["versions"], json({1, 2}));
  EXPECT_EQ(list[0]["decisions"], 18);
  EXPECT_EQ(list[0]["closed"], 15);
  EXPECT_EQ(list[0]["joined"], 6);
  EXPECT_DOUBLE_EQ(list[0]["rewards"].get<double>(), 5.5);
  EXPECT_DOUBLE_EQ(list[0]["reward_rate"].get<double>(), 5.5 / 15);
  EXPECT_TRUE(list[0]["family"].is_null());  // not in the registry
  EXPECT_EQ(list[1]["name"], "other");
  EXPECT_DOUBLE_EQ(list[1]["reward_rate"].get<double>(), 1.0);

  r = Get("/api/v1/bandits/artwork?bucket=hour");
  ASSERT_EQ(r.status, 200) << r.body;
  json b = r.json();
  EXPECT_EQ(b["policy"], "artwork");
  EXPECT_EQ(b["bucket_seconds"], 3600);
  const json hours = json::parse(R"([
    {"start": "2026-12-01T00:00:00Z", "decisions": 10, "closed": 10, "rewards": 5.0,
     "reward_rate": 0.5},
    {"start": "2026-12-01T02:00:00Z", "decisions": 5, "closed": 5, "rewards": 0.5,
     "reward_rate": 0.1},
    {"start": "2026-12-02T00:00:00Z", "decisions": 3, "closed": 0, "rewards": 0.0,
     "reward_rate": null}])");
  EXPECT_EQ(b["series"], hours) << b["series"].dump();
  const json actions = json::parse(R"([
    {"action": "a", "decisions": 7}, {"action": "c", "decisions": 6},
    {"action": "b", "decisions": 5}])");
  ASSERT_EQ(b["actions"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(b["actions"][i]["action"], actions[i]["action"]);
    EXPECT_EQ(b["actions"][i]["decisions"], actions[i]["decisions"]);
    EXPECT_DOUBLE_EQ(b["actions"][i]["share"].get<double>(),
                     actions[i]["decisions"].get<double>() / 18);
  }
  EXPECT_TRUE(b["ope"].is_null());

  r = Get("/api/v1/bandits/artwork?bucket=day");
  ASSERT_EQ(r.status, 200) << r.body;
  b = r.json();
  ASSERT_EQ(b["series"].size(), 2u) << r.body;
  EXPECT_EQ(b["series"][0]["decisions"], 15);
  EXPECT_DOUBLE_EQ(b["series"][0]["reward_rate"].get<double>(), 5.5 / 15);
  EXPECT_EQ(b["series"][1]["start"], "2026-12-02T00:00:00Z");

  // Only what was decided since hour 1.
  r = Get("/api/v1/bandits/artwork?since=2026-12-01T01:00:00Z");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["decisions"], 8);
  EXPECT_EQ(r.json()["series"].size(), 2u);

  EXPECT_EQ(Get("/api/v1/bandits/artwork?bucket=week").status, 400);
  EXPECT_EQ(Get("/api/v1/bandits/artwork?since=yesterday").status, 400);
  r = Get("/api/v1/bandits/nope");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("nope"), std::string::npos);
  EXPECT_EQ(Get("/api/v1/bandits/recs").status, 404);  // a recommender, not a policy
}

// A policy of the registry with no decisions yet is listed and shown; `marquee ope`'s record
// of it is read back whole.
TEST_F(InsightTest, RegistryPoliciesAndTheirLatestEvaluationAreShown) {
  const int64_t v =
      marquee::testing::RegisterPolicy(home_, "artwork", *marquee::testing::SkewedPolicy());
  marquee::testing::SetAlias(home_, "artwork", "production", v);
  OpeResult result;
  result.order = {"ips", "dr"};
  result.estimates = {{"ips", {0.31, 0.27, 0.35}}, {"dr", {0.3, 0.28, 0.33}}};
  result.n = 1000;
  result.ess = 400;
  result.bootstrap = 200;
  const json record = OpeRecordJson(
      {"artwork", v, "artwork version 1 (softmax)", "clicks", "abc", kBase + 3600}, result);
  SaveOpeRecord(Env::Default(), home_, record);
  Start();
  auto r = Get("/api/v1/bandits");
  ASSERT_EQ(r.status, 200) << r.body;
  const json list = r.json()["policies"];
  ASSERT_EQ(list.size(), 1u) << r.body;
  EXPECT_EQ(list[0]["family"], "softmax");
  EXPECT_EQ(list[0]["aliases"], json({{"production", v}}));
  EXPECT_EQ(list[0]["decisions"], 0);
  EXPECT_TRUE(list[0]["reward_rate"].is_null());

  r = Get("/api/v1/bandits/artwork");
  ASSERT_EQ(r.status, 200) << r.body;
  const json b = r.json();
  EXPECT_EQ(b["bucket"], "hour");
  EXPECT_TRUE(b["series"].empty());
  EXPECT_EQ(b["ope"], record);
  EXPECT_EQ(b["ope"]["computed_at"], "2026-12-01T01:00:00Z");
  EXPECT_EQ(b["ope"]["estimates"][0],
            json({{"estimator", "ips"}, {"value", 0.31}, {"lo", 0.27}, {"hi", 0.35}}));
}

}  // namespace
}  // namespace marquee
