// Off-policy evaluation: the value (mean reward) a candidate policy would have had on the
// contexts of a bandit log, estimated from the logging policy's choices and propensities.
//
// Estimators (w_i = pi(a_i|x_i) / p_i, q = the reward model, dm_i = sum_a pi(a|x_i) q(x_i, a)):
//   ips        mean(w r)
//   snips      sum(w r) / sum(w)
//   dm         mean(dm_i)
//   dr         mean(dm_i + w_i (r_i - q(x_i, a_i)))
//   sndr       mean(dm_i) + sum(w (r - q)) / sum(w)
//   switch-dr  mean(dm_i + 1{w_i <= tau} w_i (r_i - q(x_i, a_i)))
//   replay     mean reward of the rows where a deterministic candidate picks the logged action
// The reward model q (OpeOptions::reward_model), cross-fitted over `folds` random folds (each
// row's q comes from a model fitted on the other folds; folds = 1: fitted on every row):
//   mean   a smoothed mean per (action id[, position]), ignoring the context:
//          q = (sum of rewards + m * global mean) / (count + m)
//   ridge  a linear model q(x, a) = theta . phi(x, a) over the policies' hashed features
//          (features.h, default settings: context, action, action id, bias and the context x
//          action crosses, dimension `reward_dim`), theta = (Phi^T Phi + l2 I)^-1 Phi^T r on
//          the logged (context, chosen action, reward) rows, in double (Eigen LLT). l2 is in
//          units of squared feature values (every coefficient, the bias included, is shrunk
//          toward 0); q is not clipped to the reward range. Since q is linear,
//          dm_i = theta . sum_a pi(a|x_i) phi(x_i, a).
//   auto   ridge when the log has any context or action feature, else mean (the default).
// Each estimate gets a percentile bootstrap 95% interval over `bootstrap` resamples of the rows
// (seeded; the reward model is refitted on every resample, so DM intervals include its
// variance; a ridge refit costs O(n d^2), so when n * reward_dim^2 > 2e9 the resamples reuse the
// ridge model fitted on the whole log and the result carries a warning saying so).
// Errors: kInvalidArgument for unknown estimator names, mismatched distributions or options.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "bandits/log.h"
#include "bandits/policy.h"

namespace marquee {

struct OpeOptions {
  std::vector<std::string> estimators = {"ips", "snips", "dm", "dr", "sndr", "switch-dr"};
  int bootstrap = 200;  // 0: no intervals
  uint64_t seed = 42;
  double tau = 10.0;       // switch-dr threshold on the importance weight
  int folds = 2;           // reward-model cross-fitting (1: fit on every row)
  double smoothing = 1.0;  // m: pseudo-count toward the global mean (reward model "mean")
  std::string reward_model = "auto";  // "auto" | "mean" | "ridge"
  double reward_l2 = 1.0;             // ridge: l2 penalty (> 0)
  uint32_t reward_dim = 256;          // ridge: hashed feature dimension, 1..4096
  bool replay = true;                 // add "replay" when the candidate is deterministic
};

struct OpeEstimate {
  double value = 0, lo = 0, hi = 0;
};

struct OpeResult {
  std::vector<std::string> order;  // estimator names in output order
  std::map<std::string, OpeEstimate> estimates;
  size_t n = 0;
  double ess = 0;            // (sum w)^2 / sum w^2
  double logged_reward = 0;  // mean reward of the log (the logging policy's value)
  double max_weight = 0;
  bool deterministic = false;  // every candidate distribution puts all mass on one action
  size_t replay_matches = 0;
  std::vector<std::string> warnings;
  int bootstrap = 0;
  uint64_t seed = 0;
  double tau = 0;
  std::string reward_model;  // the model used: "mean" or "ridge" ("auto" resolved)
  double reward_l2 = 0;
  uint32_t reward_dim = 0;

  // {"estimates": {"ips": {"value": v, "ci": [lo, hi]}, ...}, "n", "ess", "warnings", ...}
  nlohmann::json ToJson() const;
  // A readable table.
  std::string Format() const;
};

// The candidate's distribution over the offered actions of each row of the log.
using CandidateDistributions = std::vector<std::vector<double>>;

// Splits "ips,snips" and checks the names (kInvalidArgument listing the known ones).
std::vector<std::string> ParseEstimators(const std::string& list);

// Checks a reward-model name ("auto", "mean", "ridge"; kInvalidArgument listing them).
void CheckRewardModel(const std::string& name);
// The model "auto" resolves to on `log`: "ridge" when any row has a context feature or any
// offered action has a feature, else "mean". Other names are returned unchanged.
std::string ResolveRewardModel(const std::string& name, const BanditLog& log);

// Estimates the candidate's value on `log`. `pi[i]` has one probability per action of row i.
OpeResult EvaluateOffPolicy(const BanditLog& log, const CandidateDistributions& pi,
                            const OpeOptions& options);

// Distributions of a policy on every row (Monte Carlo ones seeded from `seed`).
CandidateDistributions PolicyDistributions(const Policy& policy, const BanditLog& log,
                                           uint64_t seed);
// The empirical action distribution of `candidate_log` (per position when both logs have
// positions, else overall), restricted to each row's offered actions and renormalised. Rows
// whose offered actions the candidate never chose get a uniform distribution (and a warning).
CandidateDistributions EmpiricalDistributions(const BanditLog& candidate_log, const BanditLog& log,
                                              std::vector<std::string>* warnings);

}  // namespace marquee
