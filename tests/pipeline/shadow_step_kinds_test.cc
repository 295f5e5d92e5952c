// The pipeline's `shadow` step for bandit and tabular candidates (issue #17), against a home
// whose shadow log (and, for bandits, decision log) already holds the traffic a server would
// have logged: a bandit candidate passes on enough shadowed and rewarded decisions when its
// SNIPS estimate is not below production's observed reward by more than max_value_drop; a
// tabular candidate on enough requests, max_mean_abs_diff and min_class_agreement.
#include <gtest/gtest.h>

#include <chrono>

#include "bandit_serving/bandit_test_util.h"
#include "bandits/decision_log.h"
#include "experiments/shadow_log.h"
#include "flow/step.h"
#include "pipeline/train.h"
#include "serving/tabular_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ShadowStepKinds : public ::testing::Test {
 protected:
  void SetUp() override { home_ = dir_.file("home"); }

  // Runs the shadow step after a train step that made `model`/`candidate`, as the engine would.
  flow::StepResult RunStep(const std::string& model, int64_t candidate, json spec) {
    Registry reg = OpenRegistry(home_);
    const json earlier = {{"train", {{"candidate", {{"model", model}, {"version", candidate}}}}}};
    flow::StepContext ctx(reg, earlier);
    ctx.home = home_;
    ctx.env = Env::Default();
    ctx.pipeline = "fresh";
    ctx.model = model;
    ctx.pipeline_run = 1;
    ctx.step_name = "shadow";
    ctx.order = {{"train", "train"}};
    spec["name"] = "shadow";
    spec["kind"] = "shadow";
    spec["poll"] = "1s";
    spec["timeout"] = "1s";
    auto step = flow::CreateStep("shadow");
    step->Validate(spec);
    return step->Run(spec, ctx);
  }

  // Logs `n` decisions of artwork v1 over actions {a, b}, production uniform, choosing a on even
  // ones; the candidate v2 puts `candidate_p_a` on a. A decision is rewarded 1 when it chose a
  // (0 otherwise); the first `rewarded` of them get their reward.
  void LogDecisions(int n, int rewarded, double candidate_p_a) {
    DecisionLogOptions o;
    o.sync = false;
    o.sweep_interval = std::chrono::milliseconds(0);
    auto decisions = DecisionLog::Open(home_ + "/decisions", o);
    auto shadow = ShadowLog::Open(home_ + "/serving/shadow");
    for (int i = 0; i < n; ++i) {
      Decision d;
      d.ts_ms = decisions->NowMs();
      d.id = DecisionLog::NewId(d.ts_ms);
      d.model = "artwork";
      d.version = 1;
      d.actions = json::array({{{"id", "a"}, {"features", json::object()}},
                               {{"id", "b"}, {"features", json::object()}}});
      d.probabilities = {0.5, 0.5};
      d.chosen = i % 2 == 0 ? 0 : 1;
      decisions->Append(d);
      if (i < rewarded) decisions->Reward(d.id, d.chosen == 0 ? 1.0 : 0.0);
      ShadowRecord r;
      r.kind = ShadowKind::kBandit;
      r.model = "artwork";
      r.production_version = 1;
      r.candidate_version = 2;
      r.ts = Now() + 60;  // after the step moves the shadow alias
      r.decision_id = d.id;
      r.actions = {"a", "b"};
      r.production_probabilities = {0.5, 0.5};
      r.chosen = d.chosen;
      r.candidate_probabilities = {candidate_p_a, 1 - candidate_p_a};
      r.candidate_greedy = candidate_p_a >= 0.5 ? 0 : 1;
      ASSERT_TRUE(shadow->Record(r));
    }
    shadow->Flush();
  }

  // Logs `n` predict requests of retry v1 with two rows each: production scores 0.2 and 0.7,
  // the candidate's shifted by `shift`.
  void LogPredictions(int n, double shift) {
    auto shadow = ShadowLog::Open(home_ + "/serving/shadow");
    for (int i = 0; i < n; ++i) {
      ShadowRecord r;
      r.kind = ShadowKind::kTabular;
      r.model = "retry";
      r.production_version = 1;
      r.candidate_version = 2;
      r.ts = Now() + 60;
      r.rows = 2;
      r.production_scores = {0.2, 0.7};
      r.candidate_scores = {0.2 + shift, 0.7 + shift};
      ASSERT_TRUE(shadow->Record(r));
    }
    shadow->Flush();
  }

  void RegisterPolicies() {
    marquee::testing::RegisterPolicy(home_, "artwork", *marquee::testing::SkewedPolicy());
    marquee::testing::RegisterPolicy(home_, "artwork", *marquee::testing::SkewedPolicy());
  }

  marquee::testing::TempDir dir_;
  std::string home_;
};

TEST_F(ShadowStepKinds, BanditCandidatePassesWhenItsSnipsValueHoldsUp) {
  RegisterPolicies();
  // Half the decisions chose a (reward 1): production's observed reward 0.5. A candidate that
  // puts 0.9 on a has SNIPS (0.9/0.5 * 1 * k) / (0.9/0.5 * k + 0.1/0.5 * k) = 0.9.
  LogDecisions(10, 10, 0.9);
  const flow::StepResult r =
      RunStep("artwork", 2, {{"min_requests", 10}, {"min_rewarded", 10}, {"max_value_drop", 0.0}});
  EXPECT_TRUE(r.passed) << r.reason;
  const json& m = r.outputs["shadow"]["metrics"];
  EXPECT_EQ(r.outputs["shadow"]["kind"], "bandit");
  EXPECT_NEAR(m["value"]["snips"]["value"].get<double>(), 0.9, 1e-12) << m.dump();
  EXPECT_NEAR(m["value"]["production"].get<double>(), 0.5, 1e-12);
  EXPECT_NE(r.reason.find("SNIPS"), std::string::npos) << r.reason;
  // The shadow was stopped.
  Registry reg = OpenRegistry(home_);
  EXPECT_FALSE(GetShadow(reg, "artwork").active());
}

TEST_F(ShadowStepKinds, BanditCandidateFailsBelowProductionOrWithoutEnoughRewards) {
  RegisterPolicies();
  // A candidate that puts 0.2 on a: SNIPS 0.2, production 0.5.
  LogDecisions(10, 6, 0.2);
  flow::StepResult r =
      RunStep("artwork", 2, {{"min_requests", 10}, {"min_rewarded", 6}, {"max_value_drop", 0.1}});
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("below production by more than 0.1"), std::string::npos) << r.reason;
  // Allowed to drop this much, it passes.
  r = RunStep("artwork", 2, {{"min_requests", 10}, {"min_rewarded", 6}, {"max_value_drop", 0.35}});
  EXPECT_TRUE(r.passed) << r.reason;
  // Only six decisions are rewarded: asking for seven is not enough traffic.
  r = RunStep("artwork", 2, {{"min_requests", 10}, {"min_rewarded", 7}});
  EXPECT_FALSE(r.passed);
  EXPECT_NE(
      r.reason.find("not enough traffic: 10 decisions shadowed (need 10), 6 rewarded (need 7)"),
      std::string::npos)
      << r.reason;
}

TEST_F(ShadowStepKinds, TabularCandidateIsJudgedOnScoreDifferenceAndClassAgreement) {
  marquee::testing::RegisterTabular(home_, "retry", 3);
  marquee::testing::RegisterTabular(home_, "retry", 5);
  LogPredictions(5, 0.02);
  flow::StepResult r = RunStep("retry", 2, {{"min_requests", 5}});
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_EQ(r.outputs["shadow"]["kind"], "tabular");
  EXPECT_NEAR(r.outputs["shadow"]["metrics"]["score"]["mean_abs_diff"].get<double>(), 0.02, 1e-9);
  r = RunStep("retry", 2, {{"min_requests", 5}, {"max_mean_abs_diff", 0.01}});
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("mean difference above 0.01"), std::string::npos) << r.reason;
  r = RunStep("retry", 2, {{"min_requests", 6}});
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("not enough traffic"), std::string::npos) << r.reason;

  // Shifted by 0.35, the 0.2 rows cross 0.5: half the rows change class.
  home_ = dir_.file("home2");
  marquee::testing::RegisterTabular(home_, "retry", 3);
  marquee::testing::RegisterTabular(home_, "retry", 5);
  LogPredictions(5, 0.35);
  r = RunStep("retry", 2, {{"min_requests", 5}, {"max_mean_abs_diff", 1.0}});
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("class agreement below 0.95"), std::string::npos) << r.reason;
  r = RunStep("retry", 2,
              {{"min_requests", 5}, {"max_mean_abs_diff", 1.0}, {"min_class_agreement", 0.5}});
  EXPECT_TRUE(r.passed) << r.reason;
}

TEST_F(ShadowStepKinds, NewKeysAreChecked) {
  auto step = flow::CreateStep("shadow");
  const json base = {{"name", "s"}, {"kind", "shadow"}};
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, json>>{{"min_rewarded", -1},
                                                 {"max_value_drop", -0.1},
                                                 {"max_mean_abs_diff", -1},
                                                 {"min_class_agreement", 1.5}}) {
    json s = base;
    s[key] = value;
    try {
      step->Validate(s);
      ADD_FAILURE() << key << " accepted " << value;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  json ok = base;
  ok["min_rewarded"] = 0;
  ok["max_value_drop"] = 0.1;
  ok["max_mean_abs_diff"] = 0.2;
  ok["min_class_agreement"] = 0.9;
  EXPECT_NO_THROW(step->Validate(ok));
}

}  // namespace
}  // namespace marquee
