// Keys shared by the live-traffic steps (shadow, canary): durations and event types.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "experiments/experiment.h"
#include "flow/step.h"
#include "marquee/error.h"

namespace marquee::flow {

// spec[key] as a duration: a number of seconds (fractions allowed) or text ParseDuration reads
// ("90s", "10m", "1h"); `fallback` when absent. kInvalidArgument naming the key otherwise.
inline std::chrono::milliseconds DurationKey(const nlohmann::json& spec, const char* key,
                                             std::chrono::milliseconds fallback) {
  auto it = spec.find(key);
  if (it == spec.end()) return fallback;
  if (it->is_number()) {
    const double s = it->get<double>();
    if (!(s > 0 && s < 1e9)) Fail(ErrorCode::kInvalidArgument, "'{}' must be positive", key);
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
  }
  if (!it->is_string()) {
    Fail(ErrorCode::kInvalidArgument, "'{}' must be seconds or a duration like \"10m\"", key);
  }
  return std::chrono::seconds(ParseDuration(it->get<std::string>(), key));
}

// spec["event_types"]: the event types that count as plays (empty: any, value > 0).
inline std::vector<std::string> EventTypesKey(const nlohmann::json& spec) {
  std::vector<std::string> out;
  auto it = spec.find("event_types");
  if (it == spec.end()) return out;
  if (!it->is_array()) Fail(ErrorCode::kInvalidArgument, "'event_types' must be a list of strings");
  for (const auto& t : *it) {
    if (!t.is_string()) {
      Fail(ErrorCode::kInvalidArgument, "'event_types' must be a list of strings");
    }
    out.push_back(t.get<std::string>());
  }
  return out;
}

}  // namespace marquee::flow
