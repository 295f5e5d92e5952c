// What the MetadataStore backends (sqlite_store.cc, pg_store.cc) share apart from their SQL
// dialect and connection handling: the registry's integrity rules (SQL both engines run), the
// reading of stored JSON, run-filter values, and the errors both give for the same state. Internal
// to src/registry. Thread-safe (pure functions).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "registry/metadata_store.h"

namespace marquee::store {

// The columns every backend reads a run from: FROM runs r LEFT JOIN model_versions v ON
// v.run_id = r.id LEFT JOIN external_runs e ON e.run_id = r.id (kRunDetailColumns after them
// when details are asked for, starting at column kRunDetailColumn).
inline constexpr const char* kRunColumns =
    "r.id, r.model_name, r.family, r.status, r.params, r.timings, r.dataset_id, r.protocol, "
    "r.protocol_key, r.artifact, r.code_version, r.host, r.pid, r.started_at, r.ended_at, "
    "v.version, e.run_id IS NOT NULL, e.description, e.dataset_given";
inline constexpr int kRunDetailColumn = 19;
inline constexpr const char* kRunDetailColumns =
    ", r.split, r.config_given, r.config_resolved, r.log";
// A version's columns, FROM model_versions v JOIN models m ON m.id = v.model_id.
inline constexpr const char* kVersionColumns =
    "m.name, v.version, v.artifact, v.run_id, v.dataset_id, v.family, v.protocol, "
    "v.protocol_key, v.metrics, v.metric_order, v.params, v.created_at";
inline constexpr const char* kExperimentSelect =
    "SELECT id, name, mode, salt, definition, source, state, created_at, first_started_at, "
    "updated_at FROM experiments";
// Every model with its version count, latest version and that version's created_at.
inline constexpr const char* kModelSelect =
    "SELECT m.id, m.name, m.description, m.created_at, "
    "(SELECT COUNT(*) FROM model_versions v WHERE v.model_id = m.id), "
    "(SELECT COALESCE(MAX(version), 0) FROM model_versions v WHERE v.model_id = m.id), "
    "(SELECT created_at FROM model_versions v WHERE v.model_id = m.id "
    "ORDER BY version DESC LIMIT 1) "
    "FROM models m";

// One rule: `sql` selects one text column, one row per problem, reported as "what: row".
struct IntegrityRule {
  const char* what;
  const char* sql;
};
// The rules on runs, versions and aliases (beyond the engine's own checks), in report order.
std::span<const IntegrityRule> IntegrityRules();

// Stored JSON text ("" reads as {}); kCorruption naming `what` when it does not parse.
nlohmann::json ParseStoredJson(const std::string& text, const char* what);

// A param filter's value as a number, when the whole text is one (finite).
std::optional<double> ParamNumber(const std::string& text);

// The SQL operator of a threshold: only the four comparisons, never text from the caller.
// kInvalidArgument for any other.
const char* ThresholdOp(const MetricThreshold& t);

// "v3", or "unset" for 0 (alias messages).
std::string VersionText(int64_t v);

// The record of version `version` registered from `v`.
VersionRecord RegisteredVersion(const NewVersion& v, int64_t version);

// kNotFound for run `run_id`.
[[noreturn]] void FailNoRun(int64_t run_id);

// kFailedPrecondition unless the run (found, `external`, with `status`) is an external run that
// is still running. `what` completes "cannot ... run N".
void CheckExternalRunning(int64_t run_id, bool external, std::string_view status,
                          std::string_view what);

}  // namespace marquee::store
