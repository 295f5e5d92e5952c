// Datasets and decisions over /api/v1: list, show, import (an upload streamed to disk, or a
// path on the server) and delete dataset names; the bandit decision log exported as a stream.
#include <filesystem>

#include "bandits/decision_log.h"
#include "common/time.h"
#include "control/control_plane.h"
#include "control/route_util.h"
#include "control/views.h"

namespace marquee {

using namespace control_internal;  // NOLINT: the route helpers

namespace {

bool TruthText(std::string_view v) { return v == "1" || v == "true" || v == "True"; }

// The reader options of `dataset import`, from query parameters (or a JSON body's fields).
ReadOptions ReaderOptions(const std::vector<std::pair<std::string, std::string>>& params) {
  ReadOptions ro;
  for (const auto& [k, v] : params) {
    if (k == "format") {
      ro.format = v;
    } else if (k == "user_col") {
      ro.user_col = v;
    } else if (k == "item_col") {
      ro.item_col = v;
    } else if (k == "value_col") {
      ro.value_col = v;
    } else if (k == "time_col") {
      ro.time_col = v;
    } else if (k == "header") {
      ro.header = TruthText(v);
    } else if (k == "skip_bad_lines") {
      ro.skip_bad_lines = TruthText(v);
    } else if (k == "delimiter") {
      const std::string d = v == "\\t" || v == "tab" ? "\t" : v;
      if (d.size() != 1) {
        Fail(ErrorCode::kInvalidArgument, "delimiter: one character (or 'tab'), got '{}'",
             QuoteForMessage(v, 16));
      }
      ro.delimiter = d[0];
    } else if (k != "path") {
      Fail(ErrorCode::kInvalidArgument,
           "unknown reader option '{}' (expected: format, delimiter, header, user_col, item_col, "
           "value_col, time_col, skip_bad_lines, path)",
           QuoteForMessage(k, 64));
    }
  }
  return ro;
}

}  // namespace

void ControlPlane::AddDataRoutes(Service& s) {
  const std::string home = options_.home;
  s.AddRoute({"GET", "/api/v1/datasets", kScopeRead,
              Sync([home](const Request&) { return DatasetsListView(home); })});
  s.AddRoute({"GET", "/api/v1/datasets/{name}", kScopeRead, Sync([home](const Request& req) {
                return DatasetShowView(home, req.param("name"));
              })});
  s.AddRoute({"DELETE", "/api/v1/datasets/{name}", kScopeAdmin, Sync([home](const Request& req) {
                return DeleteDatasetView(home, req.param("name"));
              })});
  // The file as the body (streamed to disk by the transport) with the reader options as query
  // parameters; or a JSON body {"path": "a file on the server", options...}.
  RouteRow import{"POST", "/api/v1/datasets/{name}", kScopeWrite,
                  Sync(
                      [home](const Request& req) {
                        const std::string& name = req.param("name");
                        if (req.content_type.starts_with("application/json")) {
                          const json b =
                              json::parse(Env::Default()->ReadFile(req.body_file), nullptr, false);
                          if (b.is_discarded() || !b.is_object() || !b.contains("path")) {
                            Fail(ErrorCode::kInvalidArgument,
                                 "dataset import: a JSON body is {{\"path\": \"a file on the "
                                 "server\", reader options...}}; send the file itself as "
                                 "application/octet-stream");
                          }
                          std::vector<std::pair<std::string, std::string>> opts;
                          for (const auto& [k, v] : b.items()) {
                            opts.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
                          }
                          return ImportDatasetView(home, name, b["path"].get<std::string>(),
                                                   ReaderOptions(opts));
                        }
                        return ImportDatasetView(home, name, req.body_file,
                                                 ReaderOptions(ParseQuery(req.target)));
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
                DecisionLogOptions o;
                o.read_only = true;  // beside the server's own writer, as `decisions export`
                std::shared_ptr<DecisionLog> log = DecisionLog::Open(home + "/decisions", o);
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
