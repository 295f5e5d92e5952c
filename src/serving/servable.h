// Servable: what the server holds of one loaded model version, whatever its kind, and KindOf,
// the one place serving maps a registry family to a kind of model.
//
// Kinds: "recommender" (the Recommender families, scored by /v1/recommend and
// /v1/similar-items), "bandit" (contextual-bandit policies, /v1/decide), "tabular" (XGBoost,
// /v1/predict). Serving asks KindOf instead of comparing family names; the server takes it as
// an option (ServerCoreOptions::kind_of); the default asks the registry of model kinds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace marquee::serving {

inline constexpr const char* kKindRecommender = "recommender";
inline constexpr const char* kKindBandit = "bandit";
inline constexpr const char* kKindTabular = "tabular";

// One loaded, immutable model version (the recommender's ServableModel derives from it).
struct Servable {
  virtual ~Servable() = default;
  std::string name;  // the registry model name
  int64_t version = 0;
  std::string digest;  // the artifact's sha256
  std::string family;
  // The /v1/models fields of this version ({"version", "family", "artifact", ...}).
  virtual nlohmann::json Describe() const {
    return {{"version", version}, {"family", family}, {"artifact", digest}};
  }
};

// The kind of a registry family, from the built-in kinds (kinds/builtin.h): "recommender",
// "bandit" or "tabular"; "" for a family no kind owns. An empty family (versions registered
// before families were recorded) is a recommender. Thread-safe.
std::string DefaultKindOf(const std::string& family);
using KindOfFn = std::function<std::string(const std::string& family)>;

}  // namespace marquee::serving
