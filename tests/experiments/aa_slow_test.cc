// Statistical correctness: 1,000 simulated A/A tests (no true difference). The fixed-horizon
// Welch test must reject at alpha = 0.05 in 3%..7% of them; the mSPRT with continuous peeking
// (a look after every batch) in at most 5%. Seeded and deterministic.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "experiments/stats.h"

namespace marquee::experiments {
namespace {

struct AaRates {
  double welch = 0, msprt = 0;
};

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
  std::printf("A/A preferences: one-sample mSPRT (peek every member) FPR %.3f\n", rejects / 1000.0);
}

}  // namespace
}  // namespace marquee::experiments
