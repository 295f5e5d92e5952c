// Off-policy estimators on tiny hand-computable logs, bootstrap intervals, candidates.
#include <gtest/gtest.h>

#include <random>

#include "bandits/log.h"
#include "bandits/ope.h"
#include "marquee/error.h"

namespace marquee {
namespace {

LoggedDecision Row(uint32_t chosen, double p, double r, int32_t pos = -1) {
  LoggedDecision d;
  d.chosen = chosen;
  d.propensity = p;
  d.reward = r;
  d.position = pos;
  return d;
}

BanditLog TinyLog() {
  BanditLog log;
  log.action_sets = {{{"a", {}}, {"b", {}}}};
  log.rows = {Row(0, 0.5, 1), Row(1, 0.5, 0), Row(0, 0.25, 0), Row(1, 0.75, 1)};
  return log;
}

OpeOptions Exact() {
  OpeOptions o;
  o.estimators = {"ips", "snips", "dm", "dr", "sndr", "switch-dr"};
  o.bootstrap = 0;
  o.folds = 1;
  o.smoothing = 0;
  o.tau = 3;
  return o;
}

TEST(BanditOpe, EstimatorsMatchHandComputedValues) {
  const BanditLog log = TinyLog();
  CandidateDistributions pi(4, {1.0, 0.0});  // always "a"
  OpeResult r = EvaluateOffPolicy(log, pi, Exact());
  // w = 2, 0, 4, 0; q(a) = 0.5, q(b) = 0.5.
  EXPECT_DOUBLE_EQ(r.estimates["ips"].value, 0.5);
  EXPECT_DOUBLE_EQ(r.estimates["snips"].value, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.estimates["dm"].value, 0.5);
  EXPECT_DOUBLE_EQ(r.estimates["dr"].value, 0.25);
  EXPECT_DOUBLE_EQ(r.estimates["sndr"].value, 0.5 - 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(r.estimates["switch-dr"].value, 0.75);  // row 3 (w = 4 > tau) uses DM only
  EXPECT_TRUE(r.deterministic);
  EXPECT_DOUBLE_EQ(r.estimates["replay"].value, 0.5);  // rows 1 and 3
  EXPECT_EQ(r.replay_matches, 2u);
  EXPECT_DOUBLE_EQ(r.ess, 36.0 / 20.0);
  EXPECT_DOUBLE_EQ(r.logged_reward, 0.5);
  EXPECT_TRUE(r.warnings.empty());
  const nlohmann::json j = r.ToJson();
  EXPECT_DOUBLE_EQ(j["estimates"]["ips"]["value"].get<double>(), 0.5);
  EXPECT_EQ(j["estimates"]["ips"]["ci"].size(), 2u);
  EXPECT_EQ(j["n"].get<size_t>(), 4u);
}

TEST(BanditOpe, StochasticCandidateAndSmoothing) {
  const BanditLog log = TinyLog();
  CandidateDistributions pi(4, {0.5, 0.5});  // the logging policy of rows 1-2
  OpeOptions o = Exact();
  OpeResult r = EvaluateOffPolicy(log, pi, o);
  // w = 1, 1, 2, 2/3: IPS = (1 + 0 + 0 + 2/3) / 4.
  EXPECT_NEAR(r.estimates["ips"].value, (1.0 + 2.0 / 3.0) / 4.0, 1e-15);
  EXPECT_NEAR(r.estimates["snips"].value, (1.0 + 2.0 / 3.0) / (1 + 1 + 2 + 2.0 / 3.0), 1e-15);
  EXPECT_FALSE(r.deterministic);
  EXPECT_EQ(r.estimates.count("replay"), 0u);
  // Smoothing m = 2 pulls q(a) = (1 + 2 * 0.5) / (2 + 2) = 0.5: unchanged here; with a
  // different global mean it moves: make every b reward 1.
  BanditLog l2 = log;
  l2.rows[1].reward = 1;
  o.smoothing = 2;
  OpeResult r2 = EvaluateOffPolicy(l2, CandidateDistributions(4, {1.0, 0.0}), o);
  // global 0.75; q(a) = (1 + 0 + 2 * 0.75) / (2 + 2) = 0.625.
  EXPECT_DOUBLE_EQ(r2.estimates["dm"].value, 0.625);
}

TEST(BanditOpe, WarnsWhenTheCandidateLeavesTheLoggingSupport) {
  BanditLog log = TinyLog();
  log.action_sets[0].push_back({"c", {}});  // offered, never chosen
  CandidateDistributions pi(4, {0.5, 0.0, 0.5});
  OpeResult r = EvaluateOffPolicy(log, pi, Exact());
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("never chose"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find("50.00%"), std::string::npos) << r.warnings[0];
}

TEST(BanditOpe, BootstrapIntervalContainsTheEstimate) {
  BanditLog log;
  log.action_sets = {{{"a", {}}, {"b", {}}, {"c", {}}}};
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t a = static_cast<uint32_t>(rng() % 3);
    const double p_click = a == 0 ? 0.3 : 0.1;
    log.rows.push_back(
        Row(a, 1.0 / 3.0, static_cast<double>(rng() % 1000) / 1000.0 < p_click ? 1.0 : 0.0));
  }
  CandidateDistributions pi(log.rows.size(), {0.8, 0.1, 0.1});
  OpeOptions o;
  o.bootstrap = 300;
  o.seed = 9;
  OpeResult r = EvaluateOffPolicy(log, pi, o);
  for (const auto& e : r.order) {
    const auto& v = r.estimates[e];
    EXPECT_LE(v.lo, v.value) << e;
    EXPECT_GE(v.hi, v.value) << e;
    EXPECT_LT(v.hi - v.lo, 0.1) << e;
    EXPECT_NEAR(v.value, 0.8 * 0.3 + 0.2 * 0.1, 0.05) << e;
  }
  // Same seed, same intervals.
  OpeResult again = EvaluateOffPolicy(log, pi, o);
  EXPECT_EQ(again.estimates["dr"].lo, r.estimates["dr"].lo);
  EXPECT_GT(r.ess, 0.0);
  EXPECT_LT(r.ess, 2000.0);
}

TEST(BanditOpe, EmpiricalCandidatePerPosition) {
  BanditLog cand;
  cand.action_sets = {{{"a", {}}, {"b", {}}}};
  cand.rows = {Row(0, 1, 0, 1), Row(0, 1, 0, 1), Row(1, 1, 0, 1), Row(1, 1, 0, 2)};
  BanditLog log;
  log.action_sets = {{{"b", {}}, {"a", {}}, {"z", {}}}};
  log.rows = {Row(0, 0.5, 1, 1), Row(1, 0.5, 0, 2), Row(2, 0.5, 0, 3)};
  std::vector<std::string> warnings;
  CandidateDistributions pi = EmpiricalDistributions(cand, log, &warnings);
  ASSERT_EQ(pi.size(), 3u);
  EXPECT_DOUBLE_EQ(pi[0][0], 1.0 / 3.0);  // b at position 1
  EXPECT_DOUBLE_EQ(pi[0][1], 2.0 / 3.0);  // a at position 1
  EXPECT_DOUBLE_EQ(pi[0][2], 0.0);
  EXPECT_DOUBLE_EQ(pi[1][0], 1.0);  // position 2: only b
  // Position 3 never seen: the overall distribution (a 2, b 2).
  EXPECT_DOUBLE_EQ(pi[2][0], 0.5);
  EXPECT_DOUBLE_EQ(pi[2][1], 0.5);
  ASSERT_EQ(warnings.size(), 1u);
}

TEST(BanditOpe, BadInputs) {
  const BanditLog log = TinyLog();
  EXPECT_THROW(ParseEstimators("ips,magic"), Error);
  EXPECT_THROW(ParseEstimators(""), Error);
  EXPECT_EQ(ParseEstimators("ips, snips,ips"), (std::vector<std::string>{"ips", "snips"}));
  EXPECT_THROW(EvaluateOffPolicy(log, CandidateDistributions(3, {1.0, 0.0}), Exact()), Error);
  EXPECT_THROW(EvaluateOffPolicy(log, CandidateDistributions(4, {0.7, 0.7}), Exact()), Error);
  EXPECT_THROW(EvaluateOffPolicy(log, CandidateDistributions(4, {1.0}), Exact()), Error);
  OpeOptions o = Exact();
  o.tau = 0;
  EXPECT_THROW(EvaluateOffPolicy(log, CandidateDistributions(4, {1.0, 0.0}), o), Error);
}

}  // namespace
}  // namespace marquee
