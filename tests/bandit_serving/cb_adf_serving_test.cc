// The cb-adf learner served: /v1/decide answers from it and every joined /v1/reward updates it
// online (Policy::Update through the live policy), so it learns which artwork is clicked.
#include <gtest/gtest.h>

#include "bandit_test_util.h"
#include "serving/bandit_handler.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

TEST(CbAdfServing, RewardsPostedToTheServerTeachTheLivePolicy) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  PolicyConfig c;
  c.family = "cb-adf";
  c.params = {{"epsilon", 0.1}, {"bits", 12}};
  const int64_t v = marquee::testing::RegisterPolicy(home, "art", *MakePolicy(c));
  marquee::testing::SetAlias(home, "art", "production", v);
  marquee::testing::InProcessServerOptions so;
  so.core.bandits = {"art@production"};
  so.core.decision_log.sync = false;
  so.events = false;
  marquee::testing::InProcessServer server(home, std::move(so));
  server.Start();
  auto* client = server.client();
  const json body = {{"model", "art@production"},
                     {"context", {{"device", "tv"}, {"hour", 21}}},
                     {"actions",
                      {{{"id", "a"}, {"features", {{"faces", 1}}}},
                       {{"id", "b"}, {"features", {{"faces", 0}}}},
                       {{"id", "c"}, {"features", {{"faces", 2}}}}}}};
  // One decision, rewarded 1 when it showed b: returns the decision's probability of b.
  int rewards = 0;
  auto round = [&] {
    auto r = client->Post("/v1/decide", body);
    EXPECT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const double reward = j["action"] == "b" ? 1.0 : 0.0;
    auto rr = client->Post("/v1/reward", {{"decision_id", j["decision_id"]}, {"reward", reward}});
    EXPECT_EQ(rr.status, 200) << rr.body;
    ++rewards;
    return j["probabilities"][1]["p"].get<double>();
  };
  // Untrained: every score is 0, so the three actions tie.
  EXPECT_NEAR(round(), 1.0 / 3, 1e-12);
  for (int i = 0; i < 150; ++i) round();
  EXPECT_EQ(server.core()->bandits()->Describe()["bandits"][0]["updates"].get<int>(), rewards);
  // Learned: b is the greedy choice, with 1 - epsilon + epsilon / 3.
  EXPECT_NEAR(round(), 0.9 + 0.1 / 3, 1e-9);
  server.Stop();
}

}  // namespace
}  // namespace marquee
