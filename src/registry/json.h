// The registry's records as JSON: the one rendering that `marquee ... --json` prints and the
// HTTP API returns, so both give the same field names and values. Times are ISO 8601 UTC text
// (common/time.h), null when they never happened; unset versions and runs (0) are null.
// Pure functions of their arguments: no I/O, safe from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "registry/metadata_store.h"
#include "registry/registry.h"

namespace marquee {

// ISO 8601 UTC ("2026-12-05T07:05:41Z") for Unix seconds > 0, null for 0 (never happened).
nlohmann::json TimeJson(int64_t unix_seconds);

// A run: id, model, version (null if none), status, family, dataset_id, protocol, artifact,
// host, times, params, metrics (non-finite values null) and metric_order, timings, source
// ("train" | "external"), description, dataset (as a remote-tracking client named it; "" for a
// trained run) and tags; with `details` also config_given, config_resolved, split and log.
nlohmann::json RunToJson(const RunRecord& r, bool details);
// One page of `runs list`: {"runs": [...], "total": N, "next_before": id or null}.
nlohmann::json RunPageToJson(const std::vector<RunRecord>& runs, int64_t total,
                             int64_t next_before);
// A version with its ref ("model/N"), run_id (null without a run), aliases and tags.
nlohmann::json VersionToJson(const VersionDetail& v);
// One move of an alias (from_version null when the alias was unset).
nlohmann::json AliasMoveToJson(const AliasMove& m);
// A model as `models list` shows it: name, description, versions, latest_version, aliases.
nlohmann::json ModelSummaryToJson(const ModelSummary& m);
// What `models show NAME` prints: the model, its aliases and their history, its tags and its
// latest version (null when it has none).
nlohmann::json ModelOverviewToJson(const ModelOverview& o);
// The tags of a model (version null) or a version, after `models tag`.
nlohmann::json TagsToJson(const TagSet& t);
// One logged metric point: step, value, timestamp_ms and timestamp (ISO 8601 with milliseconds).
nlohmann::json MetricPointToJson(const MetricPoint& p);
// One page of a metric's history: {"run_id", "key", "points": [...], "next_after_step": the last
// step when the page is full (`limit` points; pass it as after_step for the next page), else
// null}.
nlohmann::json MetricHistoryToJson(int64_t run_id, const std::string& key,
                                   const std::vector<MetricPoint>& points, int64_t limit);
// A logged key: key, points, last_step, last_value, last_timestamp_ms.
nlohmann::json MetricSummaryToJson(const MetricSummary& m);
// A file logged to a run: name, digest, bytes, created_at.
nlohmann::json RunArtifactToJson(const RunArtifact& a);

}  // namespace marquee
