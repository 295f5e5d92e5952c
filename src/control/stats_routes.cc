// What `marquee serve` has served, over /api/v1 (the dashboard's serving page): per route and
// per loaded model version, request and error counts with latency percentiles from the server's
// own histograms (serving/metrics.h), event ingest and bandit counters. Counters are cumulative
// (a route's since the server started, a version's since it was loaded); a client computes
// rates from two reads.
#include <chrono>

#include "bandits/decision_log.h"
#include "common/time.h"
#include "control/control_plane.h"
#include "control/route_util.h"
#include "registry/json.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

namespace {

json LatencyJson(std::span<const uint64_t> buckets) {
  const LatencyPercentiles p = PercentilesOf(buckets);
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

int64_t UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

json ServingStatsJson(ServerCore& core) {
  const ServingMetrics& metrics = *core.metrics();
  const auto now = std::chrono::system_clock::now();
  json routes = json::array();
  for (const ServingMetrics::RouteStats& r : metrics.Routes()) {
    routes.push_back({{"route", r.route},
                      {"requests", r.requests},
                      {"errors_4xx", r.errors_4xx},
                      {"errors_5xx", r.errors_5xx},
                      {"latency_ms", LatencyJson(r.latency)}});
  }
  json models = json::array();
  for (const VersionStats& v : core.models()->Versions()) {
    json m = {{"model", v.model},
              {"version", v.version ? json(*v.version) : json(nullptr)},
              {"refs", v.refs},
              {"aliases", v.aliases},
              {"kind", v.kind},
              {"state", v.state},
              {"loaded_at", v.version ? TimeJson(v.loaded_at) : json(nullptr)},
              {"requests", v.requests},
              {"errors", v.errors},
              {"latency_ms", LatencyJson(v.latency)}};
    if (!v.error.empty()) m["error"] = v.error;
    models.push_back(std::move(m));
  }
  json bandits = {{"decisions_total", 0}, {"rewards_total", 0}, {"defaulted_total", 0}};
  if (const DecisionLog* log = core.decisions(); log != nullptr) {
    const DecisionLog::Stats st = log->stats();
    bandits = {{"decisions_total", st.decisions},
               {"rewards_total", st.joined},
               {"defaulted_total", st.defaulted}};
  }
  return {{"started_at", IsoUtcMillis(UnixMillis(metrics.started_at()))},
          {"now", IsoUtcMillis(UnixMillis(now))},
          {"uptime_s", std::chrono::duration<double>(now - metrics.started_at()).count()},
          {"routes", std::move(routes)},
          {"models", std::move(models)},
          {"events", {{"ingested_total", metrics.events()}}},
          {"bandits", std::move(bandits)}};
}

void ControlPlane::AddStatsRoutes(Service& s) {
  s.AddRoute({"GET", "/api/v1/serving/stats", kScopeRead,
              Sync([this](const Request&) { return ServingStatsJson(*core_); })});
}

}  // namespace marquee
