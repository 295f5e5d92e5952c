// The O(nnz) online learner (online_linear.h) against a plain dense implementation of the rule
// its header states, and the cb-adf family built on it: reductions, exploration, determinism
// across thread counts, save/load, keyed and named inputs, bad parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "bandits/features.h"
#include "bandits/online_linear.h"
#include "bandits/policy.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The update of online_linear.h written out densely, in double precision.
struct DenseReference {
  explicit DenseReference(int d, double eta) : eta(eta), w(static_cast<size_t>(d)), g(w), s(w) {}
  double Predict(const std::vector<double>& x) const {
    double p = 0;
    for (size_t i = 0; i < x.size(); ++i) p += w[i] * x[i];
    return p;
  }
  void Update(const std::vector<double>& x, double y, double h) {
    lo = std::min(lo, y);
    hi = std::max(hi, y);
    const double p = std::clamp(Predict(x), lo, hi);
    if (p == y) return;
    const double g2 = h * 4 * (p - y) * (p - y);
    std::vector<double> rate(x.size(), 0.0);
    double norm = 0, u = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i] == 0) continue;
      g[i] += g2 * x[i] * x[i];
      if (std::abs(x[i]) > s[i]) {
        if (s[i] > 0) w[i] *= s[i] / std::abs(x[i]);
        s[i] = std::abs(x[i]);
      }
      norm += x[i] * x[i] / (s[i] * s[i]);
      rate[i] = 1 / (std::sqrt(g[i]) * s[i]);
      u += x[i] * x[i] * rate[i];
    }
    total += h;
    sum_norm += h * norm;
    const double m = std::sqrt(total / sum_norm);
    u *= m;
    const double t = eta * h;
    const double a = t * u < 1e-6 ? 2 * (y - p) * t : (y - p) * (1 - std::exp(-2 * t * u)) / u;
    for (size_t i = 0; i < x.size(); ++i) w[i] += a * m * rate[i] * x[i];
  }
  double eta;
  std::vector<double> w, g, s;
  double total = 0, sum_norm = 0, lo = 0, hi = 0;
};

TEST(OnlineLinear, MatchesTheDenseReferenceTo1e6) {
  const int bits = 6, d = 1 << bits;
  for (double eta : {0.5, 2.0}) {
    OnlineLinear fast(bits, eta);
    DenseReference ref(d, eta);
    std::mt19937_64 rng(11);
    std::normal_distribution<double> normal;
    std::vector<double> truth(d);
    for (double& t : truth) t = normal(rng) * 0.3;
    double max_diff = 0;
    for (int step = 0; step < 400; ++step) {
      // 6 distinct features of varied scale (later ones larger: the normaliser rescales).
      std::vector<SparseFeature> x;
      std::vector<double> dense(d, 0.0);
      while (x.size() < 6) {
        const uint32_t i = static_cast<uint32_t>(rng() % d);
        if (dense[i] != 0) continue;
        const double scale = 1.0 + (step > 200 ? 4.0 : 0.0) * (i % 3);
        const float v = static_cast<float>(normal(rng) * scale);
        if (v == 0) continue;
        dense[i] = v;
        x.push_back({i, v});
      }
      double y = 0;
      for (int i = 0; i < d; ++i)
        y += truth[static_cast<size_t>(i)] * dense[static_cast<size_t>(i)];
      const double h = 0.5 + static_cast<double>(rng() % 5);  // importance weights 0.5 .. 4.5
      // Float weights against double ones: equal to 1e-6 relative to the prediction's size.
      const double want = ref.Predict(dense);
      max_diff =
          std::max(max_diff, std::abs(fast.Predict(x) - want) / std::max(1.0, std::abs(want)));
      fast.Update(x, y, h);
      ref.Update(dense, y, h);
    }
    EXPECT_LT(max_diff, 1e-6) << "eta " << eta;
    // And it learned: the weights approach the truth.
    double err = 0;
    for (int i = 0; i < d; ++i)
      err += std::abs(ref.w[static_cast<size_t>(i)] - truth[static_cast<size_t>(i)]);
    EXPECT_LT(err / d, 0.2) << "eta " << eta;
  }
}

// The reductions (cb_type mtr, ips, dr) against the rules cb_adf.cc's header states, written
// out over the dense reference learner: after every logged row, the policy's estimated rewards
// equal the reference's to 1e-6. The estimates are read back through softmax exploration at
// temperature 1 (s(a) - s(0) = ln p(a) - ln p(0)). Features: context and action features only
// (no bias, id or crosses), with keys below 2^bits so the slots are the keys themselves.
TEST(CbAdf, ReductionsMatchTheDenseReferenceTo1e6) {
  const int bits = 6, d = 1 << bits, k = 4;
  for (const char* cb : {"mtr", "ips", "dr"}) {
    SCOPED_TRACE(cb);
    PolicyConfig c;
    c.family = "cb-adf";
    c.params = {{"cb_type", cb}, {"explore", "softmax"}, {"temperature", 1.0}, {"bits", bits}};
    c.features = {{"bias", false}, {"action_id", false}, {"interactions", nlohmann::json::array()}};
    auto policy = MakePolicy(c);
    DenseReference ref(d, 0.5);
    uint64_t rows = 0;
    double action_sum = 0;
    std::mt19937_64 rng(17);
    std::normal_distribution<double> normal;
    double max_diff = 0;
    for (int t = 0; t < 300; ++t) {
      std::vector<KeyedFeature> context(4);
      for (size_t i = 0; i < context.size(); ++i) {
        context[i] = {i, static_cast<double>(static_cast<float>(normal(rng)))};
      }
      std::vector<std::vector<KeyedFeature>> af(k);
      KeyedInput in;
      in.context = context;
      std::vector<std::vector<double>> x(k, std::vector<double>(d, 0.0));
      for (int a = 0; a < k; ++a) {
        for (int f = 0; f < 2; ++f) {
          const uint64_t key = 8 + 2 * static_cast<uint64_t>(a) + static_cast<uint64_t>(f);
          af[a].push_back({key, static_cast<double>(static_cast<float>(1 + normal(rng)))});
        }
        for (const auto& cf : context) x[a][cf.key] = cf.value;
        for (const auto& f : af[a]) x[a][f.key] = f.value;
      }
      static const char* const kIds[] = {"a0", "a1", "a2", "a3"};
      for (int a = 0; a < k; ++a) in.actions.push_back({kIds[a], 0, af[a]});
      const size_t chosen = rng() % k;
      const double p = 1.0 / k;
      // Reward: action 2 pays when the first context feature is positive, else action 0.
      const double r = (context[0].value > 0 ? chosen == 2 : chosen == 0) ? 1.0 : 0.0;

      policy->Update(in, chosen, r, p);
      ++rows;
      action_sum += k;
      if (std::string(cb) == "mtr") {
        ref.Update(x[chosen], r, (static_cast<double>(rows) / action_sum) / p);
      } else {
        std::vector<double> q(k, 0.0);
        if (std::string(cb) == "dr") {
          for (int a = 0; a < k; ++a) q[a] = ref.Predict(x[a]);
        }
        for (int a = 0; a < k; ++a) {
          const double label = static_cast<size_t>(a) == chosen ? q[a] + (r - q[a]) / p : q[a];
          ref.Update(x[a], label, 1.0);
        }
      }
      std::mt19937_64 unused(1);
      const std::vector<double> probs = policy->Probabilities(in, unused);
      for (int a = 1; a < k; ++a) {
        const double got = std::log(probs[a]) - std::log(probs[0]);
        const double want = ref.Predict(x[a]) - ref.Predict(x[0]);
        max_diff = std::max(max_diff, std::abs(got - want) / std::max(1.0, std::abs(want)));
      }
    }
    EXPECT_LT(max_diff, 1e-6);
    // And it learned: without crosses the model holds each action's mean reward, so the two
    // actions that ever pay (0 and 2) lead the two that never do (1 and 3).
    std::vector<double> x0(d, 0.0), x1(d, 0.0), x2(d, 0.0), x3(d, 0.0);
    for (int f = 0; f < 2; ++f) x0[8 + f] = x1[10 + f] = x2[12 + f] = x3[14 + f] = 1.0;
    EXPECT_GT(ref.Predict(x2), ref.Predict(x1) + 0.05);
    EXPECT_GT(ref.Predict(x0), ref.Predict(x3) + 0.05);
  }
}

TEST(OnlineLinear, ALargeImportanceWeightNeverOvershootsTheLabel) {
  OnlineLinear m(4, 0.5);
  const std::vector<SparseFeature> x = {{1, 1.0f}, {3, 2.0f}};
  m.Update(x, 1.0, 1e6);  // invariant update: the prediction moves toward 1, not past it
  const double p = m.Predict(x);
  EXPECT_GT(p, 0.9);
  EXPECT_LE(p, 1.0 + 1e-6);
}

TEST(OnlineLinear, RestoreRefusesDamagedState) {
  OnlineLinear m(3, 0.5);
  EXPECT_TRUE(m.slots().empty());  // allocated by the first update
  const std::vector<SparseFeature> x = {{1, 1.0f}};
  m.Update(x, 1.0, 1.0);
  std::vector<float> slots = m.slots();
  ASSERT_EQ(slots.size(), 24u);
  std::vector<double> sums = m.globals();
  slots[0] = std::nanf("");
  EXPECT_THROW(m.Restore(slots, sums, "x"), Error);
  slots[0] = 0;
  slots[1] = -1;  // an AdaGrad sum cannot be negative
  EXPECT_THROW(m.Restore(slots, sums, "x"), Error);
  slots[1] = 0;
  EXPECT_THROW(m.Restore(std::span<const float>(slots).first(3), sums, "x"), Error);
  EXPECT_NO_THROW(m.Restore(slots, sums, "x"));
  EXPECT_THROW(OnlineLinear(0, 0.5), Error);
  EXPECT_THROW(OnlineLinear(8, 0.0), Error);
}

DecisionInput Input(double hour) {
  DecisionInput in;
  in.context = {{"device", std::string(hour > 12 ? "tv" : "phone")}, {"hour", hour / 24}};
  for (int i = 0; i < 4; ++i) {
    in.actions.push_back({"art-" + std::to_string(i), {{"faces", static_cast<double>(i % 3)}}});
  }
  return in;
}

// Reward 1 for art-2 on a tv, for art-0 on a phone; uniform logging.
std::unique_ptr<Policy> Trained(nlohmann::json params, int rows = 1500) {
  PolicyConfig c;
  c.family = "cb-adf";
  c.params = std::move(params);
  auto p = MakePolicy(c);
  std::mt19937_64 rng(5);
  for (int t = 0; t < rows; ++t) {
    const double hour = static_cast<double>(rng() % 24);
    const size_t a = rng() % 4;
    const double r = (hour > 12 ? a == 2 : a == 0) ? 1.0 : 0.0;
    p->Update(Input(hour), a, r, 0.25);
  }
  return p;
}

TEST(CbAdf, EveryReductionLearnsTheBestActionPerContext) {
  for (const char* cb : {"mtr", "ips", "dr"}) {
    SCOPED_TRACE(cb);
    auto p = Trained({{"cb_type", cb}, {"epsilon", 0.2}});
    std::mt19937_64 rng(1);
    const auto tv = p->Probabilities(Input(21), rng);
    const auto phone = p->Probabilities(Input(8), rng);
    EXPECT_NEAR(tv[2], 0.8 + 0.05, 1e-9);
    EXPECT_NEAR(phone[0], 0.8 + 0.05, 1e-9);
    EXPECT_NEAR(tv[1], 0.05, 1e-9);
  }
}

TEST(CbAdf, ExplorationStrategiesGiveDistributionsFavouringTheBest) {
  for (const char* ex : {"epsilon", "softmax", "bag", "squarecb"}) {
    SCOPED_TRACE(ex);
    nlohmann::json params = {{"explore", ex}};
    auto p = Trained(params);
    std::mt19937_64 rng(1);
    const auto probs = p->Probabilities(Input(21), rng);
    double sum = 0;
    for (double x : probs) {
      EXPECT_GE(x, 0.0);
      sum += x;
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
    EXPECT_EQ(std::max_element(probs.begin(), probs.end()) - probs.begin(), 2);
    EXPECT_GT(probs[2], 0.5);
    if (std::string(ex) != "softmax") {
      EXPECT_GT(probs[0], 0.0);  // every action explored
    }
  }
}

TEST(CbAdf, SquareCbExploresLessAsItLearns) {
  std::mt19937_64 rng(1);
  const double early = Trained({{"explore", "squarecb"}}, 200)->Probabilities(Input(21), rng)[2];
  const double late = Trained({{"explore", "squarecb"}}, 3000)->Probabilities(Input(21), rng)[2];
  EXPECT_GT(late, early);
}

Policy::RowSource Rows(std::vector<DecisionInput>& inputs, std::vector<size_t>& chosen,
                       std::vector<double>& reward) {
  std::mt19937_64 rng(9);
  for (int t = 0; t < 600; ++t) {
    const double hour = static_cast<double>(rng() % 24);
    inputs.push_back(Input(hour));
    chosen.push_back(rng() % 4);
    reward.push_back((hour > 12 ? chosen.back() == 2 : chosen.back() == 0) ? 1.0 : 0.0);
  }
  return [&](size_t i, KeyedScratch* s) {
    return Policy::LoggedRow{&s->Key(inputs[i].context, inputs[i].actions), chosen[i], reward[i],
                             0.25};
  };
}

TEST(CbAdf, BaggingLearnsTheSameWeightsOnAnyNumberOfThreads) {
  std::vector<DecisionInput> inputs;
  std::vector<size_t> chosen;
  std::vector<double> reward;
  const Policy::RowSource row = Rows(inputs, chosen, reward);
  marquee::testing::TempDir dir;
  std::string bytes[3];
  int k = 0;
  for (int threads : {1, 2, 4}) {
    PolicyConfig c;
    c.family = "cb-adf";
    c.params = {{"explore", "bag"}, {"bag", 4}, {"bits", 10}};
    auto p = MakePolicy(c);
    p->Learn(inputs.size(), 2, row, threads, nullptr);
    p->Save(dir.file("p.mqm"), Env::Default());
    bytes[k++] = Slurp(dir.file("p.mqm"));
  }
  EXPECT_EQ(bytes[0], bytes[1]);
  EXPECT_EQ(bytes[0], bytes[2]);
  // And as many Update calls in the same order.
  PolicyConfig c;
  c.family = "cb-adf";
  c.params = {{"explore", "bag"}, {"bag", 4}, {"bits", 10}};
  auto serial = MakePolicy(c);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < inputs.size(); ++i)
      serial->Update(inputs[i], chosen[i], reward[i], 0.25);
  }
  serial->Save(dir.file("s.mqm"), Env::Default());
  EXPECT_EQ(Slurp(dir.file("s.mqm")), bytes[0]);
}

TEST(CbAdf, SavedAndLoadedItDecidesAndLearnsOnIdentically) {
  for (const char* ex : {"epsilon", "bag", "squarecb"}) {
    SCOPED_TRACE(ex);
    auto p = Trained({{"explore", ex}, {"bits", 12}});
    marquee::testing::TempDir dir;
    p->Save(dir.file("p.mqm"), Env::Default());
    auto q = LoadPolicy(dir.file("p.mqm"), Env::Default());
    EXPECT_EQ(q->family(), "cb-adf");
    EXPECT_EQ(q->config().params, p->config().params);
    for (auto* pol : {p.get(), q.get()}) pol->Update(Input(3), 1, 1.0, 0.25);
    std::mt19937_64 r1(1), r2(1);
    for (double hour : {2.0, 14.0, 23.0}) {
      EXPECT_EQ(p->Probabilities(Input(hour), r1), q->Probabilities(Input(hour), r2));
    }
  }
}

TEST(CbAdf, KeyedAndNamedInputsGiveTheSameDistribution) {
  auto p = Trained({{"explore", "softmax"}});
  const DecisionInput in = Input(20);
  KeyedScratch s;
  std::mt19937_64 r1(1), r2(1);
  EXPECT_EQ(p->Probabilities(in, r1), p->Probabilities(s.Key(in.context, in.actions), r2));
}

TEST(CbAdf, BadParametersAreNamed) {
  auto expect = [](const std::string& family, nlohmann::json params, const std::string& mention) {
    PolicyConfig c;
    c.family = family;
    c.params = std::move(params);
    try {
      MakePolicy(c);
      ADD_FAILURE() << "accepted " << c.params.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
    }
  };
  expect("cb-adf", {{"bits", 25}}, "params.bits");
  expect("cb-adf", {{"cb_type", "dm"}}, "params.cb_type");
  expect("cb-adf", {{"explore", "ucb"}}, "params.explore");
  expect("cb-adf", {{"learning_rate", 0}}, "params.learning_rate");
  expect("cb-adf", {{"explore", "epsilon"}, {"bag", 3}}, "params.bag");  // bag only with bagging
  expect("cb-adf", {{"explore", "bag"}, {"bag", 1}}, "params.bag");
  expect("cb-adf", {{"explore", "bag"}, {"bag", 32}, {"bits", 24}}, "params.bag x 2^params.bits");
  expect("epsilon-greedy", {{"explore", "bag"}}, "params.explore");  // the family fixes it
  expect("epsilon-greedy", {{"lambda", 2}}, "params.lambda");        // a ridge setting
  expect("softmax", {{"model", "online"}, {"epsilon", 0.1}}, "params.epsilon");
}

TEST(CbAdf, IsTheDefaultModelOfEpsilonGreedyAndSoftmax) {
  for (const char* f : {"epsilon-greedy", "softmax"}) {
    PolicyConfig c;
    c.family = f;
    auto p = MakePolicy(c);
    EXPECT_EQ(p->config().params["model"], "online") << f;
    EXPECT_EQ(p->config().params["bits"], 18) << f;
    EXPECT_EQ(p->config().params["cb_type"], "mtr") << f;
  }
  // The defaults chosen on generated data (docs/formats/bandit.md, "Defaults").
  PolicyConfig eg, sm, cb;
  eg.family = "epsilon-greedy";
  sm.family = "softmax";
  cb.family = "cb-adf";
  EXPECT_EQ(MakePolicy(eg)->config().params["epsilon"], 0.05);
  EXPECT_EQ(MakePolicy(cb)->config().params["epsilon"], 0.05);
  EXPECT_EQ(MakePolicy(sm)->config().params["temperature"], 0.02);
  PolicyConfig c;
  c.family = "epsilon-greedy";
  c.params = {{"model", "linear"}};  // the ridge models stay selectable
  EXPECT_EQ(MakePolicy(c)->config().params["lambda"], 1.0);
}

TEST(Featurizer, KeyedVectorsAreBitIdenticalToNamedOnes) {
  FeatureSpec spec;
  spec.dim = 97;
  Featurizer fz(spec);
  const DecisionInput in = Input(17);
  KeyedScratch s;
  const KeyedInput& k = s.Key(in.context, in.actions);
  for (size_t a = 0; a < in.actions.size(); ++a) {
    const std::vector<float> named = fz.Joint(in.context, in.actions[a]);
    std::vector<float> keyed(spec.dim);
    fz.Joint(k.context, k.actions[a], keyed.data());
    EXPECT_EQ(std::memcmp(named.data(), keyed.data(), named.size() * sizeof(float)), 0);
  }
  const std::vector<float> named = fz.ContextOnly(in.context);
  std::vector<float> keyed(spec.dim);
  fz.ContextOnly(k.context, keyed.data());
  EXPECT_EQ(std::memcmp(named.data(), keyed.data(), named.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace marquee
