#include "bandits/features.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "marquee/error.h"

namespace marquee {
namespace {

uint64_t HashKey(char ns, std::string_view name, const std::string* category) {
  // The key: ns, 0x1f, name[, '=', value].
  thread_local std::string key;
  key.clear();
  key.push_back(ns);
  key.push_back('\x1f');
  key.append(name);
  if (category != nullptr) {
    key.push_back('=');
    key.append(*category);
  }
  return XXH64(key.data(), key.size(), 0);
}

uint64_t HashPair(uint64_t a, uint64_t b) {
  unsigned char buf[16];
  for (int i = 0; i < 8; ++i) {
    buf[i] = static_cast<unsigned char>(a >> (8 * i));
    buf[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  return XXH64(buf, sizeof(buf), 0);
}

inline void Add(float* out, uint32_t dim, uint64_t h, double v) {
  const float s = (h >> 63) != 0 ? -1.0f : 1.0f;
  out[h % dim] += s * static_cast<float>(v);
}

const uint64_t kBiasHash = HashKey('b', "bias", nullptr);

}  // namespace

void KeyFeatures(char ns, const FeatureMap& m, std::vector<KeyedFeature>* out) {
  for (const auto& [name, v] : m) {
    if (const double* d = std::get_if<double>(&v)) {
      if (*d == 0.0) continue;
      out->push_back({HashKey(ns, name, nullptr), *d});
    } else {
      out->push_back({HashKey(ns, name, &std::get<std::string>(v)), 1.0});
    }
  }
}

const KeyedInput& KeyedScratch::Key(const FeatureMap& context, const std::vector<Action>& actions) {
  context_.clear();
  action_features_.clear();
  KeyFeatures('c', context, &context_);
  std::vector<size_t>& begin = begin_;  // offsets: the features' vector may reallocate
  begin.clear();
  for (const Action& a : actions) {
    begin.push_back(action_features_.size());
    KeyFeatures('a', a.features, &action_features_);
  }
  begin.push_back(action_features_.size());
  input_.context = context_;
  input_.actions.clear();
  for (size_t i = 0; i < actions.size(); ++i) {
    input_.actions.push_back({actions[i].id, HashKey('a', "_id", &actions[i].id),
                              std::span<const KeyedFeature>(action_features_.data() + begin[i],
                                                            begin[i + 1] - begin[i])});
  }
  return input_;
}

uint64_t BiasFeatureKey() { return kBiasHash; }

uint64_t FeatureHash(char ns, const std::string& name, const FeatureValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return HashKey(ns, name, s);
  return HashKey(ns, name, nullptr);
}

FeatureSpec FeatureSpec::FromJson(const nlohmann::json& j) {
  FeatureSpec s;
  if (j.is_null()) return s;
  if (!j.is_object()) Fail(ErrorCode::kInvalidArgument, "features must be an object");
  for (const auto& item : j.items()) {
    // Named references, not a structured binding: clang 14 (the fuzz build) cannot capture
    // structured bindings in the lambda below.
    const std::string& k = item.key();
    const nlohmann::json& v = item.value();
    auto need_bool = [&](bool& dst) {
      if (!v.is_boolean())
        Fail(ErrorCode::kInvalidArgument, "features.{} must be true or false", k);
      dst = v.get<bool>();
    };
    if (k == "dim") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65536) {
        Fail(ErrorCode::kInvalidArgument, "features.dim must be an integer in 1..65536, got {}",
             v.dump());
      }
      s.dim = v.get<uint32_t>();
    } else if (k == "context") {
      need_bool(s.context);
    } else if (k == "action") {
      need_bool(s.action);
    } else if (k == "action_id") {
      need_bool(s.action_id);
    } else if (k == "bias") {
      need_bool(s.bias);
    } else if (k == "interactions") {
      if (!v.is_array()) {
        Fail(ErrorCode::kInvalidArgument,
             "features.interactions must be a list of pairs, e.g. [[\"context\", \"action\"]]");
      }
      s.cross = false;
      for (const auto& p : v) {
        if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string()) {
          Fail(ErrorCode::kInvalidArgument, "features.interactions: {} is not a pair of names",
               p.dump());
        }
        std::string a = p[0].get<std::string>(), b = p[1].get<std::string>();
        if (a > b) std::swap(a, b);
        if (a != "action" || b != "context") {
          Fail(ErrorCode::kInvalidArgument,
               "features.interactions: unknown interaction {} (known: [\"context\", \"action\"])",
               p.dump());
        }
        s.cross = true;
      }
    } else {
      Fail(ErrorCode::kInvalidArgument,
           "features.{}: unknown setting (known: dim, context, action, action_id, bias, "
           "interactions)",
           k);
    }
  }
  return s;
}

nlohmann::json FeatureSpec::ToJson() const {
  nlohmann::json inter = nlohmann::json::array();
  if (cross) inter.push_back({"context", "action"});
  return {{"dim", dim},   {"context", context},   {"action", action}, {"action_id", action_id},
          {"bias", bias}, {"interactions", inter}};
}

void Featurizer::Joint(const FeatureMap& context, const Action& action, float* out) const {
  thread_local std::vector<KeyedFeature> cf, af;
  cf.clear();
  af.clear();
  KeyFeatures('c', context, &cf);
  KeyFeatures('a', action.features, &af);
  Joint(cf, KeyedAction{action.id, HashKey('a', "_id", &action.id), af}, out);
}

void Featurizer::Joint(std::span<const KeyedFeature> cf, const KeyedAction& action,
                       float* out) const {
  const uint32_t d = spec_.dim;
  std::fill(out, out + d, 0.0f);
  // The action's features, then its id (one order for every sum, so results are bit-identical).
  auto each_action = [&](auto&& fn) {
    for (const auto& a : action.features) fn(a.key, a.value);
    if (spec_.action_id) fn(action.id_key, 1.0);
  };
  if (spec_.bias) Add(out, d, kBiasHash, 1.0);
  if (spec_.context) {
    for (const auto& r : cf) Add(out, d, r.key, r.value);
  }
  if (spec_.action) each_action([&](uint64_t k, double v) { Add(out, d, k, v); });
  if (spec_.cross) {
    for (const auto& c : cf) {
      each_action([&](uint64_t k, double v) { Add(out, d, HashPair(c.key, k), c.value * v); });
    }
  }
}

std::vector<float> Featurizer::Joint(const FeatureMap& context, const Action& action) const {
  std::vector<float> v(spec_.dim);
  Joint(context, action, v.data());
  return v;
}

void Featurizer::ContextOnly(const FeatureMap& context, float* out) const {
  thread_local std::vector<KeyedFeature> cf;
  cf.clear();
  KeyFeatures('c', context, &cf);
  ContextOnly(cf, out);
}

void Featurizer::ContextOnly(std::span<const KeyedFeature> cf, float* out) const {
  const uint32_t d = spec_.dim;
  std::fill(out, out + d, 0.0f);
  if (spec_.bias) Add(out, d, kBiasHash, 1.0);
  for (const auto& r : cf) Add(out, d, r.key, r.value);
}

std::vector<float> Featurizer::ContextOnly(const FeatureMap& context) const {
  std::vector<float> v(spec_.dim);
  ContextOnly(context, v.data());
  return v;
}

namespace {
void ValidateMap(const FeatureMap& m, const std::string& where) {
  const bool many = m.size() > 32;
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < m.size(); ++i) {
    const auto& [name, v] = m[i];
    if (name.empty()) Fail(ErrorCode::kInvalidArgument, "{}: a feature has an empty name", where);
    if (const double* d = std::get_if<double>(&v); d != nullptr && !std::isfinite(*d)) {
      Fail(ErrorCode::kInvalidArgument, "{}.{}: not a finite number", where, name);
    }
    bool dup = false;
    if (many) {
      dup = !seen.insert(name).second;
    } else {
      for (size_t j = 0; j < i && !dup; ++j) dup = m[j].first == name;
    }
    if (dup) Fail(ErrorCode::kInvalidArgument, "{}: duplicate feature name '{}'", where, name);
  }
}
}  // namespace

void ValidateInput(const DecisionInput& in) {
  if (in.actions.empty()) Fail(ErrorCode::kInvalidArgument, "actions: at least one is required");
  ValidateMap(in.context, "context");
  // Duplicate ids: pairwise for the usual handful of actions, a hash set for long lists.
  const bool many = in.actions.size() > 32;
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < in.actions.size(); ++i) {
    const Action& a = in.actions[i];
    if (a.id.empty()) Fail(ErrorCode::kInvalidArgument, "actions[{}].id: empty", i);
    bool dup = false;
    if (many) {
      dup = !seen.insert(a.id).second;
    } else {
      for (size_t j = 0; j < i && !dup; ++j) dup = in.actions[j].id == a.id;
    }
    if (dup) {
      Fail(ErrorCode::kInvalidArgument, "actions[{}].id: duplicate action id '{}'", i, a.id);
    }
    if (!a.features.empty()) ValidateMap(a.features, fmt::format("actions[{}].features", i));
  }
}

}  // namespace marquee
