// Statistics for online experiments: Welch's t-test with absolute and relative lift intervals,
// the sample-ratio-mismatch chi-square test, CUPED variance reduction, an always-valid
// sequential test (mSPRT) and the exact two-sided binomial test.
//
// Distribution functions (Student t, chi-square, normal, binomial) come from Boost.Math; nothing
// here hand-writes a special function. Every function is pure (no state, no I/O) and therefore
// thread-safe; SequentialTest is a value type that is not synchronised (one writer at a time).
//
// Errors: inputs that make a statistic undefined (fewer than 2 observations per cell, both cells
// with zero variance, weights that do not sum to a positive number, ...) throw
// marquee::Error(kInvalidArgument) with a message naming the problem. No function returns NaN
// silently: where a quantity is undefined but the rest of the result is meaningful (e.g. the
// relative lift when the control mean is 0) it is documented below and set to NaN explicitly.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace marquee {

// Sufficient statistics of one cell: count, mean and unbiased (n - 1) sample variance.
struct Moments {
  uint64_t n = 0;
  double mean = 0.0;
  double var = 0.0;
};

// Computes Moments of `x` (two-pass, numerically stable). n = 0 gives {0, 0, 0}; n = 1 gives
// var = 0.
Moments ComputeMoments(std::span<const double> x);

// Streaming accumulator of Moments (Welford). Add() is O(1); Merge() combines two accumulators
// (Chan et al.), so analysis can stream over logs or shards.
class MomentAccumulator {
 public:
  void Add(double x);
  void Merge(const MomentAccumulator& other);
  Moments Get() const;  // var is the unbiased sample variance (0 when n < 2)

 private:
  uint64_t n_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
};

// Welch's unequal-variance t-test of cell B against cell A (A is the control).
//   diff     = mean_b - mean_a, se = sqrt(var_a/n_a + var_b/n_b)
//   df       = Welch-Satterthwaite degrees of freedom
//   t        = diff / se; p_value two-sided from Student's t with df degrees of freedom
//   diff_ci  = diff +- t_{1-alpha/2, df} * se
//   rel_lift = diff / mean_a, with a delta-method interval: the variance of mean_b / mean_a is
//              approximated by var_b/(n_b mean_a^2) + mean_b^2 var_a/(n_a mean_a^4) (independent
//              cells), and rel_ci = rel_lift +- z_{1-alpha/2} * sqrt(that). When mean_a == 0 the
//              relative lift is undefined and rel_lift, rel_ci_lo, rel_ci_hi are NaN (documented,
//              the only NaN this function returns).
// Throws kInvalidArgument when n_a < 2 or n_b < 2, when both variances are 0 (the test is
// undefined), when alpha is not in (0, 1) or a value is not finite.
struct WelchResult {
  double mean_a = 0, mean_b = 0, var_a = 0, var_b = 0;
  uint64_t n_a = 0, n_b = 0;
  double diff = 0, diff_ci_lo = 0, diff_ci_hi = 0;
  double rel_lift = 0, rel_ci_lo = 0, rel_ci_hi = 0;
  double t = 0, df = 0, p_value = 1;
};
WelchResult Welch(std::span<const double> a, std::span<const double> b, double alpha = 0.05);
// The same test from sufficient statistics (var: unbiased sample variance).
WelchResult Welch(const Moments& a, const Moments& b, double alpha = 0.05);

// Pearson's chi-square goodness-of-fit test of the observed cell counts against the expected
// split `weights` (any positive scale; normalised here): the sample-ratio-mismatch (SRM) check.
// df = cells - 1. Throws kInvalidArgument when the spans differ in length, there are fewer than
// 2 cells, a weight is not positive and finite, or the total count is 0.
struct ChiSquareResult {
  double statistic = 0, df = 0, p_value = 1;
};
ChiSquareResult SampleRatioMismatch(std::span<const uint64_t> observed,
                                    std::span<const double> weights);

// CUPED (Deng et al. 2013): y' = y - theta (x - mean(x)), with one theta = cov(x, y) / var(x)
// pooled across both cells (pooled covariance and variance of the within-cell deviations, so a
// treatment effect on the mean does not leak into theta), and x centred on the pooled mean of x
// (so the adjusted means stay comparable). `adjusted` is Welch on the adjusted metric;
// variance_reduction = 1 - (var_a'/n_a + var_b'/n_b) / (var_a/n_a + var_b/n_b), the share of
// the squared standard error removed. When the covariate has zero variance theta = 0 and
// the result equals plain Welch. Throws kInvalidArgument when y and x lengths differ per cell
// and in every case Welch throws.
struct CupedResult {
  double theta = 0;
  WelchResult adjusted;
  double variance_reduction = 0;
};
CupedResult Cuped(std::span<const double> y_a, std::span<const double> x_a,
                  std::span<const double> y_b, std::span<const double> x_b, double alpha = 0.05);

// Always-valid p-value of the mixture sequential probability ratio test (mSPRT, Johari, Pekelis
// and Walsh 2017, "Always valid inference") for the difference of two means under a normal
// approximation with a normal mixing distribution N(0, tau^2) over the effect.
//
// After n_a and n_b observations with difference of means d and estimated variance
// V = var_a/n_a + var_b/n_b of d, the mixture likelihood ratio is
//     Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))
// and the always-valid p-value is p_n = min(p_{n-1}, 1 / Lambda), starting at 1, so it never
// increases and P(ever p_n <= alpha) <= alpha under the null for any peeking schedule.
//
// tau^2 (the mixture variance) sets the effect size the test is most sensitive to. By default
// (Options::tau2 <= 0) it is chosen once from the data at the first Peek() with at least `min_n`
// observations per cell, as (tau2_relative_sd * sigma)^2 with sigma^2 the pooled per-observation
// variance, and then held fixed (a data-chosen but then frozen tau^2 keeps the guarantee up to the
// estimation error of sigma). A fixed tau^2 may be passed instead.
//
// Thread-safety: not synchronised; one writer at a time.
class SequentialTest {
 public:
  struct Options {
    // Mixture variance over the effect on the metric's scale. <= 0: chosen from the data as
    // tau2_relative_sd^2 * pooled per-observation variance at the first p-value evaluation
    // (then fixed), i.e. the test is tuned to effects of about tau2_relative_sd standard
    // deviations of the metric.
    double tau2 = 0.0;
    double tau2_relative_sd = 0.1;
    // No p-value below 1 until each cell has at least min_n observations (variance estimates
    // of tiny samples make the normal approximation invalid).
    uint64_t min_n = 10;
    // One-sample mode: only cell 0 is used and the null is "the mean of cell 0 is null_mean"
    // (e.g. interleaving preferences coded +1 / -1 against 0): d = mean - null_mean and
    // V = var / n in the formula above.
    bool one_sample = false;
    double null_mean = 0.0;
    // Re-choose tau^2 (as above, from tau2_relative_sd) at every look instead of fixing it at the
    // first: for metrics whose scale grows between looks (plays per member counted up to each
    // calendar look), where a tau^2 frozen at an early look, when few plays existed, would be far
    // too small for later looks and the test would never reject. The mixture is then over
    // effects of tau2_relative_sd standard deviations at every look (scale-free).
    bool rescale_tau2 = false;
  };

  SequentialTest();
  explicit SequentialTest(Options options);

  // Adds one observation (or, with AddBatch, a batch) to cell 0 (A) or 1 (B) and updates the
  // p-value. Throws kInvalidArgument for a cell other than 0/1 or a non-finite value.
  void Add(int cell, double value);
  void AddBatch(int cell, std::span<const double> values);
  // Updates the always-valid p-value from the current data ("peek"). Add/AddBatch do not peek
  // by themselves: call Peek() at every look (e.g. after every batch) and read p_value().
  // While a cell has fewer than min_n observations or the estimated variance of the difference
  // is 0 (no spread yet), the p-value stays where it is.
  double Peek();
  // A look at data summarised elsewhere: the p-value from these per-cell moments (cell b unused
  // in one-sample mode), under the same rules as Peek(). Analysis over logs uses it to look at
  // the experiment as it stood at past times, when members' metrics were still growing.
  double PeekAt(const Moments& a, const Moments& b);

  double p_value() const { return p_value_; }  // non-increasing over Peek() calls; starts at 1
  double tau2() const { return tau2_; }        // 0 until chosen
  Moments cell(int c) const { return cells_[c == 0 ? 0 : 1].Get(); }

 private:
  Options options_;
  MomentAccumulator cells_[2];
  double tau2_ = 0.0;
  double p_value_ = 1.0;
};

// One-shot mSPRT value min(1, 1/Lambda) (not the running minimum) for a difference d with
// estimated variance v of d and mixture variance tau2 > 0. v == 0 gives 1 when d == 0 and 0
// otherwise (a difference measured without noise). Throws kInvalidArgument when tau2 <= 0,
// v < 0 or a value is not finite.
double MsprtPValue(double d, double v, double tau2);
// Two-sample form: d = b.mean - a.mean, v = a.var/a.n + b.var/b.n. Throws kInvalidArgument when
// a cell has n < 2, and as above.
double MsprtPValue(const Moments& a, const Moments& b, double tau2);

// Exact two-sided binomial test of `successes` out of `n` against success probability p (the
// likelihood-ratio convention of R's binom.test and scipy.stats.binomtest: sum the probabilities
// of every outcome no more likely than the observed one, with a relative tolerance 1e-7), and the
// Clopper-Pearson exact 95% interval of the share. Throws kInvalidArgument when n == 0,
// successes > n or p is not in (0, 1).
struct BinomialResult {
  uint64_t successes = 0, n = 0;
  double share = 0, p_value = 1, ci_lo = 0, ci_hi = 1;
};
BinomialResult BinomialTest(uint64_t successes, uint64_t n, double p = 0.5);

// Distribution helpers (Boost.Math), exposed for the analysis code and tests.
double NormalCdf(double x);
double NormalQuantile(double p);                // p in (0, 1)
double StudentTCdf(double t, double df);        // df > 0
double StudentTQuantile(double p, double df);   // p in (0, 1), df > 0
double ChiSquareSurvival(double x, double df);  // P(X >= x), df > 0

}  // namespace marquee
