// Internal to the policy families (src/bandits/policies.cc, cb_adf.cc): parameter reading,
// sampling and distribution helpers, the families' base class and the artifact writer they share.
// Not part of the public policy contract (policy.h).
#pragma once

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "bandits/features.h"
#include "bandits/policy.h"
#include "marquee/error.h"
#include "models/artifact.h"

namespace marquee::policy_internal {

inline constexpr uint32_t kPolicyFormatVersion = 1;
inline constexpr const char* kArtifactFamily = "bandit-policy";

inline double Uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

inline size_t SampleIndex(const std::vector<double>& p, std::mt19937_64& rng) {
  const double u = Uniform01(rng);
  double acc = 0;
  size_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = i;
    acc += p[i];
    if (u < acc) return i;
  }
  return last;  // rounding: the last action with mass
}

// --- parameters

// Reads the family's parameters from `given`, rejecting unknown ones; records the resolved
// values (defaults filled in) in `resolved`.
class Params {
 public:
  Params(const std::string& family, const nlohmann::json& given) : family_(family), j_(given) {
    if (j_.is_null()) j_ = nlohmann::json::object();
    if (!j_.is_object()) Fail(ErrorCode::kInvalidArgument, "params must be an object");
  }
  double Number(const std::string& k, double def, double lo, double hi) {
    known_.insert(k);
    double v = def;
    if (j_.contains(k)) {
      if (!j_[k].is_number()) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: must be a number for {}", k, family_);
      }
      v = j_[k].get<double>();
    }
    if (!(v >= lo && v <= hi)) {
      Fail(ErrorCode::kInvalidArgument, "params.{}: must be in [{}, {}] for {}, got {}", k, lo, hi,
           family_, v);
    }
    resolved_[k] = v;
    return v;
  }
  int64_t Integer(const std::string& k, int64_t def, int64_t lo, int64_t hi) {
    known_.insert(k);
    int64_t v = def;
    if (j_.contains(k)) {
      if (!j_[k].is_number_integer()) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: must be an integer for {}", k, family_);
      }
      v = j_[k].get<int64_t>();
    }
    if (v < lo || v > hi) {
      Fail(ErrorCode::kInvalidArgument, "params.{}: must be in [{}, {}] for {}, got {}", k, lo, hi,
           family_, v);
    }
    resolved_[k] = v;
    return v;
  }
  std::string Choice(const std::string& k, const std::string& def,
                     const std::vector<std::string>& allowed) {
    known_.insert(k);
    std::string v = def;
    if (j_.contains(k)) {
      if (!j_[k].is_string()) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: must be a string for {}", k, family_);
      }
      v = j_[k].get<std::string>();
    }
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      Fail(ErrorCode::kInvalidArgument, "params.{}: '{}' is not one of {} for {}", k, v,
           fmt::format("{}", fmt::join(allowed, ", ")), family_);
    }
    resolved_[k] = v;
    return v;
  }
  // Whether the parameter was given (and records it as known).
  bool Given(const std::string& k) {
    known_.insert(k);
    return j_.contains(k);
  }
  nlohmann::json Finish() {
    for (const auto& [k, v] : j_.items()) {
      if (!known_.count(k)) {
        Fail(ErrorCode::kInvalidArgument, "params.{}: unknown parameter for {} (known: {})", k,
             family_, fmt::format("{}", fmt::join(known_, ", ")));
      }
    }
    return resolved_;
  }

 private:
  std::string family_;
  nlohmann::json j_;
  std::set<std::string> known_;
  nlohmann::json resolved_ = nlohmann::json::object();
};

// Probability mass split evenly over the maxima of `s` (ties within 1e-12 relative).
inline std::vector<double> ArgmaxDistribution(std::span<const double> s) {
  const double best = *std::max_element(s.begin(), s.end());
  const double tol = 1e-12 * std::max(1.0, std::abs(best));
  std::vector<double> p(s.size(), 0.0);
  int ties = 0;
  for (double x : s) ties += x >= best - tol ? 1 : 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] >= best - tol) p[i] = 1.0 / ties;
  }
  return p;
}

inline void MixUniform(std::vector<double>& p, double epsilon) {
  if (epsilon <= 0) return;
  const double u = epsilon / static_cast<double>(p.size());
  for (double& x : p) x = (1.0 - epsilon) * x + u;
}

// The checks of Policy::Update on a keyed input (the DecisionInput form validated the rest).
inline void CheckUpdate(const KeyedInput& in, size_t chosen, double reward, double propensity) {
  if (in.actions.empty()) Fail(ErrorCode::kInvalidArgument, "actions: at least one is required");
  if (chosen >= in.actions.size()) {
    Fail(ErrorCode::kInvalidArgument, "chosen: index {} is outside the {} actions", chosen,
         in.actions.size());
  }
  if (!std::isfinite(reward)) Fail(ErrorCode::kInvalidArgument, "reward: not a finite number");
  if (!(propensity > 0.0 && propensity <= 1.0)) {
    Fail(ErrorCode::kInvalidArgument, "propensity: must be in (0, 1], got {}", propensity);
  }
}

inline void CheckActions(const KeyedInput& in) {
  if (in.actions.empty()) Fail(ErrorCode::kInvalidArgument, "actions: at least one is required");
}

// The base of every family: its config, and the learned state's save/load hooks.
class PolicyBase : public Policy {
 public:
  explicit PolicyBase(PolicyConfig c) : config_(std::move(c)) {}
  std::string family() const override { return config_.family; }
  const PolicyConfig& config() const override { return config_; }
  void Save(const std::string& path, Env* env) const override;
  // Adds the learned state to an artifact being written (`store` keeps copied numbers alive
  // until Write) and reads it back; kCorruption naming `path` for damaged state.
  virtual void SaveState(ArtifactWriter&, std::vector<double>& /*store*/) const {}
  virtual void LoadState(const ArtifactReader&, const std::string& /*path*/) {}

 protected:
  PolicyConfig config_;
};

// Creates the cb-adf learner (cb_adf.cc) for `c` (family "cb-adf", or "epsilon-greedy" /
// "softmax" with model = "online"), reading its parameters from `ps`.
std::unique_ptr<Policy> NewCbAdfPolicy(PolicyConfig c, Params& ps, const std::string& explore);

}  // namespace marquee::policy_internal
