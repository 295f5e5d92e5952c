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

 private:
  FeatureSpec spec_;
};

// The raw 64-bit hash of a namespaced feature key (exposed for tests and documentation).
uint64_t FeatureHash(char ns, const std::string& name, const FeatureValue& value);

// Checks one decision input: at least one action, unique non-empty action ids, unique feature
// names within each map, finite numbers. kInvalidArgument naming the field ("actions[2].id").
void ValidateInput(const DecisionInput& in);

}  // namespace marquee
