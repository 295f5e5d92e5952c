// Policy families: distributions, sampling consistency, learning, save/load, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

#include "bandits/features.h"
#include "bandits/policy.h"
#include "bandits/simulator.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

DecisionInput MakeInput(int k, double hour = 21) {
  DecisionInput in;
  in.user = "196";
  in.context = {{"country", std::string("US")}, {"device", std::string("tv")}, {"hour", hour}};
  for (int i = 0; i < k; ++i) {
    in.actions.push_back(
        {"img-" + std::to_string(i),
         {{"tone", std::string(i % 2 ? "dark" : "light")}, {"faces", static_cast<double>(i % 3)}}});
  }
  return in;
}

PolicyConfig Config(const std::string& family, nlohmann::json params = nlohmann::json::object()) {
  PolicyConfig c;
  c.family = family;
  c.params = std::move(params);
  c.features = {{"dim", 32}};
  return c;
}

// A policy with some learned state: rewards favour img-2 on TV at night.
std::unique_ptr<Policy> Trained(const std::string& family, nlohmann::json params = {}) {
  auto p = MakePolicy(Config(family, params.is_null() ? nlohmann::json::object() : params));
  std::mt19937_64 rng(7);
  for (int t = 0; t < 300; ++t) {
    DecisionInput in = MakeInput(5, static_cast<double>(t % 24));
    const size_t a = rng() % 5;
    p->Update(in, a, a == 2 ? 1.0 : 0.1 * static_cast<double>(a), 0.2);
  }
  return p;
}

const std::vector<std::string> kFamilies = {"uniform", "epsilon-greedy", "softmax",
                                            "linucb",  "lints",          "cb-adf"};

TEST(BanditPolicy, ProbabilitiesSumToOneForEveryFamily) {
  for (const auto& f : kFamilies) {
    auto p = Trained(f);
    std::mt19937_64 rng(1);
    for (int k : {1, 2, 5}) {
      auto probs = p->Probabilities(MakeInput(k), rng);
      ASSERT_EQ(probs.size(), static_cast<size_t>(k)) << f;
      double s = 0;
      for (double x : probs) {
        EXPECT_GE(x, 0.0) << f;
        s += x;
      }
      EXPECT_NEAR(s, 1.0, 1e-9) << f;
    }
  }
}

TEST(BanditPolicy, LinearFamiliesLearnTheBestAction) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"epsilon-greedy", {{"epsilon", 0.1}}},
      {"softmax", {{"temperature", 0.05}}},
      {"linucb", {{"alpha", 0.01}}},
      {"linucb", {{"alpha", 0.01}, {"mode", "shared"}}},
      {"lints", {{"v", 0.01}}}};
  for (const auto& [f, params] : cases) {
    auto p = Trained(f, params);
    std::mt19937_64 rng(1);
    auto probs = p->Probabilities(MakeInput(5), rng);
    const auto best = std::max_element(probs.begin(), probs.end()) - probs.begin();
    EXPECT_EQ(best, 2) << f << " " << params.dump();
  }
}

nlohmann::json ExploringParams(const std::string& f) {
  if (f == "softmax") return {{"temperature", 0.5}};
  if (f == "epsilon-greedy" || f == "linucb") return {{"epsilon", 0.3}};
  if (f == "lints") return {{"v", 2.0}, {"draws", 100}};
  return nlohmann::json::object();
}

// Empirical frequencies of Decide over many draws match Probabilities (chi-square, 1e-3 level).
TEST(BanditPolicy, DecideFrequenciesMatchProbabilities) {
  for (const auto& f : kFamilies) {
    auto p = Trained(f, ExploringParams(f));
    DecisionInput in = MakeInput(5);
    std::mt19937_64 rng(99);
    const int n = 10000;
    std::vector<double> count(5, 0), expected(5, 0);
    for (int t = 0; t < n; ++t) {
      auto [i, probs] = p->Decide(in, rng);
      ASSERT_LT(i, 5u);
      EXPECT_GT(probs[i], 0.0) << f;
      count[i] += 1;
      for (size_t a = 0; a < 5; ++a) expected[a] += probs[a];
    }
    double chi2 = 0;
    int df = -1;
    for (size_t a = 0; a < 5; ++a) {
      if (expected[a] < 1) {
        EXPECT_EQ(count[a], 0) << f << " chose an action of probability 0";
        continue;
      }
      chi2 += (count[a] - expected[a]) * (count[a] - expected[a]) / expected[a];
      ++df;
    }
    // chi-square 0.999 quantiles for df 0..4: generous bound 20 (df 4 critical value 18.5).
    EXPECT_LT(chi2, 20.0) << f << " df=" << df;
  }
}

TEST(BanditPolicy, EveryFamilyBeatsUniformOnRegret) {
  SimOptions o;
  o.decisions = 3000;
  o.actions = 5;
  o.features = 8;
  o.action_features = 4;
  o.dim = 32;
  o.policies = {"uniform", "epsilon-greedy",        "softmax",       "linucb", "lints",
                "cb-adf",  "epsilon-greedy:online", "softmax:online"};
  SimResult r = RunSimulation(o);
  ASSERT_EQ(r.policies.size(), 8u);
  EXPECT_EQ(SimPolicyConfig("softmax:online", o).params["model"], "online");
  EXPECT_EQ(MakePolicy(SimPolicyConfig("softmax:online", o))->config().params["temperature"], 0.02);
  EXPECT_EQ(SimPolicyConfig("softmax", o).params["model"], "disjoint");
  EXPECT_THROW(SimPolicyConfig("linucb:online", o), Error);
  EXPECT_THROW(SimPolicyConfig("softmax:linear", o), Error);
  const double uniform = r.policies[0].cumulative_regret;
  for (size_t i = 1; i < r.policies.size(); ++i) {
    EXPECT_LT(r.policies[i].cumulative_regret, 0.8 * uniform) << r.policies[i].policy;
  }
  EXPECT_NE(r.Svg().find("<polyline"), std::string::npos);
}

TEST(BanditPolicy, SaveLoadRoundTripGivesIdenticalProbabilities) {
  marquee::testing::TempDir dir;
  for (const auto& f : kFamilies) {
    for (const char* layout : {"a", "b"}) {
      nlohmann::json params = nlohmann::json::object();
      if (f == "linucb" || f == "lints") params["mode"] = layout[0] == 'a' ? "disjoint" : "shared";
      if (f == "epsilon-greedy" || f == "softmax") {
        params["model"] = layout[0] == 'a' ? "per-action" : "linear";
      }
      auto p = Trained(f, params);
      const std::string path = dir.file(f + layout + ".mqm");
      p->Save(path, Env::Default());
      auto q = LoadPolicy(path, Env::Default());
      EXPECT_EQ(q->family(), f);
      EXPECT_EQ(q->config().params, p->config().params);
      for (int k : {3, 5, 6}) {
        std::mt19937_64 r1(5), r2(5);
        DecisionInput in = MakeInput(k, 3);
        EXPECT_EQ(p->Probabilities(in, r1), q->Probabilities(in, r2)) << f << layout;
      }
    }
  }
}

TEST(BanditPolicy, CloneIsIndependent) {
  auto p = Trained("linucb");
  auto c = p->Clone();
  std::mt19937_64 r1(1), r2(1);
  DecisionInput in = MakeInput(5);
  EXPECT_EQ(p->Probabilities(in, r1), c->Probabilities(in, r2));
  for (int t = 0; t < 50; ++t) c->Update(in, 4, 5.0, 1.0);
  EXPECT_NE(p->Probabilities(in, r1), c->Probabilities(in, r2));
}

void ExpectInvalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected kInvalidArgument mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(BanditPolicy, BadInputsNameTheField) {
  auto p = MakePolicy(Config("linucb"));
  std::mt19937_64 rng(1);
  DecisionInput empty = MakeInput(0);
  ExpectInvalid([&] { p->Probabilities(empty, rng); }, "actions");
  DecisionInput dup = MakeInput(3);
  dup.actions[2].id = "img-0";
  ExpectInvalid([&] { p->Probabilities(dup, rng); }, "actions[2].id");
  DecisionInput dup_many = MakeInput(40);
  dup_many.actions[39].id = "img-7";
  ExpectInvalid([&] { p->Probabilities(dup_many, rng); }, "actions[39].id");
  DecisionInput many_ctx = MakeInput(2);
  for (int i = 0; i < 40; ++i) many_ctx.context.emplace_back("f" + std::to_string(i), 1.0);
  EXPECT_NO_THROW(p->Probabilities(many_ctx, rng));
  many_ctx.context.emplace_back("f3", 2.0);
  ExpectInvalid([&] { p->Probabilities(many_ctx, rng); }, "duplicate feature name 'f3'");
  DecisionInput nan = MakeInput(2);
  nan.context.emplace_back("score", std::nan(""));
  ExpectInvalid([&] { p->Probabilities(nan, rng); }, "context.score");
  DecisionInput dupf = MakeInput(2);
  dupf.context.emplace_back("hour", 3.0);
  ExpectInvalid([&] { p->Probabilities(dupf, rng); }, "hour");
  DecisionInput ok = MakeInput(3);
  ExpectInvalid([&] { p->Update(ok, 0, 1.0, 0.0); }, "propensity");
  ExpectInvalid([&] { p->Update(ok, 0, 1.0, 1.5); }, "propensity");
  ExpectInvalid([&] { p->Update(ok, 3, 1.0, 0.5); }, "chosen");
  ExpectInvalid([&] { MakePolicy(Config("vw")); }, "known: uniform");
  ExpectInvalid([&] { MakePolicy(Config("linucb", {{"alpah", 1}})); }, "params.alpah");
  ExpectInvalid([&] { MakePolicy(Config("epsilon-greedy", {{"epsilon", 2}})); }, "params.epsilon");
  ExpectInvalid([&] { MakePolicy(Config("linucb", {{"mode", "hybrid"}})); }, "params.mode");
  PolicyConfig bad = Config("uniform");
  bad.features = {{"dim", 0}};
  ExpectInvalid([&] { MakePolicy(bad); }, "features.dim");
  bad.features = {{"crosses", true}};
  ExpectInvalid([&] { MakePolicy(bad); }, "features.crosses");
}

TEST(BanditPolicy, LoadRejectsOtherArtifactsAndMissingFiles) {
  marquee::testing::TempDir dir;
  EXPECT_THROW(LoadPolicy(dir.file("missing.mqm"), Env::Default()), Error);
  Env::Default()->WriteFileAtomic(dir.file("junk.mqm"), "not an artifact");
  EXPECT_THROW(LoadPolicy(dir.file("junk.mqm"), Env::Default()), Error);
}

// Const methods may run on many threads at once (policy.h): same answers as one thread.
TEST(BanditPolicy, ConcurrentProbabilitiesMatchSerial) {
  for (const auto& f : kFamilies) {
    auto p = Trained(f);
    std::vector<std::vector<double>> serial(64);
    for (int i = 0; i < 64; ++i) {
      std::mt19937_64 rng(static_cast<uint64_t>(i));
      serial[static_cast<size_t>(i)] = p->Probabilities(MakeInput(6, i % 24), rng);
    }
    std::vector<std::vector<double>> parallel(64);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < 64; i += 4) {
          std::mt19937_64 rng(static_cast<uint64_t>(i));
          parallel[static_cast<size_t>(i)] = p->Probabilities(MakeInput(6, i % 24), rng);
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(serial, parallel) << f;
  }
}

TEST(BanditPolicy, ThompsonSamplingIsReproducibleForASeed) {
  auto p = Trained("lints");
  DecisionInput in = MakeInput(5);
  std::mt19937_64 r1(11), r2(11);
  EXPECT_EQ(p->Decide(in, r1), p->Decide(in, r2));
}

}  // namespace
}  // namespace marquee
