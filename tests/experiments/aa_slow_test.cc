// Statistical correctness: 1,000 simulated A/A tests (no true difference). The fixed-horizon
// Welch test must reject at alpha = 0.05 in 3%..7% of them; the mSPRT with continuous peeking
// (a look after every batch) in at most 5%; and `analyze`'s own sequential p-value, which looks
// at the experiment as it stood at 100 times while members arrive and keep playing, in at most 5%.
// Seeded and deterministic, so each rate must also equal, at the precision quoted, the figure
// docs/BENCHMARKS.md ("A/A false-positive rates") and docs/experiments.md state for it.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "experiments/analysis.h"
#include "experiments/stats.h"

namespace marquee {
namespace {

struct AaRates {
  double welch = 0, msprt = 0;
};

// A rate as the docs print it: a percentage with `decimals` decimals ("4.5", "81").
std::string Percent(double rate, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, rate * 100.0);
  return buf;
}

// `draw` generates one observation of the metric (identical in both cells).
template <typename Draw>
AaRates RunAa(uint64_t seed, int tests, int batches, int batch_size, Draw draw) {
  std::mt19937_64 rng(seed);
  int welch_rejects = 0, msprt_rejects = 0;
  std::vector<double> a, b;
  for (int t = 0; t < tests; ++t) {
    SequentialTest seq;
    bool rejected = false;
    a.clear();
    b.clear();
    for (int k = 0; k < batches; ++k) {
      for (int i = 0; i < batch_size; ++i) {
        a.push_back(draw(rng));
        b.push_back(draw(rng));
        seq.Add(0, a.back());
        seq.Add(1, b.back());
      }
      if (seq.Peek() < 0.05) rejected = true;  // peeking after every batch
    }
    msprt_rejects += rejected;
    welch_rejects += Welch(a, b).p_value < 0.05;
  }
  return {welch_rejects / static_cast<double>(tests), msprt_rejects / static_cast<double>(tests)};
}

TEST(AaSlow, NormalMetricFalsePositiveRates) {
  std::normal_distribution<double> normal(10.0, 3.0);
  const AaRates r = RunAa(2026, 1000, 100, 10, [&](std::mt19937_64& g) { return normal(g); });
  RecordProperty("welch_fpr", std::to_string(r.welch));
  RecordProperty("msprt_fpr", std::to_string(r.msprt));
  EXPECT_GE(r.welch, 0.03);
  EXPECT_LE(r.welch, 0.07);
  EXPECT_LE(r.msprt, 0.05);
  // docs/BENCHMARKS.md: "rejects 5.9% (normal metric)", mSPRT "rejects 1.2%".
  EXPECT_EQ(Percent(r.welch, 1), "5.9");
  EXPECT_EQ(Percent(r.msprt, 1), "1.2");
  std::printf("A/A normal: fixed-horizon Welch FPR %.3f, mSPRT (peek every batch) FPR %.3f\n",
              r.welch, r.msprt);
}

TEST(AaSlow, SkewedCountMetricFalsePositiveRates) {
  // Plays per member: mostly 0, a long tail (geometric), like the replay simulator's metric.
  std::geometric_distribution<int> geo(0.6);
  std::bernoulli_distribution active(0.3);
  const AaRates r = RunAa(7, 1000, 100, 10, [&](std::mt19937_64& g) {
    return active(g) ? static_cast<double>(1 + geo(g)) : 0.0;
  });
  EXPECT_GE(r.welch, 0.03);
  EXPECT_LE(r.welch, 0.07);
  EXPECT_LE(r.msprt, 0.05);
  // docs/BENCHMARKS.md: "4.0% (skewed counts ...)", mSPRT "0.9%".
  EXPECT_EQ(Percent(r.welch, 1), "4.0");
  EXPECT_EQ(Percent(r.msprt, 1), "0.9");
  std::printf(
      "A/A skewed counts: fixed-horizon Welch FPR %.3f, mSPRT (peek every batch) FPR %.3f\n",
      r.welch, r.msprt);
}

TEST(AaSlow, OneSamplePreferencesFalsePositiveRate) {
  // Interleaving under the null: each non-tied member prefers A or B by a fair coin; the
  // one-sample mSPRT on +1/-1 is checked after every member, up to 2,000 members.
  std::mt19937_64 rng(99);
  std::bernoulli_distribution coin(0.5);
  int rejects = 0;
  for (int t = 0; t < 1000; ++t) {
    SequentialTest::Options o;
    o.one_sample = true;
    SequentialTest seq(o);
    for (int i = 0; i < 2000; ++i) {
      seq.Add(0, coin(rng) ? 1.0 : -1.0);
      if (seq.Peek() < 0.05) {
        ++rejects;
        break;
      }
    }
  }
  EXPECT_LE(rejects, 50);
  EXPECT_EQ(Percent(rejects / 1000.0, 1), "3.6");  // docs/BENCHMARKS.md: "rejects 3.6%"
  std::printf("A/A preferences: one-sample mSPRT (peek every member) FPR %.3f\n", rejects / 1000.0);
}

// Experiments through AnalyzeExperiment: 300 members arrive uniformly over 10 days, each with
// their own activity rate (exponential, mean 0.3 plays a day; the treatment's rates multiplied by
// `effect`), and play shown items as a Poisson process until day 14. Returns the share of `tests`
// experiments in which analyze's sequential p-value (100 looks in calendar time, each member's
// plays as they stood) and the fixed-horizon Welch test at the end are below 0.05.
AaRates RunThroughAnalyze(uint64_t seed, int tests, double effect) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> arrive(0.0, 10.0);
  std::exponential_distribution<double> rate(1.0 / 0.3);
  const int64_t day = 86400;
  int seq_rejects = 0, welch_rejects = 0;
  for (int t = 0; t < tests; ++t) {
    AnalysisInput in;
    in.spec.name = "aa";
    in.spec.salt = "s" + std::to_string(t);  // a fresh assignment per experiment
    in.spec.cells = {Cell{"control", "m/1", 0.5}, Cell{"treatment", "m/1", 0.5}};
    in.spec.attribution_window = 30 * day;
    for (int u = 0; u < 300; ++u) {
      const std::string user = "u" + std::to_string(u);
      Exposure e;
      e.experiment = "aa";
      e.cell = in.spec.cells[AssignCell(in.spec, user)].name;
      e.user = user;
      e.ts = static_cast<int64_t>(arrive(rng) * day);
      e.items = {"i1", "i2", "i3"};
      e.seq = static_cast<uint64_t>(u);
      const double per_second = rate(rng) / day * (e.cell == "treatment" ? effect : 1.0);
      if (per_second > 0) {
        std::exponential_distribution<double> gap(per_second);
        for (double ts = e.ts + gap(rng); ts < 14 * day; ts += gap(rng)) {
          StoredEvent p;
          p.user = user;
          p.item = "i" + std::to_string(1 + in.events.size() % 3);
          p.ts = static_cast<int64_t>(ts);
          p.type = "play";
          in.events.push_back(p);
        }
      }
      in.exposures.push_back(std::move(e));
    }
    const nlohmann::json a = AnalyzeExperiment(in);
    const nlohmann::json& m = a["comparisons"][0]["plays_per_member"];
    EXPECT_FALSE(m.contains("error")) << m.dump();
    if (m.contains("error")) continue;
    seq_rejects += m["sequential_p_value"].get<double>() < 0.05;
    welch_rejects += m["p_value"].get<double>() < 0.05;
  }
  return {welch_rejects / static_cast<double>(tests), seq_rejects / static_cast<double>(tests)};
}

TEST(AaSlow, AnalyzeLooksOverTimeFalsePositiveRate) {
  const AaRates r = RunThroughAnalyze(314, 1000, 1.0);
  EXPECT_LE(r.msprt, 0.05);
  EXPECT_GE(r.welch, 0.03);
  EXPECT_LE(r.welch, 0.07);
  // docs/BENCHMARKS.md and docs/experiments.md: "rejects 0.1%, and Welch at the end 4.5%".
  EXPECT_EQ(Percent(r.msprt, 1), "0.1");
  EXPECT_EQ(Percent(r.welch, 1), "4.5");
  std::printf(
      "A/A through analyze (plays growing over 14 days): Welch FPR %.3f, sequential "
      "(100 calendar looks) FPR %.3f\n",
      r.welch, r.msprt);
  // The same design with a real effect (treatment members twice as active): the sequential test
  // must still find it (a tau^2 frozen at the first look, when few plays existed, never did).
  const AaRates p = RunThroughAnalyze(315, 200, 2.0);
  EXPECT_GE(p.msprt, 0.3);
  // The docs: "(200 experiments) the sequential test still detects 81% and Welch 99.5%".
  EXPECT_EQ(Percent(p.msprt, 0), "81");
  EXPECT_EQ(Percent(p.welch, 1), "99.5");
  std::printf("twice as active: Welch power %.3f, sequential power %.3f\n", p.welch, p.msprt);
}

}  // namespace
}  // namespace marquee
