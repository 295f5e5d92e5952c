// Contextual-bandit policies (artwork personalization): the contract shared by the policy
// families (src/bandits/), offline training and off-policy evaluation, and serving
// (POST /v1/decide, POST /v1/reward).
//
// A decision is made for one context (member features) over the actions offered with it (each
// with its own features). Every policy returns the full probability distribution over the
// offered actions, so every logged decision carries the propensity of the action it took.
//
// Learned state (the Policy) is kept apart from its settings (PolicyConfig); families are
// created by name through MakePolicy. Errors are marquee::Error (kInvalidArgument naming the
// field for bad settings or features). Thread-safety: const methods may be called from many
// threads at once; Update and Load need exclusive access (serving guards a live policy with a
// shared_mutex or swaps copies).
//
// Every family implements the keyed forms (KeyedInput, features.h: features already hashed, as
// the bandit log stores them), the learners' fast path; the DecisionInput forms validate the
// input, key it through a per-thread KeyedScratch and call them, so a family has one
// implementation and both forms give identical results.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "marquee/env.h"

namespace marquee {

// A feature value: numeric, or categorical (hashed into the feature space).
using FeatureValue = std::variant<double, std::string>;
// Named features in the order given (names unique within one map).
using FeatureMap = std::vector<std::pair<std::string, FeatureValue>>;

struct Action {
  std::string id;
  FeatureMap features;
};

// One decision's input: who, in which context, choosing among which actions.
struct DecisionInput {
  std::optional<std::string> user;
  FeatureMap context;
  std::vector<Action> actions;  // at least one; ids unique
};

struct KeyedInput;  // features.h
class KeyedScratch;

struct PolicyConfig {
  std::string family;  // "uniform", "epsilon-greedy", "softmax", "linucb", "lints", "cb-adf"
  nlohmann::json params = nlohmann::json::object();  // family parameters (alpha, epsilon, ...)
  // Feature construction (see features.h): hashed dimension, declared interactions such as
  // {"context", "action"} (context x action crosses), whether to add a per-action bias.
  nlohmann::json features = nlohmann::json::object();
  uint64_t seed = 42;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string family() const = 0;

  // The probability of choosing each of in.actions (same order; non-negative, sums to 1).
  // Randomised policies whose distribution has no closed form (Thompson sampling) estimate it
  // by Monte Carlo with a generator seeded from `rng`, so Decide stays consistent with it.
  // The DecisionInput form validates `in` (kInvalidArgument naming the field) and keys it.
  std::vector<double> Probabilities(const DecisionInput& in, std::mt19937_64& rng) const;
  virtual std::vector<double> Probabilities(const KeyedInput& in, std::mt19937_64& rng) const = 0;

  // Samples an action index from Probabilities(in). Returns {index, probabilities}.
  std::pair<size_t, std::vector<double>> Decide(const DecisionInput& in,
                                                std::mt19937_64& rng) const;
  std::pair<size_t, std::vector<double>> Decide(const KeyedInput& in, std::mt19937_64& rng) const;

  // Learns from one observed reward for `chosen`, taken with probability `propensity`
  // (importance weighting for off-policy training; online learning passes the logged value).
  // kInvalidArgument for a chosen index outside the actions, a non-finite reward or a
  // propensity outside (0, 1]; the DecisionInput form also validates the input.
  void Update(const DecisionInput& in, size_t chosen, double reward, double propensity);
  virtual void Update(const KeyedInput& in, size_t chosen, double reward, double propensity) = 0;

  // Learns from rows 0..n-1 in order, `passes` times, as repeated Update calls would: row(i,
  // scratch) gives row i keyed (through `scratch`) with its chosen index, reward and
  // propensity. Families whose learners are independent (bagging) learn them on up to
  // `threads` threads (0 or 1: this one); the result depends on neither the thread count nor
  // scheduling. `progress(done)` is called now and then from the calling thread.
  struct LoggedRow {
    const KeyedInput* input;
    size_t chosen;
    double reward, propensity;
  };
  using RowSource = std::function<LoggedRow(size_t i, KeyedScratch* scratch)>;
  virtual void Learn(size_t n, int passes, const RowSource& row, int threads,
                     const std::function<void(size_t done)>& progress);

  // Serialises the learned state with its config (model artifact, docs/formats/bandit.md).
  virtual void Save(const std::string& path, Env* env) const = 0;
  virtual const PolicyConfig& config() const = 0;
  virtual std::unique_ptr<Policy> Clone() const = 0;
};

// The family names MakePolicy knows, in documentation order.
std::vector<std::string> PolicyFamilies();

// Creates an untrained policy of config.family; kInvalidArgument for an unknown family (listing
// the known ones) or a bad parameter.
std::unique_ptr<Policy> MakePolicy(const PolicyConfig& config);
// Loads a policy saved by Policy::Save; kCorruption / kInvalidArgument naming the path.
std::unique_ptr<Policy> LoadPolicy(const std::string& path, Env* env);

}  // namespace marquee
