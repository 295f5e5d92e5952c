#include "bandits/simulator.h"

#include <algorithm>
#include <cmath>

#include "bandits/log.h"
#include "bandits/ope.h"
#include "common/log.h"
#include "marquee/error.h"

namespace marquee {
namespace {

double Normal(std::mt19937_64& rng) {
  const double u1 = std::max(1e-300, static_cast<double>(rng() >> 11) * 0x1.0p-53);
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

void CheckOptions(const SimOptions& o) {
  if (o.decisions < 1) Fail(ErrorCode::kInvalidArgument, "--decisions must be >= 1");
  if (o.actions < 2 || o.actions > 10000) {
    Fail(ErrorCode::kInvalidArgument, "--actions must be in 2..10000");
  }
  if (o.features < 1 || o.features > 4096) {
    Fail(ErrorCode::kInvalidArgument, "--features must be in 1..4096");
  }
  if (o.action_features < 1 || o.action_features > 4096) {
    Fail(ErrorCode::kInvalidArgument, "action features must be in 1..4096");
  }
  if (o.policies.empty()) Fail(ErrorCode::kInvalidArgument, "--policies is empty");
}

}  // namespace

SimProblem::SimProblem(const SimOptions& o) : f_(o.features), m_(o.action_features) {
  CheckOptions(o);
  std::mt19937_64 rng(o.seed * 0x9e3779b97f4a7c15ULL + 17);
  std::vector<std::vector<double>> w(static_cast<size_t>(f_),
                                     std::vector<double>(static_cast<size_t>(m_)));
  for (auto& row : w) {
    for (double& x : row) x = Normal(rng);
  }
  std::vector<double> c(static_cast<size_t>(m_));
  for (double& x : c) x = Normal(rng);
  const double s = o.logit_scale / std::sqrt(static_cast<double>(f_) * m_);
  for (int k = 0; k < o.actions; ++k) {
    Action a;
    a.id = fmt::format("art-{}", k);
    std::vector<double> v(static_cast<size_t>(m_));
    for (int j = 0; j < m_; ++j) {
      v[static_cast<size_t>(j)] = Normal(rng);
      a.features.emplace_back(fmt::format("f{}", j), v[static_cast<size_t>(j)]);
    }
    std::vector<double> wv(static_cast<size_t>(f_), 0.0);
    for (int i = 0; i < f_; ++i) {
      for (int j = 0; j < m_; ++j) {
        wv[static_cast<size_t>(i)] +=
            s * w[static_cast<size_t>(i)][static_cast<size_t>(j)] * v[static_cast<size_t>(j)];
      }
    }
    double b = o.logit_bias;
    for (int j = 0; j < m_; ++j) {
      b += c[static_cast<size_t>(j)] * v[static_cast<size_t>(j)] / std::sqrt(double(m_));
    }
    actions_.push_back(std::move(a));
    wv_.push_back(std::move(wv));
    bias_.push_back(b);
  }
}

void SimProblem::SampleContext(std::mt19937_64& rng, std::vector<double>* x,
                               std::vector<double>* truth) const {
  x->resize(static_cast<size_t>(f_));
  for (double& v : *x) v = Normal(rng);
  if (truth != nullptr) {
    truth->resize(actions_.size());
    for (size_t k = 0; k < actions_.size(); ++k) {
      double z = bias_[k];
      for (size_t i = 0; i < x->size(); ++i) z += wv_[k][i] * (*x)[i];
      (*truth)[k] = 1.0 / (1.0 + std::exp(-z));
    }
  }
}

DecisionInput SimProblem::Sample(std::mt19937_64& rng, std::vector<double>* truth) const {
  DecisionInput in;
  std::vector<double> x;
  SampleContext(rng, &x, truth);
  static thread_local std::vector<std::string> names;
  for (size_t j = names.size(); j < x.size(); ++j) names.push_back(fmt::format("x{}", j));
  in.context.reserve(x.size());
  for (size_t i = 0; i < x.size(); ++i) in.context.emplace_back(names[i], x[i]);
  in.actions = actions_;
  return in;
}

PolicyConfig SimPolicyConfig(const std::string& name, const SimOptions& o) {
  PolicyConfig c;
  const size_t colon = name.find(':');
  const std::string family = name.substr(0, colon);
  c.family = family;
  c.seed = o.seed;
  c.features = {{"dim", o.dim}};
  if (colon != std::string::npos) {
    // "epsilon-greedy:online", "softmax:online": the family's defaults (the online learner).
    if (name.substr(colon + 1) != "online" || (family != "epsilon-greedy" && family != "softmax")) {
      Fail(ErrorCode::kInvalidArgument,
           "policy '{}': the variants are epsilon-greedy:online and softmax:online", name);
    }
    c.params = {{"model", "online"}};
    return c;
  }
  if (family == "epsilon-greedy") {
    c.params = {{"epsilon", 0.1}, {"model", "disjoint"}};
  } else if (family == "softmax") {
    c.params = {{"temperature", 0.05}, {"model", "disjoint"}};
  } else if (family == "linucb") {
    c.params = {{"alpha", 0.5}, {"mode", "disjoint"}};
  } else if (family == "lints") {
    c.params = {{"v", 0.2}, {"mode", "disjoint"}, {"draws", 64}};
  }
  return c;
}

SimResult RunSimulation(const SimOptions& o) {
  CheckOptions(o);
  SimProblem problem(o);
  SimResult res;
  res.options = o;
  const size_t n = static_cast<size_t>(o.decisions);
  const size_t points = std::min<size_t>(n, 200);
  for (size_t p = 1; p <= points; ++p) res.checkpoints.push_back(p * n / points);
  // The members and click draws, shared by every policy.
  bool best_done = false;
  for (const auto& family : o.policies) {
    std::unique_ptr<Policy> policy = MakePolicy(SimPolicyConfig(family, o));
    std::mt19937_64 members(o.seed), clicks(o.seed + 1), decide(o.seed + 2);
    SimPolicyResult pr;
    pr.policy = family;
    Stopwatch sw;
    std::vector<double> truth;
    size_t next = 0;
    double best = 0;
    for (size_t t = 0; t < n; ++t) {
      DecisionInput in = problem.Sample(members, &truth);
      const double u = Unit(clicks);
      auto [k, probs] = policy->Decide(in, decide);
      const double pbest = *std::max_element(truth.begin(), truth.end());
      best += pbest;
      const double reward = u < truth[k] ? 1.0 : 0.0;
      pr.cumulative_reward += reward;
      pr.expected_reward += truth[k];
      pr.cumulative_regret += pbest - truth[k];
      policy->Update(in, k, reward, probs[k]);
      if (next < res.checkpoints.size() && t + 1 == res.checkpoints[next]) {
        pr.regret_curve.push_back(pr.cumulative_regret);
        ++next;
      }
    }
    pr.seconds = sw.Seconds();
    if (!best_done) {
      res.best_expected_reward = best;
      best_done = true;
    }
    res.policies.push_back(std::move(pr));
  }
  return res;
}

nlohmann::json SimResult::ToJson() const {
  nlohmann::json ps = nlohmann::json::array();
  for (const auto& p : policies) {
    ps.push_back({{"policy", p.policy},
                  {"cumulative_reward", p.cumulative_reward},
                  {"expected_reward", p.expected_reward},
                  {"cumulative_regret", p.cumulative_regret},
                  {"seconds", p.seconds},
                  {"regret_curve", p.regret_curve}});
  }
  return {{"decisions", options.decisions},
          {"actions", options.actions},
          {"features", options.features},
          {"action_features", options.action_features},
          {"dim", options.dim},
          {"seed", options.seed},
          {"best_expected_reward", best_expected_reward},
          {"checkpoints", checkpoints},
          {"policies", ps}};
}

std::string SimResult::Format() const {
  std::string out = fmt::format(
      "{} decisions, {} artworks, {} context features x {} artwork features (seed {})\n"
      "best possible expected clicks: {:.1f}\n\n",
      options.decisions, options.actions, options.features, options.action_features, options.seed,
      best_expected_reward);
  out += fmt::format("  {:<16} {:>10} {:>14} {:>12} {:>10} {:>10}\n", "policy", "clicks",
                     "expected CTR", "regret", "regret/dec", "seconds");
  for (const auto& p : policies) {
    out += fmt::format("  {:<16} {:>10.0f} {:>14.4f} {:>12.1f} {:>10.4f} {:>10.2f}\n", p.policy,
                       p.cumulative_reward, p.expected_reward / options.decisions,
                       p.cumulative_regret, p.cumulative_regret / options.decisions, p.seconds);
  }
  return out;
}

std::string SimResult::Svg() const {
  const double W = 720, H = 440, L = 70, R = 170, T = 30, B = 50;
  double ymax = 1;
  for (const auto& p : policies) {
    for (double v : p.regret_curve) ymax = std::max(ymax, v);
  }
  const double xmax = checkpoints.empty() ? 1.0 : static_cast<double>(checkpoints.back());
  auto X = [&](double x) { return L + (W - L - R) * x / xmax; };
  auto Y = [&](double y) { return H - B - (H - T - B) * y / ymax; };
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                  "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"};
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n",
      W, H);
  s += fmt::format(
      "<text x=\"{}\" y=\"18\" font-size=\"14\">Cumulative regret ({} artworks, {} features, seed "
      "{})</text>\n",
      L, options.actions, options.features, options.seed);
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", L, H - B,
                   W - R, H - B);
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", L, T, L,
                   H - B);
  for (int i = 0; i <= 4; ++i) {
    const double yv = ymax * i / 4, xv = xmax * i / 4;
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0f}</text>\n", L - 6,
                     Y(yv) + 4, yv);
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n", L, Y(yv),
                     W - R, Y(yv));
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0f}</text>\n", X(xv),
                     H - B + 18, xv);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">decisions</text>\n",
                   (L + W - R) / 2, H - 12);
  for (size_t p = 0; p < policies.size(); ++p) {
    const char* col = kColors[p % 8];
    std::string pts = fmt::format("{:.1f},{:.1f}", X(0), Y(0));
    for (size_t i = 0; i < policies[p].regret_curve.size() && i < checkpoints.size(); ++i) {
      pts += fmt::format(" {:.1f},{:.1f}", X(static_cast<double>(checkpoints[i])),
                         Y(policies[p].regret_curve[i]));
    }
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                     col, pts);
    const double ly = T + 20 + 20 * static_cast<double>(p);
    s += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
        "stroke-width=\"3\"/>\n",
        W - R + 10, ly, W - R + 30, ly, col);
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", W - R + 36, ly + 4, policies[p].policy);
  }
  s += "</svg>\n";
  return s;
}

OpeConvergence RunOpeConvergence(const SimOptions& o, const std::vector<size_t>& sizes, int repeats,
                                 int bootstrap, size_t truth_members) {
  CheckOptions(o);
  if (sizes.empty() || repeats < 1) Fail(ErrorCode::kInvalidArgument, "no log sizes to evaluate");
  SimProblem problem(o);
  const size_t k = static_cast<size_t>(o.actions);
  const double mu = 1.0 / static_cast<double>(k);

  // The candidate: epsilon-greedy learned from separate uniform-random decisions, then frozen.
  PolicyConfig cc = SimPolicyConfig("epsilon-greedy", o);
  std::unique_ptr<Policy> cand = MakePolicy(cc);
  {
    std::mt19937_64 members(o.seed + 100), clicks(o.seed + 101), pick(o.seed + 102);
    std::vector<double> truth;
    for (int t = 0; t < 5000; ++t) {
      DecisionInput in = problem.Sample(members, &truth);
      const size_t a = pick() % k;
      cand->Update(in, a, Unit(clicks) < truth[a] ? 1.0 : 0.0, mu);
    }
  }
  std::mt19937_64 unused(0);
  OpeConvergence res;
  res.reward_l2 = o.reward_l2;
  res.reward_dim = o.reward_dim;
  res.sizes = sizes;
  res.repeats = repeats;
  const std::vector<std::string> model_based = {"ips", "snips", "dm", "dr", "sndr", "switch-dr"};
  const std::vector<std::string> mean_based = {"dm", "dr"};
  res.estimators = model_based;
  for (const auto& e : mean_based) res.estimators.push_back(e + "-mean");
  {
    std::mt19937_64 members(o.seed + 200);
    std::vector<double> truth;
    double sum = 0, sum2 = 0;
    for (size_t t = 0; t < truth_members; ++t) {
      DecisionInput in = problem.Sample(members, &truth);
      const std::vector<double> p = cand->Probabilities(in, unused);
      double v = 0;
      for (size_t a = 0; a < k; ++a) v += p[a] * truth[a];
      sum += v;
      sum2 += v * v;
    }
    const double m = static_cast<double>(truth_members);
    res.true_value = sum / m;
    res.true_value_se = std::sqrt(std::max(0.0, sum2 / m - res.true_value * res.true_value) / m);
  }
  const size_t nmax = *std::max_element(sizes.begin(), sizes.end());
  res.mean_abs_error.assign(sizes.size(), std::vector<double>(res.estimators.size(), 0.0));
  res.first_value = res.first_lo = res.first_hi = res.mean_abs_error;
  for (int rep = 0; rep < repeats; ++rep) {
    // The log keeps the contexts (the ridge reward model needs them); the candidate's
    // distribution is computed as the log is written.
    BanditLog log;
    log.format = "simulated";
    log.action_sets.push_back(problem.actions());
    CandidateDistributions pi;
    log.rows.reserve(nmax);
    pi.reserve(nmax);
    std::mt19937_64 members(o.seed + 1000 + static_cast<uint64_t>(rep) * 7919),
        clicks(o.seed + 2000 + static_cast<uint64_t>(rep) * 7919),
        pick(o.seed + 3000 + static_cast<uint64_t>(rep) * 7919);
    std::vector<double> truth;
    for (size_t t = 0; t < nmax; ++t) {
      DecisionInput in = problem.Sample(members, &truth);
      pi.push_back(cand->Probabilities(in, unused));
      LoggedDecision r;
      r.context = std::move(in.context);
      r.chosen = static_cast<uint32_t>(pick() % k);
      r.propensity = mu;
      r.reward = Unit(clicks) < truth[r.chosen] ? 1.0 : 0.0;
      log.rows.push_back(std::move(r));
    }
    for (size_t s = 0; s < sizes.size(); ++s) {
      BanditLog part;
      const bool whole = sizes[s] == nmax;
      if (!whole) {
        part.action_sets = log.action_sets;
        part.rows.assign(log.rows.begin(), log.rows.begin() + static_cast<ptrdiff_t>(sizes[s]));
      }
      CandidateDistributions ppart(pi.begin(), pi.begin() + static_cast<ptrdiff_t>(sizes[s]));
      OpeOptions oo;
      oo.estimators = model_based;
      oo.bootstrap = rep == 0 ? bootstrap : 0;
      oo.seed = o.seed + static_cast<uint64_t>(rep);
      oo.replay = false;
      oo.reward_model = "ridge";
      oo.reward_l2 = o.reward_l2;
      oo.reward_dim = o.reward_dim;
      const OpeResult r = EvaluateOffPolicy(whole ? log : part, ppart, oo);
      oo.estimators = mean_based;
      oo.reward_model = "mean";
      const OpeResult rm = EvaluateOffPolicy(whole ? log : part, ppart, oo);
      for (size_t e = 0; e < res.estimators.size(); ++e) {
        const bool mean = e >= model_based.size();
        const OpeEstimate& est = mean ? rm.estimates.at(mean_based[e - model_based.size()])
                                      : r.estimates.at(res.estimators[e]);
        res.mean_abs_error[s][e] += std::abs(est.value - res.true_value) / repeats;
        if (rep == 0) {
          res.first_value[s][e] = est.value;
          res.first_lo[s][e] = est.lo;
          res.first_hi[s][e] = est.hi;
        }
      }
    }
  }
  return res;
}

nlohmann::json OpeConvergence::ToJson() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t s = 0; s < sizes.size(); ++s) {
    nlohmann::json est = nlohmann::json::object();
    for (size_t e = 0; e < estimators.size(); ++e) {
      est[estimators[e]] = {{"mean_abs_error", mean_abs_error[s][e]},
                            {"value", first_value[s][e]},
                            {"ci", {first_lo[s][e], first_hi[s][e]}}};
    }
    rows.push_back({{"n", sizes[s]}, {"estimates", est}});
  }
  return {{"true_value", true_value},
          {"true_value_se", true_value_se},
          {"repeats", repeats},
          {"logging_policy", "uniform"},
          {"candidate", "epsilon-greedy (epsilon 0.1, disjoint ridge, frozen)"},
          {"reward_model", {{"model", "ridge"}, {"l2", reward_l2}, {"dim", reward_dim}}},
          {"sizes", rows}};
}

std::string OpeConvergence::Format() const {
  std::string out = fmt::format(
      "OPE convergence: uniform-random logging policy; candidate epsilon-greedy (frozen)\n"
      "dm, dr, sndr, switch-dr: ridge reward model (l2 {:g}, hashed dimension {}); dm-mean,\n"
      "dr-mean: the context-free per-action mean model\n"
      "true value {:.5f} (Monte Carlo standard error {:.5f})\n"
      "mean |estimate - truth| over {} independent logs (first log's estimate [95% CI] below)\n\n",
      reward_l2, reward_dim, true_value, true_value_se, repeats);
  out += fmt::format("  {:>8}", "n");
  for (const auto& e : estimators) out += fmt::format(" {:>10}", e);
  out += "\n";
  for (size_t s = 0; s < sizes.size(); ++s) {
    out += fmt::format("  {:>8}", sizes[s]);
    for (size_t e = 0; e < estimators.size(); ++e) {
      out += fmt::format(" {:>10.5f}", mean_abs_error[s][e]);
    }
    out += "\n";
  }
  out += "\n";
  for (size_t s = 0; s < sizes.size(); ++s) {
    out += fmt::format("  n={}:", sizes[s]);
    for (size_t e = 0; e < estimators.size(); ++e) {
      out += fmt::format("  {} {:.4f} [{:.4f}, {:.4f}]", estimators[e], first_value[s][e],
                         first_lo[s][e], first_hi[s][e]);
    }
    out += "\n";
  }
  return out;
}

}  // namespace marquee
