// The bandit simulator behind `marquee simulate bandit`: synthetic members whose true click
// probability for each artwork is known, so policies can be compared on regret and off-policy
// estimates checked against the truth.
//
// Ground truth: a member's context x has `features` standard-normal numeric features
// ("x0".."x{F-1}"); each of the `actions` artworks has `action_features` standard-normal
// features ("f0".."f{m-1}", fixed per artwork). The click probability is
//   p(x, k) = sigmoid(b + s * x^T W v_k + c^T v_k / sqrt(m))
// with W (F x m) and c drawn once from N(0, 1), s = scale / sqrt(F m), scale = 1.5 and b = -1.5
// by default (SimOptions::logit_scale, logit_bias; seeded).
// Every policy sees the same members in the same order and the same uniform draw decides each
// click (common random numbers); regret is the expected one, max_k p(x, k) - p(x, chosen).
// Thread-safety: none needed (single-threaded, deterministic for a seed).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bandits/policy.h"

namespace marquee {

struct SimOptions {
  std::vector<std::string> policies = {"uniform", "epsilon-greedy", "linucb", "lints"};
  int decisions = 10000;
  int actions = 10;
  int features = 32;
  int action_features = 8;
  int dim = 64;                                 // hashed feature dimension of the policies
  double logit_scale = 1.5, logit_bias = -1.5;  // the ground truth's s * sqrt(F m) and b
  uint64_t seed = 42;
  // OPE convergence: the ridge reward model's settings (OpeOptions::reward_l2, reward_dim).
  // The dimension is larger than `marquee ope`'s default (256): the 32 x (8 + id) crosses need
  // it (measured in docs/BENCHMARKS.md).
  double reward_l2 = 1.0;
  uint32_t reward_dim = 1024;
};

class SimProblem {
 public:
  explicit SimProblem(const SimOptions& o);
  // A new member (context) and the true click probability of every action.
  DecisionInput Sample(std::mt19937_64& rng, std::vector<double>* truth) const;
  // The same draw as Sample without building the input: the context's numbers (x0.., in order)
  // and, when `truth` is not null, the true click probability of every action.
  void SampleContext(std::mt19937_64& rng, std::vector<double>* x,
                     std::vector<double>* truth) const;
  const std::vector<Action>& actions() const { return actions_; }

 private:
  int f_, m_;
  std::vector<Action> actions_;
  std::vector<std::vector<double>> wv_;  // per action: s * W v_k (length F)
  std::vector<double> bias_;             // per action: b + c^T v_k / sqrt(m)
};

// The configuration the simulator uses for a family (documented in docs/formats/bandit.md), or
// for "epsilon-greedy:online" / "softmax:online" (that family's defaults: the online learner).
// kInvalidArgument for another "FAMILY:VARIANT".
PolicyConfig SimPolicyConfig(const std::string& name, const SimOptions& o);

struct SimPolicyResult {
  std::string policy;
  double cumulative_reward = 0, cumulative_regret = 0, expected_reward = 0;
  double seconds = 0;
  std::vector<double> regret_curve;  // cumulative regret after each of `checkpoints` steps
};

struct SimResult {
  SimOptions options;
  double best_expected_reward = 0;  // sum over members of max_k p(x, k)
  std::vector<size_t> checkpoints;
  std::vector<SimPolicyResult> policies;
  nlohmann::json ToJson() const;
  std::string Format() const;
  // An SVG line plot of cumulative regret per policy.
  std::string Svg() const;
};

SimResult RunSimulation(const SimOptions& o);

// OPE convergence: a uniform-random logging policy logs `sizes.back()` decisions; a candidate
// (epsilon-greedy, epsilon 0.1, learned on 5000 separate uniform-random decisions, then frozen)
// is evaluated with every estimator on the first n decisions for each n in `sizes`, over
// `repeats` independent logs. Its true value is the mean over `truth_members` fresh members of
// sum_k pi(k|x) p(x, k). The model-based estimators (dm, dr, sndr, switch-dr) use the ridge
// reward model (the log keeps the contexts); "dm-mean" and "dr-mean" are DM and DR with the
// context-free per-action mean model, for comparison.
struct OpeConvergence {
  double true_value = 0, true_value_se = 0;
  double reward_l2 = 0;
  uint32_t reward_dim = 0;
  std::vector<size_t> sizes;
  std::vector<std::string> estimators;
  int repeats = 0;
  // [size][estimator]: mean absolute error over the repeats, and the first repeat's estimate
  // with its bootstrap interval.
  std::vector<std::vector<double>> mean_abs_error;
  std::vector<std::vector<double>> first_value, first_lo, first_hi;
  nlohmann::json ToJson() const;
  std::string Format() const;
};

OpeConvergence RunOpeConvergence(const SimOptions& o, const std::vector<size_t>& sizes, int repeats,
                                 int bootstrap, size_t truth_members);

}  // namespace marquee
