#include "registry/store_rules.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/text.h"
#include "marquee/error.h"

namespace marquee::store {

std::span<const IntegrityRule> IntegrityRules() {
  static const IntegrityRule kRules[] = {
      {"alias on a missing version",
       "SELECT m.name || '@' || a.alias || ' -> ' || a.version FROM aliases a "
       "LEFT JOIN models m ON m.id = a.model_id LEFT JOIN model_versions v "
       "ON v.model_id = a.model_id AND v.version = a.version WHERE v.version IS NULL"},
      // A trained run completes and registers its version in one transaction; an external run
      // (remote tracking) logs metrics while running, may finish without a version, and may
      // register one from its artifacts while running: these three rules are a trained run's.
      {"completed run without its version",
       "SELECT 'run ' || r.id FROM runs r LEFT JOIN model_versions v ON v.run_id = r.id "
       "WHERE r.status = 'completed' AND (v.version IS NULL OR r.artifact IS NULL "
       "OR r.ended_at IS NULL) AND r.id NOT IN (SELECT run_id FROM external_runs)"},
      {"version whose run is not completed",
       "SELECT m.name || '/' || v.version || ' (run ' || r.id || ' is ' || r.status || ')' "
       "FROM model_versions v JOIN models m ON m.id = v.model_id "
       "JOIN runs r ON r.id = v.run_id WHERE (r.status != 'completed' "
       "OR r.artifact != v.artifact) AND r.id NOT IN (SELECT run_id FROM external_runs)"},
      {"metrics of a run that is not completed",
       "SELECT 'run ' || run_id FROM run_metrics GROUP BY run_id HAVING run_id NOT IN "
       "(SELECT id FROM runs WHERE status = 'completed' UNION "
       "SELECT run_id FROM external_runs)"},
      {"external run that failed with a version",
       "SELECT 'run ' || r.id || ' (' || r.status || ')' FROM runs r JOIN model_versions v "
       "ON v.run_id = r.id WHERE r.status NOT IN ('running', 'completed') "
       "AND r.id IN (SELECT run_id FROM external_runs)"},
      {"metric history of a run that is not external",
       "SELECT 'run ' || run_id || ' ' || key FROM run_metric_history "
       "GROUP BY run_id, key HAVING run_id NOT IN (SELECT run_id FROM external_runs)"},
  };
  return kRules;
}

nlohmann::json ParseStoredJson(const std::string& text, const char* what) {
  if (text.empty()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "registry: damaged {} JSON: {}", what, e.what());
  }
}

std::optional<double> ParamNumber(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

const char* ThresholdOp(const MetricThreshold& t) {
  for (const char* op : {">=", ">", "<=", "<"}) {
    if (t.op == op) return op;
  }
  Fail(ErrorCode::kInvalidArgument, "metric filter on '{}': unknown operator '{}' (>=, >, <=, <)",
       t.metric, QuoteForMessage(t.op));
}

std::string VersionText(int64_t v) { return v == 0 ? "unset" : "v" + std::to_string(v); }

VersionRecord RegisteredVersion(const NewVersion& v, int64_t version) {
  VersionRecord out;
  out.model_name = v.model_name;
  out.version = version;
  out.artifact = v.artifact;
  out.run_id = v.run_id;
  out.dataset_id = v.dataset_id;
  out.family = v.family;
  out.protocol = v.protocol;
  out.protocol_key = v.protocol_key;
  out.metrics = v.metrics;
  out.metric_order = v.metric_order;
  out.params = v.params;
  out.created_at = v.created_at;
  return out;
}

void FailNoRun(int64_t run_id) {
  Fail(ErrorCode::kNotFound, "no run {} (marquee runs list shows them)", run_id);
}

void CheckExternalRunning(int64_t run_id, bool external, std::string_view status,
                          std::string_view what) {
  if (!external) {
    Fail(ErrorCode::kFailedPrecondition,
         "cannot {} run {}: it was recorded by marquee train; only a run started through "
         "remote tracking takes logged metrics and artifacts",
         what, run_id);
  }
  if (status != "running") {
    Fail(ErrorCode::kFailedPrecondition, "cannot {} run {}: it is {}, not running", what, run_id,
         status);
  }
}

}  // namespace marquee::store
