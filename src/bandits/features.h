// Feature construction for contextual bandits: a context FeatureMap and one action's FeatureMap
// become a dense float vector of a fixed dimension by feature hashing (docs/formats/bandit.md).
//
// Every feature is hashed with XXH64 (seed 0, stable across platforms and releases; std::hash is
// not) of a namespaced key:
//   numeric     "c\x1fNAME" (context) / "a\x1fNAME" (action)      value = the number
//   categorical "c\x1fNAME=VALUE" / "a\x1fNAME=VALUE"               value = 1
// The bucket is hash % dim and the sign is the hash's top bit (signed hashing keeps collisions
// unbiased). Declared interactions cross every context feature with every action feature: the
// key hash is XXH64 of the two hashes, the value their product. With `action_id` the action's
// id is an extra categorical action feature "_id" (so crosses give per-action context weights);
// `bias` adds a constant 1. Zero numeric values contribute nothing.
//
// Settings (PolicyConfig::features, all optional):
//   dim           hashed dimension, 1..65536 (default 64)
//   context       include context features on their own (default true)
//   action        include action features on their own (default true)
//   action_id     the action id as a categorical action feature (default true)
//   bias          a constant feature (default true)
//   interactions  list of pairs, only ["context", "action"] is known (default
//   [["context","action"]])
// Thread-safety: a Featurizer is immutable after construction; all methods are const.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "bandits/policy.h"

namespace marquee {

struct FeatureSpec {
  uint32_t dim = 64;
  bool context = true;
  bool action = true;
  bool action_id = true;
  bool bias = true;
  bool cross = true;  // the ["context", "action"] interaction

  // Parses PolicyConfig::features; kInvalidArgument naming "features.KEY" for bad settings.
  static FeatureSpec FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;
};

// A feature already keyed: `key` is FeatureHash(ns, name, value) of its namespaced key ('c' for
// context, 'a' for action features), `value` the number (1 for a category). The learners' fast
// path and the typed bandit log meet here: a log stores each distinct key once and its rows as
// (key, value) pairs, so no feature name is hashed or parsed again while learning.
struct KeyedFeature {
  uint64_t key;
  double value;
};

// One offered action, keyed: `id_key` is FeatureHash('a', "_id", id) (the action-id feature).
// The spans point into storage owned by whoever built the KeyedInput (a KeyedScratch, a mapped
// log); they stay valid until that storage is reused or released.
struct KeyedAction {
  std::string_view id;
  uint64_t id_key;
  std::span<const KeyedFeature> features;
};

// A decision input with every feature keyed (see KeyedFeature).
struct KeyedInput {
  std::span<const KeyedFeature> context;
  std::vector<KeyedAction> actions;
};

// Appends the keyed features of `m` (namespace `ns`) to `out`, in map order, skipping numeric
// zeros (they contribute nothing). Thread-safe.
void KeyFeatures(char ns, const FeatureMap& m, std::vector<KeyedFeature>* out);

// Reusable storage for keying DecisionInputs (one per thread). Key() returns a KeyedInput whose
// spans point into this scratch: valid until the next Key() on it.
class KeyedScratch {
 public:
  const KeyedInput& Key(const FeatureMap& context, const std::vector<Action>& actions);

 private:
  friend struct BanditLog;  // fills context_ and input_ from a typed log, without hashing
  std::vector<KeyedFeature> context_, action_features_;
  std::vector<size_t> begin_;  // action i's features: [begin_[i], begin_[i + 1])
  KeyedInput input_;
};

// A hashed feature: bucket and signed value.
struct HashedFeature {
  uint32_t index;
  float value;
};

class Featurizer {
 public:
  explicit Featurizer(FeatureSpec spec) : spec_(spec) {}
  const FeatureSpec& spec() const { return spec_; }
  uint32_t dim() const { return spec_.dim; }

  // The joint vector of (context, action) (length dim, zero-filled then accumulated).
  void Joint(const FeatureMap& context, const Action& action, float* out) const;
  std::vector<float> Joint(const FeatureMap& context, const Action& action) const;
  // The context-only vector (context features + bias), for per-action (disjoint) models.
  void ContextOnly(const FeatureMap& context, float* out) const;
  std::vector<float> ContextOnly(const FeatureMap& context) const;
  // The same from keyed features (bit-identical: the FeatureMap forms key and call these).
  void Joint(std::span<const KeyedFeature> context, const KeyedAction& action, float* out) const;
  void ContextOnly(std::span<const KeyedFeature> context, float* out) const;

 private:
  FeatureSpec spec_;
};

// The raw 64-bit hash of a namespaced feature key (exposed for tests and documentation).
uint64_t FeatureHash(char ns, const std::string& name, const FeatureValue& value);
// The key of the constant (bias) feature, "b\x1fbias".
uint64_t BiasFeatureKey();

// Checks one decision input: at least one action, unique non-empty action ids, unique feature
// names within each map, finite numbers. kInvalidArgument naming the field ("actions[2].id").
void ValidateInput(const DecisionInput& in);

}  // namespace marquee
