// Datasets and decisions over /api/v1: list, show, import (an upload streamed to disk, or a
// path on the server; interaction files, tabular CSVs and bandit logs, as `dataset import`
// takes them), histograms for the dashboard, and delete dataset names; the bandit decision log
// exported as a stream.
#include <filesystem>

#include "bandits/decision_log.h"
#include "common/time.h"
#include "control/control_plane.h"
#include "control/route_util.h"
#include "control/views.h"
#include "state/online_state.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

namespace {

bool TruthText(std::string_view v) { return v == "1" || v == "true" || v == "True"; }

using Params = std::vector<std::pair<std::string, std::string>>;

}  // namespace

void ControlPlane::AddDataRoutes(Service& s) {
  const std::string home = options_.home;
  s.AddRoute({"GET", "/api/v1/datasets", kScopeRead,
              Sync([home](const Request&) { return DatasetsListView(home); })});
  s.AddRoute({"GET", "/api/v1/datasets/{name}", kScopeRead, Sync([home](const Request& req) {
                return DatasetShowView(home, req.param("name"));
              })});
  s.AddRoute(
      {"GET", "/api/v1/datasets/{name}/histograms", kScopeRead, Sync([home](const Request& req) {
         return DatasetHistogramsView(home, req.param("name"));
       })});
  s.AddRoute({"DELETE", "/api/v1/datasets/{name}", kScopeAdmin, Sync([home](const Request& req) {
                return DeleteDatasetView(home, req.param("name"));
              })});
  // The file as the body (streamed to disk by the transport) with the reader options as query
  // parameters; or a JSON body {"path": "a file on the server", options...}.
  RouteRow import{
      "POST", "/api/v1/datasets/{name}", kScopeWrite,
      Sync(
          [home](const Request& req) {
            const std::string& name = req.param("name");
            if (req.content_type.starts_with("application/json")) {
              const json b = json::parse(Env::Default()->ReadFile(req.body_file), nullptr, false);
              if (b.is_discarded() || !b.is_object() || !b.contains("path")) {
                Fail(ErrorCode::kInvalidArgument,
                     "dataset import: a JSON body is {{\"path\": \"a file on the "
                     "server\", reader options...}}; send the file itself as "
                     "application/octet-stream");
              }
              Params opts;
              for (const auto& [k, v] : b.items()) {
                if (v.is_array()) {  // type, drop: one parameter per element
                  for (const auto& e : v) {
                    opts.emplace_back(k, e.is_string() ? e.get<std::string>() : e.dump());
                  }
                } else {
                  opts.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
                }
              }
              return ImportDatasetFileView(home, name, b["path"].get<std::string>(), opts, false);
            }
            return ImportDatasetFileView(home, name, req.body_file, ParseQuery(req.target), true);
          },
          201)};
  import.stream_body = true;
  s.AddRoute(std::move(import));
  s.AddRoute({"GET", "/api/v1/decisions", kScopeRead, [home](const Request& req, Respond& done) {
                const std::string format = req.query("format").value_or("jsonl");
                if (format != "dsjson" && format != "jsonl" && format != "bandit-jsonl") {
                  Fail(ErrorCode::kInvalidArgument,
                       "format: '{}' is not one of jsonl, dsjson, bandit-jsonl",
                       QuoteForMessage(format, 32));
                }
                const int64_t since = QueryTime(req, "since");
                const std::string policy = req.query("policy").value_or("");
                const bool include_open = TruthText(req.query("include_open").value_or(""));
                // Read-only beside the server's own writer, as `decisions export`, wherever the
                // home's backends keep the decisions (its RocksDB, or Redis).
                std::shared_ptr<DecisionLog> log = OpenDecisionStoreForRead(home);
                Response r;
                r.content_type = "application/x-ndjson";
                r.stream = [log, format, since, policy, include_open](ResponseWriter& w) {
                  std::string buf;
                  bool gone = false;
                  log->ForEach(since * 1000, [&](const Decision& d) {
                    if (!policy.empty() && d.model != policy) return true;
                    const bool open = d.outcome.kind == OutcomeKind::kOpen;
                    if (open && (format != "jsonl" || !include_open)) return true;
                    if (format == "dsjson") {
                      buf += ToDsjson(d).dump();
                    } else if (format == "bandit-jsonl") {
                      buf += ToBanditJsonl(d).dump();
                    } else {
                      buf += ToJsonl(d).dump();
                    }
                    buf += '\n';
                    if (buf.size() >= (64 << 10)) {
                      gone = !w.Write(buf);
                      buf.clear();
                    }
                    return !gone;
                  });
                  if (!gone && !buf.empty()) w.Write(buf);
                };
                done(std::move(r));
              }});
}

}  // namespace marquee
