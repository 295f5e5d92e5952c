// Shadow scoring of bandit policies (/v1/decide) and tabular models (/v1/predict) in the server
// (serving/shadow.h) over HTTP, in-process (issue #17): the answer is production's, the worker
// logs the candidate's side beside production's for the same requests, the candidate neither
// decides nor learns, and GET /api/v1/models/{name}/shadow answers the metrics of the model's
// kind, equal to what the logged records give by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "bandit_serving/bandit_test_util.h"
#include "experiments/shadow_log.h"
#include "kinds/bandit/live_policy.h"
#include "serving/model_manager.h"
#include "serving/shadow.h"
#include "serving_test_util.h"
#include "tabular_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpResult;

std::vector<ShadowRecord> Logged(const std::string& home, const std::string& model) {
  std::vector<ShadowRecord> out;
  auto log = ShadowLog::Open(home + "/serving/shadow", ShadowLogOptions{.read_only = true});
  log->ForEach(model, 0, INT64_MAX, [&](const ShadowRecord& r) {
    out.push_back(r);
    return true;
  });
  return out;
}

TEST(ShadowDecideTest, LogsBothDistributionsAnswersWithProductionAndEstimatesTheCandidate) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterPolicy(home, "artwork", *marquee::testing::SkewedPolicy());
  // The candidate prefers the last action, c.
  const auto candidate_policy = marquee::testing::SkewedPolicy({0.0, 0.25, 1.0}, 0.5);
  marquee::testing::RegisterPolicy(home, "artwork", *candidate_policy);
  marquee::testing::InProcessServerOptions so;
  so.core.bandits = {"artwork/1"};
  so.core.decision_log.sync = false;
  so.events = false;
  marquee::testing::InProcessServer server(home, std::move(so));
  server.Start();
  auto* c = server.client();
  HttpResult set = c->Post("/api/v1/models/artwork/shadow", {{"version", 2}, {"sample", 1.0}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.json()["kind"], "bandit");
  EXPECT_EQ(server.core()->shadow()->State("artwork")["kind"], "bandit");

  const json actions = json::array({{{"id", "a"}}, {{"id", "b"}}, {{"id", "c"}}});
  std::map<std::string, json> answers;  // decision id -> answer
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    HttpResult d = c->Post("/v1/decide", {{"model", "artwork"},
                                          {"user", "u" + std::to_string(i)},
                                          {"context", {{"hour", 21}}},
                                          {"actions", actions}});
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(d.json()["version"], 1);  // production decides, never the candidate
    answers[d.json()["decision_id"]] = d.json();
    ids.push_back(d.json()["decision_id"]);
  }
  // Rewards for the first five: 1 when production chose "a", else 0.
  std::map<std::string, double> rewards;
  for (int i = 0; i < 5; ++i) {
    const double r = answers[ids[i]]["action"] == "a" ? 1.0 : 0.0;
    ASSERT_EQ(c->Post("/v1/reward", {{"decision_id", ids[i]}, {"reward", r}}).status, 200);
    rewards[ids[i]] = r;
  }
  server.core()->shadow()->Flush();

  // The candidate's distribution on each decision's input, computed here from the same policy.
  DecisionInput in;
  in.context = {{"hour", 21.0}};
  for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
  std::mt19937_64 rng(1);
  const std::vector<double> q = candidate_policy->Probabilities(in, rng);

  const auto logged = Logged(home, "artwork");
  ASSERT_EQ(logged.size(), 8u);
  double ips_sum = 0, w_sum = 0, wr_sum = 0, reward_sum = 0;
  for (const ShadowRecord& r : logged) {
    EXPECT_EQ(r.kind, ShadowKind::kBandit);
    EXPECT_EQ(r.production_version, 1);
    EXPECT_EQ(r.candidate_version, 2);
    ASSERT_TRUE(answers.count(r.decision_id)) << r.decision_id;
    const json& a = answers[r.decision_id];
    EXPECT_EQ(r.actions, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(r.actions[r.chosen], a["action"]);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_DOUBLE_EQ(r.production_probabilities[k], a["probabilities"][k]["p"].get<double>());
      EXPECT_NEAR(r.candidate_probabilities[k], q[k], 1e-6);
    }
    EXPECT_EQ(r.candidate_greedy, 2u);  // the candidate prefers "c"
    if (auto it = rewards.find(r.decision_id); it != rewards.end()) {
      const double w = r.candidate_probabilities[r.chosen] / r.production_probabilities[r.chosen];
      ips_sum += w * it->second;
      w_sum += w;
      wr_sum += w * it->second;
      reward_sum += it->second;
    }
  }
  // Production's distribution differs from the candidate's (else the test shows nothing).
  EXPECT_GT(std::abs(logged[0].production_probabilities[0] - q[0]), 0.05);

  HttpResult g = c->Get("/api/v1/models/artwork/shadow");
  ASSERT_EQ(g.status, 200) << g.body;
  const json m = g.json()["metrics"];
  EXPECT_EQ(g.json()["kind"], "bandit");
  EXPECT_EQ(m["kind"], "bandit") << m.dump();
  EXPECT_EQ(m["requests"], 8);
  EXPECT_EQ(m["value"]["rewarded"], 5);
  EXPECT_EQ(m["value"]["joined"], 5);
  EXPECT_NEAR(m["value"]["production"].get<double>(), reward_sum / 5, 1e-12);
  EXPECT_NEAR(m["value"]["ips"]["value"].get<double>(), ips_sum / 5, 1e-12);
  EXPECT_NEAR(m["value"]["snips"]["value"].get<double>(), wr_sum / w_sum, 1e-12);
  EXPECT_EQ(g.json()["replica"]["scored"], 8);

  // The rewards taught production; the candidate neither decided nor learned.
  auto v1 =
      std::static_pointer_cast<const LivePolicy>(server.models()->Find("artwork/1", kKindBandit));
  auto v2 =
      std::static_pointer_cast<const LivePolicy>(server.models()->Find("artwork/2", kKindBandit));
  ASSERT_TRUE(v1 && v2);
  EXPECT_EQ(v1->updates.load(), 5u);
  EXPECT_EQ(v2->updates.load(), 0u);
  server.Stop();
}

TEST(ShadowPredictTest, LogsBothScoreListsCappedAndAnswersTheirMetrics) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterTabular(home, "retry", 3);
  marquee::testing::RegisterTabular(home, "retry", 12);
  marquee::testing::InProcessServerOptions so;
  so.events = false;
  marquee::testing::InProcessServer server(home, std::move(so));
  server.Start();
  auto* c = server.client();
  auto rows = [](int n, int seed) {
    json out = json::array();
    for (int i = 0; i < n; ++i) {
      out.push_back(
          {{"a", ((i * 37 + seed) % 100) / 100.0}, {"b", ((i * 61 + seed) % 100) / 100.0}});
    }
    return out;
  };
  // The first request loads the model: from then on it is a served tabular model.
  ASSERT_EQ(c->Post("/v1/predict", {{"model", "retry/1"}, {"rows", rows(1, 0)}}).status, 200);
  HttpResult set = c->Post("/api/v1/models/retry/shadow", {{"version", 2}, {"sample", 1.0}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.json()["kind"], "tabular");

  const std::vector<int> sizes = {3, 5, 70};
  std::map<uint64_t, std::pair<json, json>> scored;  // rows in the request -> (prod, cand)
  for (size_t k = 0; k < sizes.size(); ++k) {
    const json body_rows = rows(sizes[k], static_cast<int>(k) * 13);
    HttpResult p = c->Post("/v1/predict", {{"model", "retry/1"}, {"rows", body_rows}});
    ASSERT_EQ(p.status, 200) << p.body;
    EXPECT_EQ(p.json()["version"], 1);
    // The candidate's own answer (a request naming the candidate is not shadowed).
    HttpResult q = c->Post("/v1/predict", {{"model", "retry/2"}, {"rows", body_rows}});
    ASSERT_EQ(q.status, 200) << q.body;
    scored[sizes[k]] = {p.json()["predictions"], q.json()["predictions"]};
  }
  server.core()->shadow()->Flush();
  EXPECT_EQ(server.core()->shadow()->offered(), 3u);

  const auto logged = Logged(home, "retry");
  ASSERT_EQ(logged.size(), 3u);
  double abs_sum = 0;
  uint64_t rows_total = 0, agree = 0;
  bool any_diff = false;
  for (const ShadowRecord& r : logged) {
    EXPECT_EQ(r.kind, ShadowKind::kTabular);
    EXPECT_EQ(r.production_version, 1);
    EXPECT_EQ(r.candidate_version, 2);
    EXPECT_EQ(r.width, 1u);
    ASSERT_TRUE(scored.count(r.rows)) << r.rows;
    const auto& [prod, cand] = scored[r.rows];
    const size_t n = std::min<uint64_t>(r.rows, kShadowMaxRows);
    ASSERT_EQ(r.production_scores.size(), n);  // 70 rows: the first 64 recorded
    ASSERT_EQ(r.candidate_scores.size(), n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(r.production_scores[i], prod[i]["score"].get<double>(), 1e-6);
      EXPECT_NEAR(r.candidate_scores[i], cand[i]["score"].get<double>(), 1e-6);
      abs_sum += std::abs(r.candidate_scores[i] - r.production_scores[i]);
      any_diff = any_diff || r.candidate_scores[i] != r.production_scores[i];
      agree += (r.production_scores[i] >= 0.5) == (r.candidate_scores[i] >= 0.5) ? 1 : 0;
      ++rows_total;
    }
  }
  EXPECT_EQ(rows_total, 3u + 5u + 64u);
  EXPECT_TRUE(any_diff);  // 3 and 12 rounds score differently

  HttpResult g = c->Get("/api/v1/models/retry/shadow");
  ASSERT_EQ(g.status, 200) << g.body;
  const json m = g.json()["metrics"];
  EXPECT_EQ(m["kind"], "tabular") << m.dump();
  EXPECT_EQ(m["requests"], 3);
  EXPECT_EQ(m["rows"], rows_total);
  EXPECT_NEAR(m["score"]["mean_abs_diff"].get<double>(), abs_sum / rows_total, 1e-12);
  EXPECT_DOUBLE_EQ(m["class_agreement"].get<double>(),
                   static_cast<double>(agree) / static_cast<double>(rows_total));
  EXPECT_GT(m["score"]["pearson"].get<double>(), 0.5);  // the same task, more rounds
  server.Stop();
}

}  // namespace
}  // namespace marquee
