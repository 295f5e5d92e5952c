// Unit tests of src/experiments/stats.h against hand-computed values and scipy 1.10 numbers
// (written out here; tests/python/test_experiment_stats.py compares against scipy live).
#include "experiments/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "marquee/error.h"

namespace marquee {
namespace {

ErrorCode CodeOf(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // "did not throw"
}

TEST(Moments, TwoPassAndStreamingAgree) {
  const std::vector<double> x = {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4};
  const Moments m = ComputeMoments(x);
  EXPECT_EQ(m.n, 4u);
  EXPECT_DOUBLE_EQ(m.mean, 1e9 + 2.5);
  EXPECT_NEAR(m.var, 5.0 / 3.0, 1e-9);
  MomentAccumulator acc1, acc2;
  acc1.Add(x[0]);
  acc1.Add(x[1]);
  acc2.Add(x[2]);
  acc2.Add(x[3]);
  acc1.Merge(acc2);
  EXPECT_NEAR(acc1.Get().mean, m.mean, 1e-6);
  EXPECT_NEAR(acc1.Get().var, m.var, 1e-6);
  EXPECT_EQ(ComputeMoments(std::vector<double>{}).n, 0u);
  EXPECT_EQ(ComputeMoments(std::vector<double>{3.0}).var, 0.0);
}

TEST(Welch, MatchesHandComputedAndScipy) {
  const std::vector<double> a = {1, 2, 3, 4, 5}, b = {2, 4, 6, 8, 10, 12};
  const WelchResult r = Welch(a, b);
  EXPECT_DOUBLE_EQ(r.mean_a, 3.0);
  EXPECT_DOUBLE_EQ(r.mean_b, 7.0);
  EXPECT_DOUBLE_EQ(r.var_a, 2.5);
  EXPECT_DOUBLE_EQ(r.var_b, 14.0);
  EXPECT_DOUBLE_EQ(r.diff, 4.0);
  // se^2 = 2.5/5 + 14/6 = 17/6; t = 4 / sqrt(17/6).
  EXPECT_NEAR(r.t, 4.0 / std::sqrt(17.0 / 6.0), 1e-12);
  // scipy.stats.ttest_ind(b, a, equal_var=False) and the Welch-Satterthwaite df.
  EXPECT_NEAR(r.t, 2.3763541031440183, 1e-12);
  EXPECT_NEAR(r.p_value, 0.04928433820673049, 1e-12);
  EXPECT_NEAR(r.df, 6.9722557297949335, 1e-12);
  // CI ends: diff +- q se with q the root of scipy's t CDF at 0.975 (scipy 1.10's t.ppf itself
  // is accurate only to ~1e-10 here; Boost's quantile matches the CDF root).
  EXPECT_NEAR(r.diff_ci_lo, 0.016531304371171895, 1e-11);
  EXPECT_NEAR(r.diff_ci_hi, 7.983468695628828, 1e-11);
  EXPECT_NEAR(r.rel_lift, 4.0 / 3.0, 1e-12);
  EXPECT_LT(r.rel_ci_lo, r.rel_lift);
  EXPECT_GT(r.rel_ci_hi, r.rel_lift);
  // Sufficient statistics give the same answer.
  const WelchResult s = Welch(ComputeMoments(a), ComputeMoments(b));
  EXPECT_DOUBLE_EQ(s.p_value, r.p_value);
}

TEST(Welch, EdgeCasesThrowOrAreDocumented) {
  const std::vector<double> one = {1.0}, two = {1.0, 2.0}, same = {3.0, 3.0, 3.0};
  EXPECT_EQ(CodeOf([&] { Welch(one, two); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { Welch(same, same); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { Welch(two, two, 1.5); }), ErrorCode::kInvalidArgument);
  const std::vector<double> bad = {1.0, std::nan("")};
  EXPECT_EQ(CodeOf([&] { Welch(bad, two); }), ErrorCode::kInvalidArgument);
  // One cell constant is fine (df from the other cell).
  const WelchResult r = Welch(same, std::vector<double>{1.0, 2.0, 3.0});
  EXPECT_TRUE(std::isfinite(r.p_value));
  EXPECT_NEAR(r.df, 2.0, 1e-12);
  // Identical cells: t = 0, p = 1.
  const WelchResult z = Welch(two, two);
  EXPECT_DOUBLE_EQ(z.t, 0.0);
  EXPECT_DOUBLE_EQ(z.p_value, 1.0);
  // Control mean 0: the relative lift is NaN by contract, everything else finite.
  const WelchResult zero = Welch(std::vector<double>{-1.0, 1.0}, two);
  EXPECT_TRUE(std::isnan(zero.rel_lift));
  EXPECT_TRUE(std::isfinite(zero.p_value));
}

TEST(SampleRatioMismatch, MatchesScipyChisquare) {
  const std::vector<uint64_t> obs = {480, 520};
  const std::vector<double> w = {0.5, 0.5};
  const ChiSquareResult r = SampleRatioMismatch(obs, w);
  EXPECT_NEAR(r.statistic, 1.6, 1e-12);
  EXPECT_DOUBLE_EQ(r.df, 1.0);
  EXPECT_NEAR(r.p_value, 0.20590321073206466, 1e-12);
  const std::vector<uint64_t> obs3 = {50, 30, 20};
  const std::vector<double> w3 = {1, 1, 1};  // any positive scale
  const ChiSquareResult r3 = SampleRatioMismatch(obs3, w3);
  EXPECT_NEAR(r3.statistic, 14.0, 1e-12);
  EXPECT_NEAR(r3.p_value, 0.0009118819655545164, 1e-12);
  // A perfect split: statistic 0, p 1.
  const std::vector<uint64_t> even = {500, 500};
  EXPECT_DOUBLE_EQ(SampleRatioMismatch(even, w).p_value, 1.0);
}

TEST(SampleRatioMismatch, RejectsBadInput) {
  const std::vector<uint64_t> obs = {1, 2}, zeros = {0, 0}, one = {5};
  const std::vector<double> w = {0.5, 0.5}, w3 = {1, 1, 1}, neg = {1, -1}, w1 = {1};
  EXPECT_EQ(CodeOf([&] { SampleRatioMismatch(obs, w3); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { SampleRatioMismatch(zeros, w); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { SampleRatioMismatch(obs, neg); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { SampleRatioMismatch(one, w1); }), ErrorCode::kInvalidArgument);
}

TEST(BinomialTest, MatchesScipyBinomtest) {
  struct Case {
    uint64_t k, n;
    double p, expected;
  };
  const Case cases[] = {{7, 20, 0.5, 0.26317596435546875},
                        {60, 100, 0.5, 0.05688793364098088},
                        {3, 10, 0.3, 1.0},
                        {1, 10, 0.3, 0.2995766784999998},
                        {0, 10, 0.3, 0.0388396033},
                        {10, 10, 0.3, 5.9048999999999975e-06},
                        {9, 10, 0.3, 0.00014368589999999996}};
  for (const Case& c : cases) {
    const BinomialResult r = BinomialTest(c.k, c.n, c.p);
    EXPECT_NEAR(r.p_value, c.expected, 1e-12) << c.k << "/" << c.n << " p=" << c.p;
  }
  const BinomialResult r = BinomialTest(7, 20);
  EXPECT_DOUBLE_EQ(r.share, 0.35);
  EXPECT_NEAR(r.ci_lo, 0.1539092047845412, 1e-10);  // Clopper-Pearson, scipy proportion_ci
  EXPECT_NEAR(r.ci_hi, 0.5921885345328283, 1e-10);
  EXPECT_DOUBLE_EQ(BinomialTest(0, 5).ci_lo, 0.0);
  EXPECT_DOUBLE_EQ(BinomialTest(5, 5).ci_hi, 1.0);
}

TEST(BinomialTest, RejectsBadInput) {
  EXPECT_EQ(CodeOf([] { BinomialTest(0, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { BinomialTest(6, 5); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { BinomialTest(1, 5, 1.0); }), ErrorCode::kInvalidArgument);
}

TEST(Cuped, RemovesCovariateVarianceAndKeepsTheEffect) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> ya, xa, yb, xb;
  for (int i = 0; i < 2000; ++i) {
    const double x = 5.0 + 2.0 * noise(rng);
    xa.push_back(x);
    ya.push_back(x + 0.5 * noise(rng));
  }
  for (int i = 0; i < 2000; ++i) {
    const double x = 5.0 + 2.0 * noise(rng);
    xb.push_back(x);
    yb.push_back(x + 0.3 + 0.5 * noise(rng));  // true effect 0.3
  }
  const CupedResult r = Cuped(ya, xa, yb, xb);
  EXPECT_NEAR(r.theta, 1.0, 0.05);
  // var(y) = 4.25, var(y - x) = 0.25: about 94% of the variance goes.
  EXPECT_GT(r.variance_reduction, 0.9);
  EXPECT_NEAR(r.adjusted.diff, 0.3, 0.05);
  EXPECT_LT(r.adjusted.p_value, 1e-6);
  EXPECT_GT(Welch(ya, yb).p_value, r.adjusted.p_value);
  // A constant covariate leaves the test unchanged (theta = 0).
  const std::vector<double> ca(xa.size(), 1.0), cb(xb.size(), 1.0);
  const CupedResult c = Cuped(ya, ca, yb, cb);
  EXPECT_DOUBLE_EQ(c.theta, 0.0);
  EXPECT_NEAR(c.adjusted.p_value, Welch(ya, yb).p_value, 1e-12);
  EXPECT_NEAR(c.variance_reduction, 0.0, 1e-12);
  const std::vector<double> shorter(10, 1.0);
  EXPECT_EQ(CodeOf([&] { Cuped(ya, shorter, yb, xb); }), ErrorCode::kInvalidArgument);
}

TEST(Msprt, HandComputedValue) {
  // d = 2, v = 1, tau2 = 1: Lambda = sqrt(1/2) exp(1 * 4 / (2 * 1 * 2)) = sqrt(1/2) e.
  EXPECT_NEAR(MsprtPValue(2.0, 1.0, 1.0), 1.0 / (std::sqrt(0.5) * std::exp(1.0)), 1e-12);
  // d = 1: Lambda = sqrt(1/2) e^(1/4) < 1, so the p-value is capped at 1.
  EXPECT_DOUBLE_EQ(MsprtPValue(1.0, 1.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(MsprtPValue(0.0, 1.0, 1.0), 1.0);  // capped at 1
  EXPECT_DOUBLE_EQ(MsprtPValue(0.0, 0.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(MsprtPValue(1.0, 0.0, 1.0), 0.0);
  EXPECT_EQ(CodeOf([] { MsprtPValue(1.0, 1.0, 0.0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] {
              MsprtPValue(Moments{1, 0, 0}, Moments{5, 1, 1}, 1.0);
            }),
            ErrorCode::kInvalidArgument);
}

TEST(SequentialTest, NonIncreasingAndDetectsARealEffect) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 1.0);
  SequentialTest test;
  EXPECT_DOUBLE_EQ(test.Peek(), 1.0);  // no data
  double last = 1.0;
  for (int batch = 0; batch < 200 && test.p_value() > 1e-4; ++batch) {
    for (int i = 0; i < 20; ++i) {
      test.Add(0, noise(rng));
      test.Add(1, 0.3 + noise(rng));
    }
    const double p = test.Peek();
    EXPECT_LE(p, last);
    last = p;
  }
  EXPECT_LT(test.p_value(), 1e-4);
  EXPECT_NEAR(test.tau2(), 0.01, 0.005);  // (0.1 sigma)^2 with sigma ~ 1
  EXPECT_EQ(CodeOf([&] { test.Add(2, 1.0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { test.Add(0, INFINITY); }), ErrorCode::kInvalidArgument);
}

TEST(SequentialTest, OneSampleModeAndMinN) {
  SequentialTest::Options o;
  o.one_sample = true;
  o.tau2 = 0.25;
  o.min_n = 5;
  SequentialTest test(o);
  for (int i = 0; i < 4; ++i) test.Add(0, 1.0);
  EXPECT_DOUBLE_EQ(test.Peek(), 1.0);  // below min_n
  for (int i = 0; i < 20; ++i) test.Add(0, 1.0);
  EXPECT_DOUBLE_EQ(test.Peek(), 1.0);  // no spread yet: no evidence either way
  EXPECT_EQ(CodeOf([&] { test.Add(1, 1.0); }), ErrorCode::kInvalidArgument);
  for (int i = 0; i < 60; ++i) test.Add(0, i % 4 == 0 ? -1.0 : 1.0);  // mostly +1
  EXPECT_LT(test.Peek(), 0.05);
}

TEST(Distributions, KnownValues) {
  EXPECT_NEAR(NormalCdf(1.959963984540054), 0.975, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(StudentTCdf(0.0, 3.0), 0.5, 1e-15);
  EXPECT_NEAR(StudentTQuantile(0.975, 10.0), 2.2281388519862735, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(3.841458820694124, 1.0), 0.05, 1e-12);
  EXPECT_EQ(CodeOf([] { NormalQuantile(1.0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { StudentTCdf(1.0, 0.0); }), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace marquee
