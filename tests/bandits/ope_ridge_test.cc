// The ridge reward model of off-policy evaluation (OpeOptions::reward_model): on a log whose
// true reward is linear in the hashed features, DM with ridge recovers the candidate's value
// while the context-free mean model cannot; "auto" resolution; bad settings.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "bandits/log.h"
#include "bandits/ope.h"
#include "marquee/error.h"

namespace marquee {
namespace {

double Gauss(std::mt19937_64& rng) {
  std::normal_distribution<double> d(0.0, 1.0);
  return d(rng);
}

// Three actions, contexts x0, x1 ~ N(0, 1), uniform logging (propensity 1/3), reward = mu(x, a)
// + N(0, 0.1^2) with mu linear in the context x action-id crosses:
//   mu(x, 0) = 0.5 + 0.3 x0,  mu(x, 1) = 0.5 - 0.3 x0,  mu(x, 2) = 0.4 + 0.2 x1.
// The candidate picks action 0 when x0 > 0, else action 1, so its value on the log's contexts
// is mean(0.5 + 0.3 |x0|) (about 0.74) while every per-action mean is about 0.5.
struct LinearLog {
  BanditLog log;
  CandidateDistributions pi;
  double true_value = 0;
};

LinearLog MakeLinearLog(size_t n, uint64_t seed) {
  LinearLog out;
  out.log.action_sets = {{{"a0", {}}, {"a1", {}}, {"a2", {}}}};
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; ++i) {
    const double x0 = Gauss(rng), x1 = Gauss(rng);
    const double mu[3] = {0.5 + 0.3 * x0, 0.5 - 0.3 * x0, 0.4 + 0.2 * x1};
    LoggedDecision r;
    r.context = {{"x0", x0}, {"x1", x1}};
    r.chosen = static_cast<uint32_t>(rng() % 3);
    r.propensity = 1.0 / 3.0;
    r.reward = mu[r.chosen] + 0.1 * Gauss(rng);
    out.log.rows.push_back(std::move(r));
    const size_t pick = x0 > 0 ? 0 : 1;
    std::vector<double> p(3, 0.0);
    p[pick] = 1.0;
    out.pi.push_back(p);
    out.true_value += mu[pick] / static_cast<double>(n);
  }
  return out;
}

OpeOptions Opts(const std::string& model) {
  OpeOptions o;
  o.estimators = {"dm", "dr", "sndr", "ips"};
  o.bootstrap = 0;
  o.reward_model = model;
  o.replay = false;
  return o;
}

TEST(BanditOpeRidge, RecoversALinearRewardWhereTheMeanModelCannot) {
  const LinearLog l = MakeLinearLog(6000, 7);
  const OpeResult ridge = EvaluateOffPolicy(l.log, l.pi, Opts("ridge"));
  const OpeResult mean = EvaluateOffPolicy(l.log, l.pi, Opts("mean"));
  EXPECT_EQ(ridge.reward_model, "ridge");
  EXPECT_EQ(mean.reward_model, "mean");
  const double ridge_err = std::abs(ridge.estimates.at("dm").value - l.true_value);
  const double mean_err = std::abs(mean.estimates.at("dm").value - l.true_value);
  EXPECT_LT(ridge_err, 0.01) << "ridge dm " << ridge.estimates.at("dm").value << " truth "
                             << l.true_value;
  EXPECT_GT(mean_err, 0.2) << "mean dm " << mean.estimates.at("dm").value;
  EXPECT_GT(mean_err, 20 * ridge_err);
  // DR with a good model stays close too (and closer than IPS here).
  EXPECT_LT(std::abs(ridge.estimates.at("dr").value - l.true_value), 0.02);
  // One fold (no cross-fitting) gives nearly the same DM.
  OpeOptions one = Opts("ridge");
  one.folds = 1;
  EXPECT_NEAR(EvaluateOffPolicy(l.log, l.pi, one).estimates.at("dm").value,
              ridge.estimates.at("dm").value, 0.005);
  const nlohmann::json j = ridge.ToJson();
  EXPECT_EQ(j["reward_model"], "ridge");
  EXPECT_EQ(j["reward_dim"].get<uint32_t>(), 256u);
}

TEST(BanditOpeRidge, AutoPicksRidgeOnlyWithFeatures) {
  const LinearLog l = MakeLinearLog(50, 1);
  EXPECT_EQ(ResolveRewardModel("auto", l.log), "ridge");
  EXPECT_EQ(EvaluateOffPolicy(l.log, l.pi, Opts("auto")).reward_model, "ridge");
  BanditLog bare = l.log;
  for (auto& r : bare.rows) r.context.clear();
  EXPECT_EQ(ResolveRewardModel("auto", bare), "mean");
  EXPECT_EQ(ResolveRewardModel("mean", l.log), "mean");
  bare.action_sets[0][1].features = {{"tone", std::string("dark")}};
  EXPECT_EQ(ResolveRewardModel("auto", bare), "ridge");
}

TEST(BanditOpeRidge, BootstrapRefitsAndBracketsTheEstimate) {
  const LinearLog l = MakeLinearLog(1500, 3);
  OpeOptions o = Opts("ridge");
  o.bootstrap = 40;
  const OpeResult r = EvaluateOffPolicy(l.log, l.pi, o);
  const auto& dm = r.estimates.at("dm");
  EXPECT_LE(dm.lo, dm.value);
  EXPECT_GE(dm.hi, dm.value);
  EXPECT_GT(dm.hi - dm.lo, 0.0);  // refitted per resample: the model's variance shows
  EXPECT_LT(dm.hi - dm.lo, 0.1);
  for (const auto& w : r.warnings) EXPECT_EQ(w.find("not refitted"), std::string::npos) << w;
}

TEST(BanditOpeRidge, BadSettingsAreClearErrors) {
  const LinearLog l = MakeLinearLog(20, 2);
  try {
    EvaluateOffPolicy(l.log, l.pi, Opts("magic"));
    FAIL() << "no error for reward model 'magic'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("reward model: unknown 'magic'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("ridge"), std::string::npos) << e.what();
  }
  EXPECT_THROW(CheckRewardModel("Ridge"), Error);
  OpeOptions o = Opts("ridge");
  o.reward_l2 = 0;
  EXPECT_THROW(EvaluateOffPolicy(l.log, l.pi, o), Error);
  o.reward_l2 = std::nan("");
  EXPECT_THROW(EvaluateOffPolicy(l.log, l.pi, o), Error);
  o.reward_l2 = 1;
  o.reward_dim = 0;
  EXPECT_THROW(EvaluateOffPolicy(l.log, l.pi, o), Error);
  o.reward_dim = 5000;
  EXPECT_THROW(EvaluateOffPolicy(l.log, l.pi, o), Error);
}

}  // namespace
}  // namespace marquee
