// The offline train job: config parsing and a run on a simulated log.
#include <gtest/gtest.h>

#include <random>

#include "bandits/log.h"
#include "bandits/policy.h"
#include "bandits/simulator.h"
#include "bandits/train.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

nlohmann::json Root(nlohmann::json model) {
  return {{"data", {{"dataset", "sim"}}}, {"model", std::move(model)}};
}

TEST(BanditTrain, ParsesAndValidatesTheConfig) {
  BanditTrainConfig c = ParseBanditConfig(
      Root({{"family", "linucb"}, {"alpha", 0.3}, {"features", {{"dim", 16}}}, {"passes", 2}}), "",
      "artwork");
  EXPECT_EQ(c.model_name, "artwork");
  EXPECT_EQ(c.policy.family, "linucb");
  EXPECT_DOUBLE_EQ(c.policy.params["alpha"].get<double>(), 0.3);
  EXPECT_EQ(c.policy.params["mode"], "disjoint");  // resolved default
  EXPECT_EQ(c.policy.features["dim"], 16);
  EXPECT_EQ(c.passes, 2);
  EXPECT_EQ(c.protocol, "temporal");
  EXPECT_THROW(ParseBanditConfig(Root({{"family", "linucb"}, {"alpah", 1}}), "", "m"), Error);
  nlohmann::json bad = Root({{"family", "linucb"}});
  bad["split"] = {{"protocol", "kfold"}};
  EXPECT_THROW(ParseBanditConfig(bad, "", "m"), Error);
  bad = Root({{"family", "linucb"}});
  bad["eval"] = {{"estimators", {"ips", "nope"}}};
  EXPECT_THROW(ParseBanditConfig(bad, "", "m"), Error);
  bad = Root({{"family", "linucb"}});
  bad["data"]["train"] = "x.jsonl";
  EXPECT_THROW(ParseBanditConfig(bad, "", "m"), Error);  // both dataset and train
}

TEST(BanditTrain, TrainsEvaluatesAndSavesAnArtifact) {
  marquee::testing::TempDir home;
  // A uniform-random log from the simulator (contexts kept).
  SimOptions so;
  so.actions = 4;
  so.features = 6;
  so.action_features = 3;
  SimProblem problem(so);
  BanditLog log;
  log.format = "bandit-jsonl";
  log.action_sets.push_back(problem.actions());
  std::mt19937_64 rng(5);
  std::vector<double> truth;
  for (int t = 0; t < 3000; ++t) {
    DecisionInput in = problem.Sample(rng, &truth);
    LoggedDecision r;
    r.context = in.context;
    r.chosen = static_cast<uint32_t>(rng() % 4);
    r.propensity = 0.25;
    r.reward = static_cast<double>(rng() >> 11) * 0x1.0p-53 < truth[r.chosen] ? 1.0 : 0.0;
    log.rows.push_back(std::move(r));
  }
  BanditLogCatalog(home.path(), Env::Default()).Import("sim", log);
  nlohmann::json root = Root({{"family", "epsilon-greedy"},
                              {"epsilon", 0.05},
                              {"model", "disjoint"},
                              {"features", {{"dim", 16}}}});
  root["eval"] = {{"bootstrap", 50}};
  BanditTrainConfig c = ParseBanditConfig(root, "", "artwork");
  Context ctx;
  nlohmann::json r = RunBanditTraining(c, home.path(), ctx);
  EXPECT_EQ(r["family"], "epsilon-greedy");
  EXPECT_EQ(r["split"]["test_rows"].get<size_t>(), 600u);
  EXPECT_EQ(r["split"]["train_rows"].get<size_t>(), 2400u);
  const double dr = r["metrics"]["ope_dr"].get<double>();
  const double logged = r["metrics"]["logged_reward"].get<double>();
  EXPECT_GT(dr, logged) << r["ope"].dump();  // the learned policy beats uniform random
  EXPECT_EQ(r["metric_order"].size(), 8u);
  auto p = LoadPolicy(r["artifact"].get<std::string>(), Env::Default());
  EXPECT_EQ(p->family(), "epsilon-greedy");
  EXPECT_NE(FormatBanditReport(r).find("estimator"), std::string::npos);
  EXPECT_EQ(r["artifact"].get<std::string>(),
            home.path() + "/artifacts/" + r["artifact_sha256"].get<std::string>() + ".mqm");
}

}  // namespace
}  // namespace marquee
