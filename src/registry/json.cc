#include "registry/json.h"

#include <cmath>

#include "common/time.h"

namespace marquee {
namespace {

nlohmann::json OrNull(int64_t v) { return v > 0 ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

nlohmann::json TimeJson(int64_t unix_seconds) {
  return unix_seconds > 0 ? nlohmann::json(IsoUtc(unix_seconds)) : nlohmann::json();
}

nlohmann::json RunToJson(const RunRecord& r, bool details) {
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json order = nlohmann::json::array();
  for (const auto& [k, v] : r.metrics) {
    metrics[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
    order.push_back(k);
  }
  nlohmann::json j = {{"id", r.id},
                      {"model", r.model_name},
                      {"version", OrNull(r.version)},
                      {"status", RunStatusName(r.status)},
                      {"family", r.family},
                      {"dataset_id", r.dataset_id},
                      {"protocol", r.protocol},
                      {"protocol_key", r.protocol_key},
                      {"artifact", r.artifact},
                      {"code_version", r.code_version},
                      {"host", r.host},
                      {"pid", r.pid},
                      {"started_at", TimeJson(r.started_at)},
                      {"ended_at", TimeJson(r.ended_at)},
                      {"params", r.params},
                      {"metrics", metrics},
                      {"metric_order", order},
                      {"timings", r.timings},
                      {"source", r.source},
                      {"description", r.description},
                      {"dataset", r.dataset_given},
                      {"tags", r.tags}};
  if (details) {
    j["config_given"] = r.config_given;
    j["config_resolved"] = r.config_resolved;
    j["split"] = r.split;
    j["log"] = r.log;
  }
  return j;
}

nlohmann::json RunPageToJson(const std::vector<RunRecord>& runs, int64_t total,
                             int64_t next_before) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : runs) arr.push_back(RunToJson(r, false));
  return {{"runs", arr}, {"total", total}, {"next_before", OrNull(next_before)}};
}

nlohmann::json VersionToJson(const VersionDetail& d) {
  const VersionRecord& v = d.record;
  return {{"model", v.model_name},
          {"version", v.version},
          {"ref", v.model_name + "/" + std::to_string(v.version)},
          {"artifact", v.artifact},
          {"run_id", OrNull(v.run_id)},
          {"dataset_id", v.dataset_id},
          {"family", v.family},
          {"protocol", v.protocol},
          {"protocol_key", v.protocol_key},
          {"metrics", v.metrics},
          {"metric_order", v.metric_order},
          {"params", v.params},
          {"created_at", TimeJson(v.created_at)},
          {"aliases", d.aliases},
          {"tags", d.tags}};
}

nlohmann::json AliasMoveToJson(const AliasMove& m) {
  return {{"alias", m.alias},
          {"from_version", OrNull(m.from_version)},
          {"to_version", m.to_version},
          {"action", m.action},
          {"note", m.note},
          {"at", TimeJson(m.at)}};
}

nlohmann::json ModelSummaryToJson(const ModelSummary& s) {
  const ModelRecord& m = s.model;
  return {{"name", m.name},
          {"description", m.description},
          {"versions", m.num_versions},
          {"latest_version", OrNull(m.latest_version)},
          {"aliases", s.aliases},
          {"created_at", TimeJson(m.created_at)},
          {"updated_at", TimeJson(m.updated_at)}};
}

nlohmann::json ModelOverviewToJson(const ModelOverview& o) {
  const ModelRecord& m = o.model;
  nlohmann::json history = nlohmann::json::array();
  for (const auto& move : o.alias_history) history.push_back(AliasMoveToJson(move));
  return {{"name", m.name},
          {"description", m.description},
          {"created_at", TimeJson(m.created_at)},
          {"versions", m.num_versions},
          {"latest_version", OrNull(m.latest_version)},
          {"latest", o.latest ? VersionToJson(*o.latest) : nlohmann::json()},
          {"aliases", o.aliases},
          {"alias_history", history},
          {"tags", o.tags}};
}

nlohmann::json MetricPointToJson(const MetricPoint& p) {
  return {{"step", p.step},
          {"value", p.value},
          {"timestamp_ms", p.timestamp_ms},
          {"timestamp",
           p.timestamp_ms > 0 ? nlohmann::json(IsoUtcMillis(p.timestamp_ms)) : nlohmann::json()}};
}

nlohmann::json MetricHistoryToJson(int64_t run_id, const std::string& key,
                                   const std::vector<MetricPoint>& points, int64_t limit) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& p : points) arr.push_back(MetricPointToJson(p));
  const bool more = limit > 0 && static_cast<int64_t>(points.size()) == limit;
  return {{"run_id", run_id},
          {"key", key},
          {"points", arr},
          {"next_after_step", more ? nlohmann::json(points.back().step) : nlohmann::json()}};
}

nlohmann::json MetricSummaryToJson(const MetricSummary& m) {
  return {{"key", m.key},
          {"points", m.points},
          {"last_step", m.last_step},
          {"last_value", m.last_value},
          {"last_timestamp_ms", m.last_timestamp_ms}};
}

nlohmann::json RunArtifactToJson(const RunArtifact& a) {
  return {{"name", a.name},
          {"digest", a.digest},
          {"bytes", a.bytes},
          {"created_at", TimeJson(a.created_at)}};
}

nlohmann::json TagsToJson(const TagSet& t) {
  return {{"model", t.model}, {"version", OrNull(t.version)}, {"tags", t.tags}};
}

}  // namespace marquee
