#include "tune/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace marquee {
namespace {

// A generator whose outputs are specified (std::mt19937_64 is; the <random> distributions are
// not, so uniform and normal draws are computed here).
class Rng {
 public:
  // The stream of one (seed, trial, parameter): std::seed_seq's mixing is specified.
  Rng(uint64_t seed, int trial, size_t param) {
    std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                      static_cast<uint32_t>(trial), static_cast<uint32_t>(param)};
    g_.seed(seq);
  }
  double Uniform() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal() {
    double u1 = Uniform();
    while (u1 <= 0) u1 = Uniform();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  size_t Below(size_t n) { return std::min(n - 1, static_cast<size_t>(Uniform() * n)); }

 private:
  std::mt19937_64 g_;
};

bool IsLog(const ParamSpec& p) {
  return p.type == ParamSpec::Type::kLogUniform || (p.type == ParamSpec::Type::kInt && p.log);
}

// The numeric parameter's internal scale: log for log scales. Ints widen by half a step so
// each integer gets an equal share.
std::pair<double, double> Range(const ParamSpec& p) {
  double lo = p.low, hi = p.high;
  if (p.type == ParamSpec::Type::kInt) {
    lo -= 0.5;
    hi += 0.5;
    if (p.log) lo = std::max(lo, p.low * 0.5);
  }
  if (IsLog(p)) return {std::log(lo), std::log(hi)};
  return {lo, hi};
}

double ToInternal(const ParamSpec& p, double v) { return IsLog(p) ? std::log(v) : v; }

nlohmann::json FromInternal(const ParamSpec& p, double x) {
  double v = IsLog(p) ? std::exp(x) : x;
  if (p.type == ParamSpec::Type::kInt) {
    return static_cast<int64_t>(std::clamp(std::round(v), p.low, p.high));
  }
  return std::clamp(v, p.low, p.high);
}

nlohmann::json RandomValue(const ParamSpec& p, Rng& rng) {
  if (p.type == ParamSpec::Type::kChoice) return p.values[rng.Below(p.values.size())];
  const auto [lo, hi] = Range(p);
  return FromInternal(p, lo + (hi - lo) * rng.Uniform());
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// A Parzen estimator over [lo, hi]: one truncated Gaussian per observation plus a prior
// component (centred, sigma = the range), equal weights, bandwidths by Bergstra's rule (the
// larger distance to a neighbour, clipped to [range / min(100, n + 1), range]).
struct Parzen {
  std::vector<double> mu, sigma;
  double lo = 0, hi = 1;

  Parzen(std::vector<double> points, double l, double h) : lo(l), hi(h) {
    const double range = hi - lo;
    points.push_back(0.5 * (lo + hi));  // the prior
    std::vector<size_t> order(points.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return points[a] < points[b] || (points[a] == points[b] && a < b);
    });
    const double min_bw = range / std::min<double>(100.0, static_cast<double>(points.size()) + 1);
    mu = points;
    sigma.assign(points.size(), range);
    for (size_t r = 0; r < order.size(); ++r) {
      const size_t i = order[r];
      if (i + 1 == points.size()) continue;  // the prior keeps sigma = range
      const double left = r > 0 ? points[i] - points[order[r - 1]] : points[i] - lo;
      const double right = r + 1 < order.size() ? points[order[r + 1]] - points[i] : hi - points[i];
      sigma[i] = std::clamp(std::max(left, right), min_bw, range);
    }
  }

  double Pdf(double x) const {
    double s = 0;
    for (size_t i = 0; i < mu.size(); ++i) {
      const double mass = NormalCdf((hi - mu[i]) / sigma[i]) - NormalCdf((lo - mu[i]) / sigma[i]);
      const double z = (x - mu[i]) / sigma[i];
      s += std::exp(-0.5 * z * z) / (sigma[i] * std::sqrt(2 * M_PI) * std::max(mass, 1e-12));
    }
    return s / static_cast<double>(mu.size());
  }

  double Sample(Rng& rng) const {
    const size_t i = rng.Below(mu.size());
    for (int tries = 0; tries < 100; ++tries) {
      const double x = mu[i] + sigma[i] * rng.Normal();
      if (x >= lo && x <= hi) return x;
    }
    return std::clamp(mu[i], lo, hi);
  }
};

nlohmann::json TpeNumeric(const ParamSpec& p, const std::vector<const Observation*>& good,
                          const std::vector<const Observation*>& bad, const SamplerOptions& o,
                          Rng& rng) {
  // Named copies, not a structured binding: clang 14 (the fuzz build) cannot capture structured
  // bindings in the lambda below.
  const auto range = Range(p);
  const double lo = range.first, hi = range.second;
  auto points = [&](const std::vector<const Observation*>& group) {
    std::vector<double> xs;
    for (const Observation* ob : group) {
      if (ob->params.contains(p.name) && ob->params[p.name].is_number()) {
        xs.push_back(std::clamp(ToInternal(p, ob->params[p.name].get<double>()), lo, hi));
      }
    }
    return xs;
  };
  const Parzen l(points(good), lo, hi), g(points(bad), lo, hi);
  double best_x = l.Sample(rng), best = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < o.candidates; ++c) {
    const double x = c == 0 ? best_x : l.Sample(rng);
    const double ratio = std::log(l.Pdf(x) + 1e-300) - std::log(g.Pdf(x) + 1e-300);
    if (ratio > best) {
      best = ratio;
      best_x = x;
    }
  }
  return FromInternal(p, best_x);
}

nlohmann::json TpeChoice(const ParamSpec& p, const std::vector<const Observation*>& good,
                         const std::vector<const Observation*>& bad, const SamplerOptions& o,
                         Rng& rng) {
  const size_t n = p.values.size();
  auto weights = [&](const std::vector<const Observation*>& group) {
    std::vector<double> w(n, 1.0);  // prior: one pseudo-count per value
    for (const Observation* ob : group) {
      for (size_t k = 0; k < n; ++k) {
        if (ob->params.contains(p.name) && ob->params[p.name] == p.values[k]) w[k] += 1;
      }
    }
    const double sum = std::accumulate(w.begin(), w.end(), 0.0);
    for (double& x : w) x /= sum;
    return w;
  };
  const std::vector<double> l = weights(good), g = weights(bad);
  size_t best_k = 0;
  double best = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < o.candidates; ++c) {
    double u = rng.Uniform(), acc = 0;
    size_t k = n - 1;
    for (size_t i = 0; i < n; ++i) {
      acc += l[i];
      if (u < acc) {
        k = i;
        break;
      }
    }
    const double ratio = std::log(l[k]) - std::log(g[k]);
    if (ratio > best) {
      best = ratio;
      best_k = k;
    }
  }
  return p.values[best_k];
}

}  // namespace

nlohmann::json SampleParams(const SearchSpace& space, const SamplerOptions& options, uint64_t seed,
                            int trial, const std::vector<Observation>& observed) {
  nlohmann::json out = nlohmann::json::object();
  const bool tpe = options.kind == SamplerOptions::Kind::kTpe &&
                   static_cast<int>(observed.size()) >= std::max(2, options.startup_trials);
  std::vector<const Observation*> good, bad;
  if (tpe) {
    std::vector<const Observation*> ranked;
    for (const auto& o : observed) {
      if (o.pruned) {
        bad.push_back(&o);
      } else {
        ranked.push_back(&o);
      }
    }
    // Best first; ties keep trial order (stable), so the split is deterministic.
    std::stable_sort(ranked.begin(), ranked.end(), [](const Observation* a, const Observation* b) {
      return a->score > b->score;
    });
    const size_t n_good = std::min<size_t>(
        {ranked.size(), 25,
         std::max<size_t>(1, static_cast<size_t>(std::ceil(
                                 options.gamma * static_cast<double>(observed.size()))))});
    if (n_good == 0) {  // every observation was pruned: nothing to model yet
      return SampleParams(space, {.kind = SamplerOptions::Kind::kRandom}, seed, trial, observed);
    }
    good.assign(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(n_good));
    bad.insert(bad.end(), ranked.begin() + static_cast<ptrdiff_t>(n_good), ranked.end());
  }
  for (size_t k = 0; k < space.params.size(); ++k) {
    const ParamSpec& p = space.params[k];
    Rng rng(seed, trial, k);
    if (!tpe) {
      out[p.name] = RandomValue(p, rng);
    } else if (p.type == ParamSpec::Type::kChoice) {
      out[p.name] = TpeChoice(p, good, bad, options, rng);
    } else {
      out[p.name] = TpeNumeric(p, good, bad, options, rng);
    }
  }
  return out;
}

}  // namespace marquee
