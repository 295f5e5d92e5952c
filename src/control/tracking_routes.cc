// Remote tracking over /api/v1/runs (MLflow-style): a run created by a client, metric points
// with steps, tags, artifacts, its end, and a version registered from one of its artifacts.
// Each route is one registry call (registry.h, "remote tracking") under a pooled Registry.
#include <filesystem>
#include <map>

#include "control/control_plane.h"
#include "control/route_util.h"
#include "control/views.h"
#include "registry/json.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

namespace {

// {"key": "value", ...} with string values only.
std::map<std::string, std::string> StringMap(const json& j, const char* key,
                                             std::string_view where) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) {
    Fail(ErrorCode::kInvalidArgument, "{}.{}: must be an object of strings", where, key);
  }
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) {
      Fail(ErrorCode::kInvalidArgument, "{}.{}.{}: must be a string", where, key,
           QuoteForMessage(k, 64));
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

int64_t IntField(const json& p, const char* key, std::string_view where, int64_t fallback) {
  auto it = p.find(key);
  if (it == p.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    Fail(ErrorCode::kInvalidArgument, "{}.{}: must be an integer", where, key);
  }
  return it->get<int64_t>();
}

// {"metrics": [{"key", "value", "step"?, "timestamp"? (Unix ms)}, ...]}.
std::vector<MetricPoint> ParseMetricPoints(const json& b) {
  auto it = b.find("metrics");
  if (it == b.end() || !it->is_array()) {
    Fail(ErrorCode::kInvalidArgument,
         "metrics: give {{\"metrics\": [{{\"key\": \"auc\", \"value\": 0.8, \"step\": 1}}, ...]}}");
  }
  if (it->size() > kMaxMetricPointsPerCall) {
    Fail(ErrorCode::kResourceExhausted, "metrics: {} points in one call (at most {})", it->size(),
         kMaxMetricPointsPerCall);
  }
  std::vector<MetricPoint> points;
  points.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& p = (*it)[i];
    const std::string where = fmt::format("metrics[{}]", i);
    if (!p.is_object()) Fail(ErrorCode::kInvalidArgument, "{}: must be an object", where);
    CheckKnownFields(p, where, {"key", "value", "step", "timestamp"});
    MetricPoint m;
    m.key = StringField(p, "key", where);
    auto v = p.find("value");
    if (v == p.end() || !v->is_number()) {
      Fail(ErrorCode::kInvalidArgument, "{}.value: must be a number", where);
    }
    m.value = v->get<double>();
    m.step = IntField(p, "step", where, 0);
    m.timestamp_ms = IntField(p, "timestamp", where, 0);
    points.push_back(std::move(m));
  }
  return points;
}

}  // namespace

void ControlPlane::AddTrackingRoutes(Service& s) {
  s.AddRoute({"POST", "/api/v1/runs", kScopeWrite,
              Sync(
                  [this](const Request& req) {
                    const json b = BodyObject(req, "run",
                                              {"model", "family", "params", "tags", "dataset",
                                               "description", "code_version", "host", "pid"});
                    ExternalRunSpec spec;
                    spec.model_name = StringField(b, "model", "run");
                    spec.family = StringField(b, "family", "run", false);
                    if (b.contains("params") && !b["params"].is_null()) {
                      if (!b["params"].is_object()) {
                        Fail(ErrorCode::kInvalidArgument, "run.params: must be an object");
                      }
                      spec.params = b["params"];
                    }
                    spec.tags = StringMap(b, "tags", "run");
                    spec.dataset = StringField(b, "dataset", "run", false);
                    spec.description = StringField(b, "description", "run", false);
                    spec.code_version = StringField(b, "code_version", "run", false);
                    spec.host = StringField(b, "host", "run", false);
                    spec.pid = IntField(b, "pid", "run", 0);
                    auto reg = registries_.Acquire();
                    return RunToJson(reg->GetRun(reg->StartExternalRun(spec)), true);
                  },
                  201)});
  s.AddRoute({"POST", "/api/v1/runs/{id}/metrics", kScopeWrite, Sync([this](const Request& req) {
                const json b = BodyObject(req, "metrics", {"metrics"});
                const std::vector<MetricPoint> points = ParseMetricPoints(b);
                auto reg = registries_.Acquire();
                reg->LogMetrics(PathId(req, "id"), points);
                return json{{"logged", points.size()}};
              })});
  s.AddRoute({"GET", "/api/v1/runs/{id}/metrics", kScopeRead, Sync([this](const Request& req) {
                const int64_t id = PathId(req, "id");
                auto reg = registries_.Acquire();
                json arr = json::array();
                for (const auto& m : reg->MetricSummaries(id))
                  arr.push_back(MetricSummaryToJson(m));
                return json{{"run_id", id}, {"metrics", arr}};
              })});
  s.AddRoute(
      {"GET", "/api/v1/runs/{id}/metrics/{key}", kScopeRead, Sync([this](const Request& req) {
         const int64_t id = PathId(req, "id");
         const int64_t after = QueryInt(req, "after_step", -1, std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max());
         const int64_t limit = QueryInt(req, "limit", 1000, 1, 100000);
         auto reg = registries_.Acquire();
         reg->GetRun(id);  // kNotFound for an unknown run, not an empty history
         return MetricHistoryToJson(id, req.param("key"),
                                    reg->MetricHistory(id, req.param("key"), after, limit), limit);
       })});
  s.AddRoute({"PUT", "/api/v1/runs/{id}/tags", kScopeWrite, Sync([this](const Request& req) {
                const json b = BodyObject(req, "tags", {"set", "remove"});
                std::vector<std::pair<std::string, std::string>> set;
                for (auto& [k, v] : StringMap(b, "set", "tags")) set.emplace_back(k, v);
                auto reg = registries_.Acquire();
                return json{{"run_id", PathId(req, "id")},
                            {"tags", reg->SetRunTags(PathId(req, "id"), set,
                                                     StringList(b, "remove", "tags"))}};
              })});
  RouteRow upload{
      "POST", "/api/v1/runs/{id}/artifacts/{name}", kScopeWrite,
      Sync(
          [this](const Request& req) {
            const int64_t id = PathId(req, "id");
            auto reg = registries_.Acquire();
            // The body was spooled to a file (stream_body); the registry copies it
            // into the content-addressed store and the server removes the spool.
            return RunArtifactToJson(reg->LogRunArtifact(id, req.param("name"), req.body_file));
          },
          201)};
  upload.stream_body = true;
  s.AddRoute(std::move(upload));
  s.AddRoute({"GET", "/api/v1/runs/{id}/artifacts", kScopeRead, Sync([this](const Request& req) {
                const int64_t id = PathId(req, "id");
                auto reg = registries_.Acquire();
                json arr = json::array();
                for (const auto& a : reg->RunArtifacts(id)) arr.push_back(RunArtifactToJson(a));
                return json{{"run_id", id}, {"artifacts", arr}};
              })});
  s.AddRoute({"POST", "/api/v1/runs/{id}/finish", kScopeWrite, Sync([this](const Request& req) {
                const json b = BodyObject(req, "finish", {"status", "message"});
                const std::string status = StringField(b, "status", "finish");
                if (status != "completed" && status != "failed") {
                  Fail(ErrorCode::kInvalidArgument,
                       "finish.status: 'completed' or 'failed', got '{}'",
                       QuoteForMessage(status, 64));
                }
                auto reg = registries_.Acquire();
                return RunToJson(reg->FinishExternalRun(PathId(req, "id"), ParseRunStatus(status),
                                                        StringField(b, "message", "finish", false)),
                                 true);
              })});
  s.AddRoute({"POST", "/api/v1/runs/{id}/register", kScopeWrite,
              Sync(
                  [this](const Request& req) {
                    const json b = BodyObject(req, "register", {"artifact", "family", "model"});
                    auto reg = registries_.Acquire();
                    const VersionRecord v = reg->RegisterRunArtifact(
                        PathId(req, "id"), StringField(b, "artifact", "register"),
                        StringField(b, "family", "register"),
                        StringField(b, "model", "register", false));
                    return VersionView(*reg, v.model_name, std::to_string(v.version));
                  },
                  201)});
}

}  // namespace marquee
