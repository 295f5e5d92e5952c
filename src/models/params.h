// ParamReader: reads a family's parameters from a JSON object with defaults, rejecting wrong
// types and (on Finish) unknown keys, with messages that name the key and the family.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

#include "marquee/error.h"

namespace marquee {

class ParamReader {
 public:
  ParamReader(std::string family, const nlohmann::json& params)
      : family_(std::move(family)), params_(params.is_null() ? nlohmann::json::object() : params) {
    if (!params_.is_object()) {
      Fail(ErrorCode::kInvalidArgument, "parameters of family '{}' must be a table", family_);
    }
  }

  double Number(const std::string& key, double def, double min, double max) {
    known_.insert(key);
    resolved_[key] = def;
    if (!params_.contains(key)) return def;
    const auto& v = params_[key];
    if (!v.is_number()) Bad(key, "a number", v);
    double x = v.get<double>();
    if (!(x >= min && x <= max)) {
      Fail(ErrorCode::kInvalidArgument,
           "[model] {} = {} is out of range for family '{}' ({} .. {})", key, x, family_, min, max);
    }
    resolved_[key] = x;
    return x;
  }
  int64_t Integer(const std::string& key, int64_t def, int64_t min, int64_t max) {
    known_.insert(key);
    resolved_[key] = def;
    if (!params_.contains(key)) return def;
    const auto& v = params_[key];
    if (!v.is_number_integer()) Bad(key, "an integer", v);
    int64_t x = v.get<int64_t>();
    if (x < min || x > max) {
      Fail(ErrorCode::kInvalidArgument,
           "[model] {} = {} is out of range for family '{}' ({} .. {})", key, x, family_, min, max);
    }
    resolved_[key] = x;
    return x;
  }
  std::string Choice(const std::string& key, const std::string& def,
                     const std::vector<std::string>& allowed) {
    known_.insert(key);
    resolved_[key] = def;
    if (!params_.contains(key)) return def;
    const auto& v = params_[key];
    if (!v.is_string()) Bad(key, "a string", v);
    std::string x = v.get<std::string>();
    for (const auto& a : allowed) {
      if (a == x) {
        resolved_[key] = x;
        return x;
      }
    }
    Fail(ErrorCode::kInvalidArgument, "[model] {} = \"{}\" is not one of: {}", key, x,
         fmt::join(allowed, ", "));
  }
  bool Bool(const std::string& key, bool def) {
    known_.insert(key);
    resolved_[key] = def;
    if (!params_.contains(key)) return def;
    const auto& v = params_[key];
    if (!v.is_boolean()) Bad(key, "true or false", v);
    resolved_[key] = v.get<bool>();
    return v.get<bool>();
  }
  // Rejects keys that no accessor asked for. Keys the pipeline owns are ignored.
  void Finish() {
    for (const auto& [k, v] : params_.items()) {
      if (known_.count(k) || k == "family" || k == "name" || k == "description" || k == "seed") {
        continue;
      }
      Fail(ErrorCode::kInvalidArgument, "unknown parameter '{}' for family '{}' (known: {})", k,
           family_, fmt::join(known_, ", "));
    }
  }
  const nlohmann::json& resolved() const { return resolved_; }

 private:
  [[noreturn]] void Bad(const std::string& key, const char* want, const nlohmann::json& v) {
    Fail(ErrorCode::kInvalidArgument, "[model] {} must be {} for family '{}', got {}", key, want,
         family_, v.dump());
  }
  std::string family_;
  nlohmann::json params_;
  nlohmann::json resolved_ = nlohmann::json::object();
  std::set<std::string> known_;
};

}  // namespace marquee
