#include "experiments/stats.h"

#include <algorithm>
#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>

#include "marquee/error.h"

namespace marquee {
namespace {

namespace bm = boost::math;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void CheckAlpha(double alpha) {
  if (!(alpha > 0.0 && alpha < 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "alpha must be in (0, 1), got {}", alpha);
  }
}

void CheckFinite(std::span<const double> x, const char* what) {
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      Fail(ErrorCode::kInvalidArgument, "{}: value {} at index {} is not finite", what, x[i], i);
    }
  }
}

void CheckMoments(const Moments& m, const char* cell) {
  if (m.n < 2) {
    Fail(ErrorCode::kInvalidArgument, "cell {} has {} observation(s); at least 2 are needed", cell,
         m.n);
  }
  if (!std::isfinite(m.mean) || !std::isfinite(m.var) || m.var < 0.0) {
    Fail(ErrorCode::kInvalidArgument, "cell {} has a non-finite mean or invalid variance", cell);
  }
}

}  // namespace

double NormalCdf(double x) { return bm::cdf(bm::normal_distribution<double>(0.0, 1.0), x); }

double NormalQuantile(double p) {
  if (!(p > 0.0 && p < 1.0)) Fail(ErrorCode::kInvalidArgument, "quantile p={} not in (0, 1)", p);
  return bm::quantile(bm::normal_distribution<double>(0.0, 1.0), p);
}

double StudentTCdf(double t, double df) {
  if (!(df > 0.0)) Fail(ErrorCode::kInvalidArgument, "degrees of freedom {} must be > 0", df);
  return bm::cdf(bm::students_t_distribution<double>(df), t);
}

double StudentTQuantile(double p, double df) {
  if (!(p > 0.0 && p < 1.0)) Fail(ErrorCode::kInvalidArgument, "quantile p={} not in (0, 1)", p);
  if (!(df > 0.0)) Fail(ErrorCode::kInvalidArgument, "degrees of freedom {} must be > 0", df);
  return bm::quantile(bm::students_t_distribution<double>(df), p);
}

double ChiSquareSurvival(double x, double df) {
  if (!(df > 0.0)) Fail(ErrorCode::kInvalidArgument, "degrees of freedom {} must be > 0", df);
  if (x <= 0.0) return 1.0;
  return bm::cdf(bm::complement(bm::chi_squared_distribution<double>(df), x));
}

Moments ComputeMoments(std::span<const double> x) {
  Moments m;
  m.n = x.size();
  if (x.empty()) return m;
  double sum = 0.0;
  for (double v : x) sum += v;
  m.mean = sum / static_cast<double>(x.size());
  if (x.size() < 2) return m;
  double ss = 0.0, comp = 0.0;
  for (double v : x) {
    const double d = v - m.mean;
    ss += d * d;
    comp += d;
  }
  // Corrected two-pass algorithm (Chan, Golub, LeVeque): removes the rounding error of the mean.
  ss -= comp * comp / static_cast<double>(x.size());
  m.var = std::max(0.0, ss / static_cast<double>(x.size() - 1));
  return m;
}

void MomentAccumulator::Add(double x) {
  ++n_;
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (x - mean_);
}

void MomentAccumulator::Merge(const MomentAccumulator& o) {
  if (o.n_ == 0) return;
  if (n_ == 0) {
    *this = o;
    return;
  }
  const double n = static_cast<double>(n_ + o.n_);
  const double delta = o.mean_ - mean_;
  mean_ += delta * static_cast<double>(o.n_) / n;
  m2_ += o.m2_ + delta * delta * static_cast<double>(n_) * static_cast<double>(o.n_) / n;
  n_ += o.n_;
}

Moments MomentAccumulator::Get() const {
  Moments m;
  m.n = n_;
  m.mean = mean_;
  m.var = n_ < 2 ? 0.0 : std::max(0.0, m2_ / static_cast<double>(n_ - 1));
  return m;
}

WelchResult Welch(const Moments& a, const Moments& b, double alpha) {
  CheckAlpha(alpha);
  CheckMoments(a, "A");
  CheckMoments(b, "B");
  WelchResult r;
  r.mean_a = a.mean;
  r.mean_b = b.mean;
  r.var_a = a.var;
  r.var_b = b.var;
  r.n_a = a.n;
  r.n_b = b.n;
  const double na = static_cast<double>(a.n), nb = static_cast<double>(b.n);
  const double sa = a.var / na, sb = b.var / nb;
  const double se2 = sa + sb;
  if (!(se2 > 0.0)) {
    Fail(ErrorCode::kInvalidArgument,
         "both cells have zero variance (every value equal within each cell); the t-test is "
         "undefined");
  }
  const double se = std::sqrt(se2);
  r.diff = b.mean - a.mean;
  r.df = se2 * se2 / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
  r.t = r.diff / se;
  const bm::students_t_distribution<double> t_dist(r.df);
  r.p_value = std::min(1.0, 2.0 * bm::cdf(bm::complement(t_dist, std::fabs(r.t))));
  const double q = bm::quantile(bm::complement(t_dist, alpha / 2.0));
  r.diff_ci_lo = r.diff - q * se;
  r.diff_ci_hi = r.diff + q * se;
  if (a.mean == 0.0) {
    r.rel_lift = r.rel_ci_lo = r.rel_ci_hi = kNaN;
  } else {
    r.rel_lift = r.diff / a.mean;
    const double ma2 = a.mean * a.mean;
    const double v = sb / ma2 + b.mean * b.mean * sa / (ma2 * ma2);
    const double z = NormalQuantile(1.0 - alpha / 2.0);
    r.rel_ci_lo = r.rel_lift - z * std::sqrt(v);
    r.rel_ci_hi = r.rel_lift + z * std::sqrt(v);
  }
  return r;
}

WelchResult Welch(std::span<const double> a, std::span<const double> b, double alpha) {
  CheckFinite(a, "cell A");
  CheckFinite(b, "cell B");
  return Welch(ComputeMoments(a), ComputeMoments(b), alpha);
}

ChiSquareResult SampleRatioMismatch(std::span<const uint64_t> observed,
                                    std::span<const double> weights) {
  if (observed.size() != weights.size()) {
    Fail(ErrorCode::kInvalidArgument, "{} observed counts but {} weights", observed.size(),
         weights.size());
  }
  if (observed.size() < 2) {
    Fail(ErrorCode::kInvalidArgument, "a sample-ratio test needs at least 2 cells, got {}",
         observed.size());
  }
  double wsum = 0.0, total = 0.0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!(weights[i] > 0.0) || !std::isfinite(weights[i])) {
      Fail(ErrorCode::kInvalidArgument, "weight {} of cell {} must be positive and finite",
           weights[i], i);
    }
    wsum += weights[i];
    total += static_cast<double>(observed[i]);
  }
  if (total == 0.0) Fail(ErrorCode::kInvalidArgument, "no observations in any cell");
  ChiSquareResult r;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double expected = total * weights[i] / wsum;
    const double d = static_cast<double>(observed[i]) - expected;
    r.statistic += d * d / expected;
  }
  r.df = static_cast<double>(observed.size() - 1);
  r.p_value = ChiSquareSurvival(r.statistic, r.df);
  return r;
}

CupedResult Cuped(std::span<const double> y_a, std::span<const double> x_a,
                  std::span<const double> y_b, std::span<const double> x_b, double alpha) {
  if (y_a.size() != x_a.size() || y_b.size() != x_b.size()) {
    Fail(ErrorCode::kInvalidArgument,
         "CUPED needs one covariate per observation: cell A {} metric vs {} covariate values, "
         "cell B {} vs {}",
         y_a.size(), x_a.size(), y_b.size(), x_b.size());
  }
  CheckFinite(x_a, "covariate of cell A");
  CheckFinite(x_b, "covariate of cell B");
  CupedResult r;
  const WelchResult plain = Welch(y_a, y_b, alpha);  // validates y and n
  const Moments mxa = ComputeMoments(x_a), mxb = ComputeMoments(x_b);
  const Moments mya = ComputeMoments(y_a), myb = ComputeMoments(y_b);
  double sxy = 0.0, sxx = 0.0;
  for (size_t i = 0; i < y_a.size(); ++i) {
    sxy += (x_a[i] - mxa.mean) * (y_a[i] - mya.mean);
    sxx += (x_a[i] - mxa.mean) * (x_a[i] - mxa.mean);
  }
  for (size_t i = 0; i < y_b.size(); ++i) {
    sxy += (x_b[i] - mxb.mean) * (y_b[i] - myb.mean);
    sxx += (x_b[i] - mxb.mean) * (x_b[i] - mxb.mean);
  }
  r.theta = sxx > 0.0 ? sxy / sxx : 0.0;
  const double nx = static_cast<double>(x_a.size() + x_b.size());
  const double x_mean =
      (mxa.mean * static_cast<double>(x_a.size()) + mxb.mean * static_cast<double>(x_b.size())) /
      nx;
  std::vector<double> adj_a(y_a.size()), adj_b(y_b.size());
  for (size_t i = 0; i < y_a.size(); ++i) adj_a[i] = y_a[i] - r.theta * (x_a[i] - x_mean);
  for (size_t i = 0; i < y_b.size(); ++i) adj_b[i] = y_b[i] - r.theta * (x_b[i] - x_mean);
  const Moments ma = ComputeMoments(adj_a), mb = ComputeMoments(adj_b);
  if (ma.var + mb.var == 0.0) {
    // The covariate explains the metric exactly: report the unadjusted test rather than a
    // division by zero, with the full reduction recorded.
    r.adjusted = plain;
    r.variance_reduction = 1.0;
    return r;
  }
  r.adjusted = Welch(ma, mb, alpha);
  const double before =
      plain.var_a / static_cast<double>(plain.n_a) + plain.var_b / static_cast<double>(plain.n_b);
  const double after = ma.var / static_cast<double>(ma.n) + mb.var / static_cast<double>(mb.n);
  r.variance_reduction = 1.0 - after / before;
  return r;
}

double MsprtPValue(double d, double v, double tau2) {
  if (!(tau2 > 0.0) || !std::isfinite(tau2)) {
    Fail(ErrorCode::kInvalidArgument, "mixture variance tau^2 must be positive, got {}", tau2);
  }
  if (!std::isfinite(d) || !std::isfinite(v) || v < 0.0) {
    Fail(ErrorCode::kInvalidArgument, "mSPRT needs a finite difference and variance >= 0");
  }
  if (v == 0.0) return d == 0.0 ? 1.0 : 0.0;
  const double log_lambda = 0.5 * std::log(v / (v + tau2)) + tau2 * d * d / (2.0 * v * (v + tau2));
  if (log_lambda <= 0.0) return 1.0;
  return std::exp(-log_lambda);
}

double MsprtPValue(const Moments& a, const Moments& b, double tau2) {
  CheckMoments(a, "A");
  CheckMoments(b, "B");
  return MsprtPValue(b.mean - a.mean,
                     a.var / static_cast<double>(a.n) + b.var / static_cast<double>(b.n), tau2);
}

SequentialTest::SequentialTest() : SequentialTest(Options{}) {}

SequentialTest::SequentialTest(Options options) : options_(options) {
  if (options_.min_n < 2) options_.min_n = 2;
  if (options_.tau2 > 0.0) tau2_ = options_.tau2;
  if (options_.tau2 <= 0.0 && !(options_.tau2_relative_sd > 0.0)) {
    Fail(ErrorCode::kInvalidArgument, "tau2_relative_sd must be positive, got {}",
         options_.tau2_relative_sd);
  }
}

void SequentialTest::Add(int cell, double value) {
  if (cell != 0 && cell != 1) Fail(ErrorCode::kInvalidArgument, "cell {} is not 0 or 1", cell);
  if (options_.one_sample && cell != 0) {
    Fail(ErrorCode::kInvalidArgument, "a one-sample sequential test has only cell 0");
  }
  if (!std::isfinite(value)) Fail(ErrorCode::kInvalidArgument, "value {} is not finite", value);
  cells_[cell].Add(value);
}

void SequentialTest::AddBatch(int cell, std::span<const double> values) {
  for (double v : values) Add(cell, v);
}

double SequentialTest::Peek() { return PeekAt(cells_[0].Get(), cells_[1].Get()); }

double SequentialTest::PeekAt(const Moments& a, const Moments& b) {
  double d = 0.0, v = 0.0, pooled = 0.0;
  if (options_.one_sample) {
    if (a.n < options_.min_n) return p_value_;
    d = a.mean - options_.null_mean;
    v = a.var / static_cast<double>(a.n);
    pooled = a.var;
  } else {
    if (a.n < options_.min_n || b.n < options_.min_n) return p_value_;
    d = b.mean - a.mean;
    v = a.var / static_cast<double>(a.n) + b.var / static_cast<double>(b.n);
    pooled = (a.var * static_cast<double>(a.n - 1) + b.var * static_cast<double>(b.n - 1)) /
             static_cast<double>(a.n + b.n - 2);
  }
  // No spread yet (e.g. the first ten preferences all +1): the normal approximation has nothing
  // to go on, so the p-value does not move until the data vary.
  if (!(v > 0.0)) return p_value_;
  if (tau2_ == 0.0 || (options_.rescale_tau2 && options_.tau2 <= 0.0)) {
    tau2_ = options_.tau2_relative_sd * options_.tau2_relative_sd * pooled;
  }
  p_value_ = std::min(p_value_, MsprtPValue(d, v, tau2_));
  return p_value_;
}

BinomialResult BinomialTest(uint64_t successes, uint64_t n, double p) {
  if (n == 0) Fail(ErrorCode::kInvalidArgument, "binomial test needs n > 0");
  if (successes > n) {
    Fail(ErrorCode::kInvalidArgument, "successes {} exceed trials {}", successes, n);
  }
  if (!(p > 0.0 && p < 1.0)) Fail(ErrorCode::kInvalidArgument, "p={} must be in (0, 1)", p);
  BinomialResult r;
  r.successes = successes;
  r.n = n;
  const double nn = static_cast<double>(n), k = static_cast<double>(successes);
  r.share = k / nn;
  const bm::binomial_distribution<double> dist(nn, p);
  const double d = bm::pdf(dist, k) * (1.0 + 1e-7);
  const double mean = p * nn;
  if (k == mean) {
    r.p_value = 1.0;
  } else if (k < mean) {
    // Upper tail: the smallest j >= ceil(np) with pmf(j) <= d (pmf decreases there).
    uint64_t lo = static_cast<uint64_t>(std::ceil(mean)), hi = n + 1;  // answer in [lo, hi]
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      if (bm::pdf(dist, static_cast<double>(mid)) <= d) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    const double upper =
        lo > n ? 0.0 : bm::cdf(bm::complement(dist, static_cast<double>(lo) - 1.0));
    r.p_value = bm::cdf(dist, k) + upper;
  } else {
    // Lower tail: the largest j <= floor(np) with pmf(j) <= d (pmf increases there).
    int64_t lo = -1, hi = static_cast<int64_t>(std::floor(mean));  // answer in [lo, hi]
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo + 1) / 2;
      if (bm::pdf(dist, static_cast<double>(mid)) <= d) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    const double lower = lo < 0 ? 0.0 : bm::cdf(dist, static_cast<double>(lo));
    r.p_value = lower + bm::cdf(bm::complement(dist, k - 1.0));
  }
  r.p_value = std::min(1.0, r.p_value);
  // Clopper-Pearson exact 95% interval from beta quantiles.
  const double alpha = 0.05;
  r.ci_lo = successes == 0
                ? 0.0
                : bm::quantile(bm::beta_distribution<double>(k, nn - k + 1.0), alpha / 2.0);
  r.ci_hi = successes == n
                ? 1.0
                : bm::quantile(bm::beta_distribution<double>(k + 1.0, nn - k), 1.0 - alpha / 2.0);
  return r;
}

}  // namespace marquee
