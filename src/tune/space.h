// SearchSpace: what `marquee tune` searches over (docs/config.md, "Search spaces"): one TOML
// table per [model] parameter, each `uniform`, `loguniform`, `int` (optionally log) or `choice`,
// plus an optional [schedule] naming the iterative parameter successive halving budgets
// (iALS iterations, BPR epochs, XGBoost rounds). Every family that can be tuned ships a default
// space (DefaultSearchSpace), so `marquee tune CONFIG` needs no space file.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace marquee {

struct ParamSpec {
  enum class Type { kUniform, kLogUniform, kInt, kChoice };
  std::string name;  // the [model] key it sets
  Type type = Type::kUniform;
  double low = 0, high = 0;            // uniform, loguniform, int (inclusive)
  bool log = false;                    // int: sampled on a log scale
  std::vector<nlohmann::json> values;  // choice: strings, numbers or booleans
};

// Successive halving over an iterative parameter: rung k trains with min * eta^k (the last rung
// with max); a trial continues past a rung only when it is in the top 1/eta there.
struct Schedule {
  std::string param;  // "" = no early stopping
  int64_t min = 0, max = 0;
  int64_t eta = 4;
  // The resource of each rung, ascending, ending with max.
  std::vector<int64_t> Rungs() const;
};

struct SearchSpace {
  std::vector<ParamSpec> params;  // sorted by name
  Schedule schedule;

  const ParamSpec* Find(const std::string& name) const;
  // The space as its TOML document reads (as JSON), for the study record; FromJson reads it
  // back with the same checks as ParseSearchSpace.
  nlohmann::json ToJson() const;
  static SearchSpace FromJson(const nlohmann::json& document, const std::string& origin);
};

// Parses a space file's text. `origin` names it in errors. kInvalidArgument naming the
// parameter for: an unknown type or key, a missing or non-numeric bound, low >= high, a
// non-positive bound of a log scale, non-integer int bounds, an empty or mixed choice list, a
// schedule whose parameter is also searched or whose bounds are not 1 <= min < max, eta < 2.
SearchSpace ParseSearchSpace(const std::string& toml_text, const std::string& origin);

// The default space of `family`; kNotFound naming the families that have one.
SearchSpace DefaultSearchSpace(const std::string& family);
// The families with a default space.
std::vector<std::string> FamiliesWithDefaultSpace();

}  // namespace marquee
