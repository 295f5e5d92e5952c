// ConfigSection: reads one [section] of a config document (TOML converted to JSON) with typed
// accessors and defaults, remembering which keys were read so that Finish() can reject the
// leftovers. Every error is kInvalidArgument and names the section and the key. Used by the
// recommender train config (src/pipeline/config.cc) and the tabular one (src/tabular/train.cc).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "marquee/error.h"

namespace marquee {

class ConfigSection {
 public:
  // `context` is appended to unknown-key errors, e.g. " for family \"xgboost\"".
  ConfigSection(const nlohmann::json& root, std::string name, std::string context = "")
      : name_(std::move(name)), context_(std::move(context)) {
    if (root.contains(name_)) {
      j_ = root.at(name_);
      if (!j_.is_object()) Fail(ErrorCode::kInvalidArgument, "[{}] must be a table", name_);
    } else {
      j_ = nlohmann::json::object();
    }
  }
  bool Has(const std::string& k) {
    known_.insert(k);
    return j_.contains(k);
  }
  const nlohmann::json& at(const std::string& k) const { return j_.at(k); }
  std::string String(const std::string& k, const std::string& def) {
    if (!Has(k)) return def;
    if (!j_[k].is_string()) Bad(k, "a string");
    return j_[k].get<std::string>();
  }
  double Number(const std::string& k, double def) {
    if (!Has(k)) return def;
    if (!j_[k].is_number()) Bad(k, "a number");
    return j_[k].get<double>();
  }
  int64_t Integer(const std::string& k, int64_t def, int64_t min) {
    if (!Has(k)) return def;
    if (!j_[k].is_number_integer()) Bad(k, "an integer");
    const int64_t v = j_[k].get<int64_t>();
    if (v < min)
      Fail(ErrorCode::kInvalidArgument, "[{}] {} must be >= {}, got {}", name_, k, min, v);
    return v;
  }
  bool Bool(const std::string& k, bool def) {
    if (!Has(k)) return def;
    if (!j_[k].is_boolean()) Bad(k, "true or false");
    return j_[k].get<bool>();
  }
  // A list of strings; a single string is taken as a list of one.
  std::vector<std::string> Strings(const std::string& k, std::vector<std::string> def = {}) {
    if (!Has(k)) return def;
    if (j_[k].is_string()) return {j_[k].get<std::string>()};
    if (!j_[k].is_array()) Bad(k, "a list of strings");
    std::vector<std::string> out;
    for (const auto& v : j_[k]) {
      if (!v.is_string()) Bad(k, "a list of strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  // Rejects every key no accessor asked for.
  void Finish() {
    for (const auto& [k, v] : j_.items()) {
      if (!known_.count(k)) {
        Fail(ErrorCode::kInvalidArgument, "unknown key '{}' in [{}]{} (known: {})", k, name_,
             context_, fmt::join(known_, ", "));
      }
    }
  }
  [[noreturn]] void Bad(const std::string& k, const char* want) {
    Fail(ErrorCode::kInvalidArgument, "[{}] {} must be {}, got {}", name_, k, want, j_[k].dump());
  }

 private:
  std::string name_;
  std::string context_;
  nlohmann::json j_;
  std::set<std::string> known_;
};

}  // namespace marquee
