// The cb-adf family (and epsilon-greedy / softmax with model = "online"): contextual bandits
// reduced to online regression, as Vowpal Wabbit's --cb_explore_adf does.
//
// Features of a (context, action) pair, hashed into 2^bits weights (features.h's keys, the slot
// being key & (2^bits - 1)): the bias, the context features, the action's features and its id,
// and every context x action cross (VW's -q ca; its key is CrossKey below, a multiply-xorshift
// mix of the two keys, cheaper than features.h's XXH64 of the pair), as FeatureSpec's flags say
// (its dim is not used). One OnlineLinear (online_linear.h) per learner estimates the reward of a
// pair.
//
// Reductions (cb_type), for a logged (context, actions, chosen c, reward r, propensity p):
//   mtr  importance-weighted regression on the chosen action only: label r, weight
//        (1/p) * (rows / sum of the rows' action counts), as VW's MTR (the second factor keeps
//        the average weight near 1 under uniform logging)
//   ips  regression on every action toward the IPS estimate: r/p for c, 0 for the others
//   dr   regression on every action toward the doubly robust estimate with the learner's own
//        prediction q(a) (before this row) as baseline: q(a) + (r - q(c))/p for c, q(a) else
// Exploration (explore) over the estimated rewards s(a):
//   epsilon   (1 - epsilon) on the best (ties share) + epsilon uniformly
//   softmax   p(a) proportional to exp((s(a) - max s) / temperature)
//   bag       `bag` learners, each learning every row with a Poisson(1) importance weight (the
//             online bootstrap; the draw is a hash of seed, learner and row count, so it needs no
//             generator state): p(a) = the share of learners whose best action is a, then mixed
//             with epsilon uniformly
//   squarecb  SquareCB (Foster & Rakhlin 2020, "Beyond UCB"): with b the best action and
//             gamma = gamma_scale * n^gamma_exponent (n = rows learned + 1),
//             p(a) = 1 / (K + gamma (s(b) - s(a))) for a != b, p(b) = the rest
// Learning from a log trains bagging learners on parallel threads (each reads every row), so
// the weights depend on the seed only, not on the thread count.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bandits/features.h"
#include "bandits/online_linear.h"
#include "bandits/policy_util.h"
#include "common/thread_pool.h"
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee::policy_internal {
namespace {

constexpr uint32_t kCbAdfStateVersion = 1;

enum class CbType { kMtr, kIps, kDr };
enum class Explore { kEpsilon, kSoftmax, kBag, kSquareCb };

struct CbAdfSettings {
  CbType cb_type = CbType::kMtr;
  Explore explore = Explore::kEpsilon;
  double epsilon = 0.05, temperature = 0.1, gamma_scale = 10, gamma_exponent = 0.5;
  int bag = 1;
  int bits = 18;
  double learning_rate = 0.5;
  FeatureSpec spec;
};

// The key of a context x action cross: stable across platforms and releases (saved weights
// depend on it).
inline uint64_t CrossKey(uint64_t c, uint64_t a) {
  uint64_t h = c ^ (a * 0x9e3779b97f4a7c15ULL);
  h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Poisson(1) by inversion of a uniform from (seed, learner, row): 0, 1, 2, ... (capped at 20).
int PoissonOne(uint64_t seed, uint64_t learner, uint64_t row) {
  const uint64_t h = SplitMix(SplitMix(seed ^ (learner * 0xd1b54a32d192ed03ULL)) ^ row);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  double p = std::exp(-1.0), cdf = p;
  int k = 0;
  while (u > cdf && k < 20) {
    ++k;
    p /= k;
    cdf += p;
  }
  return k;
}

struct Learner {
  OnlineLinear model;
  uint64_t rows = 0;      // rows learned (every row counts, whatever its bootstrap weight)
  double action_sum = 0;  // sum of the rows' action counts (MTR's weight normaliser)
};

class CbAdfPolicy final : public PolicyBase {
 public:
  CbAdfPolicy(PolicyConfig c, CbAdfSettings s) : PolicyBase(std::move(c)), s_(std::move(s)) {
    for (int m = 0; m < s_.bag; ++m) {
      learners_.push_back({OnlineLinear(s_.bits, s_.learning_rate), 0, 0.0});
    }
  }

  std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64&) const override {
    CheckActions(in);
    const size_t k = in.actions.size();
    thread_local std::vector<double> s;
    if (s_.explore == Explore::kBag) {
      std::vector<double> p(k, 0.0);
      for (const Learner& l : learners_) {
        Scores(l.model, in, &s);
        const std::vector<double> v = ArgmaxDistribution(s);
        for (size_t a = 0; a < k; ++a) p[a] += v[a] / static_cast<double>(learners_.size());
      }
      MixUniform(p, s_.epsilon);
      return p;
    }
    Scores(learners_[0].model, in, &s);
    if (s_.explore == Explore::kEpsilon) {
      std::vector<double> p = ArgmaxDistribution(s);
      MixUniform(p, s_.epsilon);
      return p;
    }
    std::vector<double> p(k);
    const double mx = *std::max_element(s.begin(), s.end());
    if (s_.explore == Explore::kSoftmax) {
      double z = 0;
      for (size_t a = 0; a < k; ++a) z += p[a] = std::exp((s[a] - mx) / s_.temperature);
      for (double& x : p) x /= z;
      return p;
    }
    // SquareCB: inverse gap weighting.
    const size_t best = static_cast<size_t>(std::max_element(s.begin(), s.end()) - s.begin());
    const double gamma =
        s_.gamma_scale * std::pow(static_cast<double>(learners_[0].rows + 1), s_.gamma_exponent);
    double rest = 1.0;
    for (size_t a = 0; a < k; ++a) {
      if (a == best) continue;
      p[a] = 1.0 / (static_cast<double>(k) + gamma * (mx - s[a]));
      rest -= p[a];
    }
    p[best] = std::max(0.0, rest);
    return p;
  }

  void Update(const KeyedInput& in, size_t chosen, double reward, double propensity) override {
    CheckUpdate(in, chosen, reward, propensity);
    for (size_t m = 0; m < learners_.size(); ++m) LearnRow(m, in, chosen, reward, propensity);
  }

  void Learn(size_t n, int passes, const RowSource& row, int threads,
             const std::function<void(size_t)>& progress) override {
    if (learners_.size() < 2 || threads < 2) {
      Policy::Learn(n, passes, row, threads, progress);
      return;
    }
    // Each learner reads every row on its own thread: the same updates in the same order as
    // serial learning, so the result does not depend on the thread count.
    ParallelFor(learners_.size(), std::min<int>(threads, static_cast<int>(learners_.size())),
                [&](size_t begin, size_t end, int) {
                  KeyedScratch scratch;
                  for (int pass = 0; pass < passes; ++pass) {
                    for (size_t i = 0; i < n; ++i) {
                      const LoggedRow r = row(i, &scratch);
                      CheckUpdate(*r.input, r.chosen, r.reward, r.propensity);
                      for (size_t m = begin; m < end; ++m) {
                        LearnRow(m, *r.input, r.chosen, r.reward, r.propensity);
                      }
                    }
                  }
                });
    if (progress) progress(n * static_cast<size_t>(passes));
  }

  std::unique_ptr<Policy> Clone() const override { return std::make_unique<CbAdfPolicy>(*this); }

  void SaveState(ArtifactWriter& w, std::vector<double>& store) const override {
    nlohmann::json rows = nlohmann::json::array(), sums = nlohmann::json::array();
    store.clear();
    for (const Learner& l : learners_) {
      rows.push_back(l.rows);
      const std::vector<double> g = l.model.globals();
      store.insert(store.end(), g.begin(), g.end());
      store.push_back(l.action_sum);
    }
    w.header()["model"] = {{"learner", "online-linear"},
                           {"state_version", kCbAdfStateVersion},
                           {"learners", learners_.size()},
                           {"bits", s_.bits},
                           {"rows", rows}};
    w.Add<double>("sums", std::span<const double>(store), {learners_.size(), 5});
    for (size_t m = 0; m < learners_.size(); ++m) {
      w.Add<float>(fmt::format("slots.{}", m), std::span<const float>(learners_[m].model.slots()));
    }
  }

  void LoadState(const ArtifactReader& r, const std::string& path) override {
    const nlohmann::json& h = r.header().at("model");
    const uint32_t v = h.at("state_version").get<uint32_t>();
    if (v > kCbAdfStateVersion) {
      Fail(ErrorCode::kUnimplemented, "'{}': cb-adf state version {} is newer than this build ({})",
           path, v, kCbAdfStateVersion);
    }
    if (h.at("learners").get<size_t>() != learners_.size() || h.at("bits").get<int>() != s_.bits) {
      Fail(ErrorCode::kCorruption, "'{}': the learner state does not match its params", path);
    }
    const auto rows = h.at("rows").get<std::vector<uint64_t>>();
    const auto sums = r.Get<double>("sums");
    if (rows.size() != learners_.size() || sums.size() != 5 * learners_.size()) {
      Fail(ErrorCode::kCorruption, "'{}': {} row counts and {} sums for {} learners", path,
           rows.size(), sums.size(), learners_.size());
    }
    for (size_t m = 0; m < learners_.size(); ++m) {
      Learner& l = learners_[m];
      const std::string where = fmt::format("'{}' learner {}", path, m);
      l.model.Restore(r.Get<float>(fmt::format("slots.{}", m)), sums.subspan(5 * m, 4), where);
      l.action_sum = sums[5 * m + 4];
      if (!(l.action_sum >= 0 && std::isfinite(l.action_sum))) {
        Fail(ErrorCode::kCorruption, "{}: action count sum is {}", where, l.action_sum);
      }
      l.rows = rows[m];
    }
  }

 private:
  // The hashed features of (context, action a); the context part first.
  void Features(const KeyedInput& in, size_t a, std::vector<SparseFeature>* out) const {
    const uint32_t mask = learners_[0].model.mask();
    const FeatureSpec& f = s_.spec;
    out->clear();
    auto add = [&](uint64_t key, double v) {
      out->push_back({static_cast<uint32_t>(key & mask), static_cast<float>(v)});
    };
    if (f.bias) add(BiasFeatureKey(), 1.0);
    if (f.context) {
      for (const auto& c : in.context) add(c.key, c.value);
    }
    const KeyedAction& act = in.actions[a];
    if (f.action) {
      for (const auto& x : act.features) add(x.key, x.value);
      if (f.action_id) add(act.id_key, 1.0);
    }
    if (f.cross) {
      for (const auto& c : in.context) {
        for (const auto& x : act.features) add(CrossKey(c.key, x.key), c.value * x.value);
        if (f.action_id) add(CrossKey(c.key, act.id_key), c.value);
      }
    }
  }

  void Scores(const OnlineLinear& model, const KeyedInput& in, std::vector<double>* s) const {
    thread_local std::vector<SparseFeature> x;
    s->resize(in.actions.size());
    for (size_t a = 0; a < in.actions.size(); ++a) {
      Features(in, a, &x);
      (*s)[a] = model.Predict(x);
    }
  }

  void LearnRow(size_t m, const KeyedInput& in, size_t chosen, double reward, double p) {
    Learner& l = learners_[m];
    const uint64_t row = l.rows++;
    l.action_sum += static_cast<double>(in.actions.size());
    double w = 1.0;
    if (s_.explore == Explore::kBag) {
      w = PoissonOne(config_.seed, m, row);
      if (w == 0) return;
    }
    thread_local std::vector<SparseFeature> x;
    if (s_.cb_type == CbType::kMtr) {
      Features(in, chosen, &x);
      const double norm = static_cast<double>(l.rows) / l.action_sum;
      l.model.Update(x, reward, w * norm / p);
      return;
    }
    thread_local std::vector<double> q;
    q.assign(in.actions.size(), 0.0);
    if (s_.cb_type == CbType::kDr) Scores(l.model, in, &q);
    for (size_t a = 0; a < in.actions.size(); ++a) {
      const double label = a == chosen ? q[a] + (reward - q[a]) / p : q[a];
      Features(in, a, &x);
      l.model.Update(x, label, w);
    }
  }

  CbAdfSettings s_;
  std::vector<Learner> learners_;
};

}  // namespace

std::unique_ptr<Policy> NewCbAdfPolicy(PolicyConfig c, Params& ps, const std::string& fixed) {
  CbAdfSettings s;
  s.spec = FeatureSpec::FromJson(c.features);
  const std::string cb = ps.Choice("cb_type", "mtr", {"mtr", "ips", "dr"});
  s.cb_type = cb == "ips" ? CbType::kIps : cb == "dr" ? CbType::kDr : CbType::kMtr;
  const std::string ex =
      fixed.empty() ? ps.Choice("explore", "epsilon", {"epsilon", "softmax", "bag", "squarecb"})
                    : fixed;
  s.explore = ex == "softmax"    ? Explore::kSoftmax
              : ex == "bag"      ? Explore::kBag
              : ex == "squarecb" ? Explore::kSquareCb
                                 : Explore::kEpsilon;
  // Defaults of the online learner (cb-adf, and epsilon-greedy / softmax with model = "online"),
  // chosen on bench_bandit_vw data of seed 7 (the benchmark's is seed 1; docs/formats/bandit.md,
  // "Defaults"): epsilon 0.05, VW's own default for --cb_explore_adf (0.1, the ridge models'
  // epsilon, lost 0.011 of value to exploration there); temperature 0.02 (the estimates are
  // click probabilities: 0.1 spread the choice over actions 0.1 apart and lost 0.07 of value,
  // 0.02 stays within 0.005 of greedy while every action keeps some probability).
  if (s.explore == Explore::kEpsilon || s.explore == Explore::kBag) {
    s.epsilon = ps.Number("epsilon", 0.05, 0.0, 1.0);
  }
  if (s.explore == Explore::kSoftmax) s.temperature = ps.Number("temperature", 0.02, 1e-9, 1e9);
  if (s.explore == Explore::kBag) s.bag = static_cast<int>(ps.Integer("bag", 5, 2, 256));
  if (s.explore == Explore::kSquareCb) {
    s.gamma_scale = ps.Number("gamma_scale", 10.0, 0.0, 1e12);
    s.gamma_exponent = ps.Number("gamma_exponent", 0.5, 0.0, 10.0);
  }
  s.bits = static_cast<int>(ps.Integer("bits", 18, 1, 24));
  if (static_cast<uint64_t>(s.bag) << s.bits > (uint64_t{1} << 28)) {
    Fail(ErrorCode::kInvalidArgument,
         "params.bag x 2^params.bits must be at most 2^28 (3 GiB of weights), got {} x 2^{}", s.bag,
         s.bits);
  }
  s.learning_rate = ps.Number("learning_rate", 0.5, 1e-9, 1e6);
  c.params = ps.Finish();
  return std::make_unique<CbAdfPolicy>(std::move(c), std::move(s));
}

}  // namespace marquee::policy_internal
