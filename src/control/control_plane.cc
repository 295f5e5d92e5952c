#include "control/control_plane.h"

#include "control/route_util.h"

#include <charconv>
#include <ctime>
#include <limits>

#include "common/text.h"
#include "control/views.h"
#include "experiments/experiment.h"
#include "jobs/job.h"
#include "jobs/job_store.h"
#include "marquee/error.h"
#include "registry/json.h"
#include "serving/model_manager.h"

namespace marquee {
using json = nlohmann::json;
using namespace control_internal;  // NOLINT: the route helpers

ControlPlane::ControlPlane(ServerCore* core, ControlPlaneOptions options)
    : core_(core), options_(std::move(options)), registries_(options_.home) {
  if (options_.jobs) {
    JobRunnerOptions jo;
    jo.home = options_.home;
    jo.workers = options_.job_workers;
    jo.ctx.threads = options_.job_threads;
    jobs_ = std::make_unique<JobRunner>(jo, OpenFileJobStore(options_.home + "/jobs"));
  }
}

ControlPlane::~ControlPlane() = default;

// Running train jobs end first (training has no cancellation hook); queued ones stay queued
// for the next start.
void ControlPlane::Stop() {
  if (jobs_) jobs_->Shutdown();
}

JobRunner& ControlPlane::Jobs() {
  if (!jobs_) Fail(ErrorCode::kUnavailable, "this server runs no train jobs");
  return *jobs_;
}

void ControlPlane::AddRoutes(Service& s) {
  AddRunRoutes(s);
  AddTrackingRoutes(s);
  AddDataRoutes(s);
  AddStatsRoutes(s);
  AddInsightRoutes(s);
  AddModelRoutes(s);
  AddExperimentRoutes(s);
  AddServingRoutes(s);
  AddJobRoutes(s);
  AddUiRoutes(s);
  AddShadowRoutes(s);
}

void ControlPlane::AddRunRoutes(Service& s) {
  s.AddRoute({"GET", "/api/v1/runs", kScopeRead, Sync([this](const Request& req) {
                auto reg = registries_.Acquire();
                return RunsListView(*reg, RunsListQuery::FromQuery(ParseQuery(req.target)));
              })});
  s.AddRoute({"GET", "/api/v1/runs/compare", kScopeRead, Sync([this](const Request& req) {
                const std::vector<std::string> ids = SplitIds(req.query_all("ids"));
                if (ids.size() < 2) {
                  Fail(ErrorCode::kInvalidArgument,
                       "compare: give two or more runs as ?ids=1,2 (run ids or model references)");
                }
                auto reg = registries_.Acquire();
                return RunsCompareView(*reg, ids);
              })});
  s.AddRoute({"GET", "/api/v1/runs/{id}", kScopeRead, Sync([this](const Request& req) {
                auto reg = registries_.Acquire();
                return RunShowView(*reg, req.param("id"));
              })});
}

void ControlPlane::AddModelRoutes(Service& s) {
  s.AddRoute({"GET", "/api/v1/models", kScopeRead, Sync([this](const Request&) {
                auto reg = registries_.Acquire();
                return ModelsListView(*reg);
              })});
  s.AddRoute({"GET", "/api/v1/models/{name}", kScopeRead, Sync([this](const Request& req) {
                auto reg = registries_.Acquire();
                return ModelOverviewView(*reg, req.param("name"));
              })});
  s.AddRoute({"GET", "/api/v1/models/{name}/versions", kScopeRead, Sync([this](const Request& req) {
                auto reg = registries_.Acquire();
                return VersionsView(*reg, req.param("name"));
              })});
  s.AddRoute({"GET", "/api/v1/models/{name}/versions/{version}", kScopeRead,
              Sync([this](const Request& req) {
                auto reg = registries_.Acquire();
                return VersionView(*reg, req.param("name"), req.param("version"));
              })});
  s.AddRoute({"GET", "/api/v1/models/{name}/diff", kScopeRead, Sync([this](const Request& req) {
                auto a = req.query("a"), b = req.query("b");
                if (!a || !b) {
                  Fail(ErrorCode::kInvalidArgument, "diff: give both versions as ?a=1&b=2");
                }
                auto reg = registries_.Acquire();
                return DiffView(*reg, req.param("name"), *a, *b);
              })});
  s.AddRoute({"PUT", "/api/v1/models/{name}/tags", kScopeWrite, Sync([this](const Request& req) {
                const json b = BodyObject(req, "tags", {"version", "set", "remove"});
                ModelRef ref;
                ref.model = ParseModelRef(req.param("name")).model;
                auto reg = registries_.Acquire();
                if (const std::string v = StringField(b, "version", "tags", false); !v.empty()) {
                  ref.version = reg->ResolveIn(ref.model, v).version;
                }
                std::vector<std::pair<std::string, std::string>> set;
                if (b.contains("set")) {
                  if (!b["set"].is_object()) {
                    Fail(ErrorCode::kInvalidArgument, "tags.set: must be an object of strings");
                  }
                  for (const auto& [k, v] : b["set"].items()) {
                    if (!v.is_string()) {
                      Fail(ErrorCode::kInvalidArgument, "tags.set.{}: must be a string",
                           QuoteForMessage(k, 64));
                    }
                    set.emplace_back(k, v.get<std::string>());
                  }
                }
                return TagsToJson(reg->SetTags(ref, set, StringList(b, "remove", "tags")));
              })});
  s.AddRoute(
      {"POST", "/api/v1/models/{name}/promote", kScopeAdmin, Sync([this](const Request& req) {
         const json b = BodyObject(req, "promote", {"version", "alias", "require", "note"});
         const std::string model = ParseModelRef(req.param("name")).model;
         auto reg = registries_.Acquire();
         const VersionRecord v = reg->ResolveIn(model, StringField(b, "version", "promote"));
         return reg
             ->Promote(fmt::format("{}/{}", v.model_name, v.version),
                       StringField(b, "alias", "promote"), StringList(b, "require", "promote"),
                       StringField(b, "note", "promote", false))
             .ToJson();
       })});
  // The gates' verdict before a promotion (the dashboard shows it before confirming): read
  // scope, since it changes nothing.
  s.AddRoute(
      {"POST", "/api/v1/models/{name}/gate-check", kScopeRead, Sync([this](const Request& req) {
         const json b = BodyObject(req, "gate-check", {"version", "alias", "require"});
         auto reg = registries_.Acquire();
         return GateCheckView(
             *reg, ParseModelRef(req.param("name")).model, StringField(b, "version", "gate-check"),
             StringField(b, "alias", "gate-check", false), StringList(b, "require", "gate-check"));
       })});
  s.AddRoute(
      {"POST", "/api/v1/models/{name}/rollback", kScopeAdmin, Sync([this](const Request& req) {
         const json b = BodyObject(req, "rollback", {"alias", "note"});
         auto reg = registries_.Acquire();
         return reg
             ->Rollback(ParseModelRef(req.param("name")).model, StringField(b, "alias", "rollback"),
                        StringField(b, "note", "rollback", false))
             .ToJson();
       })});
}

void ControlPlane::AddExperimentRoutes(Service& s) {
  s.AddRoute({"GET", "/api/v1/experiments", kScopeRead, Sync([this](const Request&) {
                auto reg = registries_.Acquire();
                return ExperimentsListView(*reg);
              })});
  s.AddRoute({"POST", "/api/v1/experiments", kScopeWrite,
              Sync(
                  [this](const Request& req) {
                    // TOML as the body, or {"toml": "..."}.
                    std::string text = req.body;
                    if (!req.content_type.starts_with("application/toml")) {
                      text = StringField(BodyObject(req, "experiment", {"toml"}), "toml",
                                         "experiment");
                    }
                    ExperimentSpec spec = ParseExperimentToml(text, "request body");
                    auto reg = registries_.Acquire();
                    Experiment e = CreateExperiment(*reg, spec, text, Now());
                    return ExperimentShowView(*reg, e.spec.name);
                  },
                  201)});
  s.AddRoute({"GET", "/api/v1/experiments/{name}", kScopeRead, Sync([this](const Request& req) {
                auto reg = registries_.Acquire();
                return ExperimentShowView(*reg, req.param("name"));
              })});
  for (const bool start : {true, false}) {
    s.AddRoute({"POST",
                start ? "/api/v1/experiments/{name}/start" : "/api/v1/experiments/{name}/stop",
                kScopeWrite, Sync([this, start](const Request& req) {
                  BodyObject(req, start ? "start" : "stop", {});
                  auto reg = registries_.Acquire();
                  const std::string& name = req.param("name");
                  if (start) {
                    StartExperiment(*reg, name, Now());
                  } else {
                    StopExperiment(*reg, name, Now());
                  }
                  return ExperimentShowView(*reg, name);
                })});
  }
  s.AddRoute(
      {"GET", "/api/v1/experiments/{name}/analysis", kScopeRead, Sync([this](const Request& req) {
         auto reg = registries_.Acquire();
         return ExperimentAnalysisView(*reg, options_.home, req.param("name"));
       })});
}

void ControlPlane::AddServingRoutes(Service& s) {
  // TF Serving-style addressing: the model in the path, the body as the body-addressed route's
  // without "model"; answered by re-dispatching to that route.
  struct Verb {
    const char* suffix;
    const char* target;
  };
  static constexpr Verb kVerbs[] = {
      {":recommend", "/v1/recommend"}, {":predict", "/v1/predict"}, {":decide", "/v1/decide"}};
  struct Form {
    const char* path;
    // The model reference from the path parameters.
    std::string (*ref)(const Request&);
  };
  static const Form kForms[] = {
      {"/v1/models/{name}", [](const Request& r) { return r.param("name"); }},
      {"/v1/models/{name}/versions/{version}",
       [](const Request& r) { return r.param("name") + "/" + r.param("version"); }},
      {"/v1/models/{name}/labels/{label}",
       [](const Request& r) { return r.param("name") + "@" + r.param("label"); }},
  };
  Service* service = &s;
  for (const Verb& verb : kVerbs) {
    for (const Form& form : kForms) {
      const std::string where = std::string(verb.suffix + 1);
      s.AddRoute(
          {"POST", std::string(form.path) + verb.suffix, kScopeRead,
           [service, verb, form, where](const Request& req, Respond& done) {
             json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
             if (body.is_discarded() || !body.is_object()) {
               Fail(ErrorCode::kInvalidArgument, "{}: the body must be a JSON object", where);
             }
             const std::string ref = form.ref(req);
             ParseModelRef(ref);  // a bad name or version: a 400 naming it
             if (body.contains("model")) {
               Fail(ErrorCode::kInvalidArgument,
                    "{}: the model is in the path ({}); drop \"model\" from the body", where,
                    QuoteForMessage(ref, 128));
             }
             body["model"] = ref;
             Request inner;
             inner.method = "POST";
             inner.target = verb.target;
             inner.body = DumpJson(body);
             inner.has_api_key = req.has_api_key;
             inner.api_key = req.api_key;
             inner.content_type = "application/json";
             service->Handle(std::move(inner), std::move(done));
           }});
    }
  }
  // The model's status: its registry versions and what this server holds of it.
  s.AddRoute({"GET", "/v1/models/{name}", kScopeRead, Sync([this](const Request& req) {
                const std::string name = ParseModelRef(req.param("name")).model;
                auto reg = registries_.Acquire();
                json versions = json::array();
                for (const auto& v : reg->Versions(name)) {
                  versions.push_back({{"version", v.record.version},
                                      {"family", v.record.family},
                                      {"aliases", v.aliases},
                                      {"created_at", TimeJson(v.record.created_at)}});
                }
                json served = json::array();
                for (const std::string& kind :
                     {std::string(kKindRecommender), std::string(kKindBandit),
                      std::string(kKindTabular)}) {
                  const json described = core_->models()->Describe(kind);
                  for (const auto& m : described["models"]) {
                    if (m.value("model", "") == name) {
                      json entry = m;
                      entry["kind"] = kind;
                      served.push_back(entry);
                    }
                  }
                }
                return json{{"name", name}, {"versions", versions}, {"served", served}};
              })});
}

void ControlPlane::AddJobRoutes(Service& s) {
  s.AddRoute({"POST", "/api/v1/jobs", kScopeWrite,
              Sync(
                  [this](const Request& req) {
                    // A TOML config as the body, or {"config": TOML text | JSON object,
                    // "overrides": ["section.key=value", ...]}.
                    if (req.content_type.starts_with("application/toml")) {
                      return JobToJson(Jobs().Submit(req.body, "toml"));
                    }
                    const json b = BodyObject(req, "job", {"config", "overrides"});
                    auto it = b.find("config");
                    if (it == b.end() || !(it->is_string() || it->is_object())) {
                      Fail(ErrorCode::kInvalidArgument,
                           "job.config: give the train config as TOML text or a JSON object of "
                           "sections");
                    }
                    const std::vector<std::string> overrides = StringList(b, "overrides", "job");
                    return JobToJson(it->is_string()
                                         ? Jobs().Submit(it->get<std::string>(), "toml", overrides)
                                         : Jobs().Submit(it->dump(), "json", overrides));
                  },
                  202)});
  s.AddRoute({"GET", "/api/v1/jobs", kScopeRead, Sync([this](const Request& req) {
                JobFilter filter;
                if (auto st = req.query("state")) {
                  auto parsed = ParseJobState(*st);
                  if (!parsed) {
                    Fail(ErrorCode::kInvalidArgument,
                         "query parameter state: '{}' is not a job state (queued, running, "
                         "succeeded, failed, cancelled, interrupted)",
                         QuoteForMessage(*st, 64));
                  }
                  filter.state = *parsed;
                }
                if (auto m = req.query("model")) filter.model = *m;
                const int64_t limit = QueryInt(req, "limit", 20, 1, 1000);
                const int64_t before = QueryInt(req, "before", std::numeric_limits<int64_t>::max(),
                                                1, std::numeric_limits<int64_t>::max());
                json arr = json::array();
                std::vector<Job> jobs = Jobs().List(filter, static_cast<size_t>(limit), before);
                for (const Job& j : jobs) arr.push_back(JobToJson(j));
                const bool more = static_cast<int64_t>(jobs.size()) == limit && jobs.back().id > 1;
                return json{{"jobs", arr}, {"next_before", more ? json(jobs.back().id) : json()}};
              })});
  s.AddRoute({"GET", "/api/v1/jobs/{id}", kScopeRead, Sync([this](const Request& req) {
                return JobToJson(Jobs().Get(PathId(req, "id")));
              })});
  s.AddRoute({"POST", "/api/v1/jobs/{id}/cancel", kScopeWrite, Sync([this](const Request& req) {
                BodyObject(req, "cancel", {});
                return JobToJson(Jobs().Cancel(PathId(req, "id")));
              })});
  s.AddRoute(
      {"GET", "/api/v1/jobs/{id}/log", kScopeRead, [this](const Request& req, Respond& done) {
         const int64_t id = PathId(req, "id");
         int64_t offset = QueryInt(req, "offset", 0, 0, std::numeric_limits<int64_t>::max());
         const int64_t limit = QueryInt(req, "limit", 1000, 1, 100000);
         if (!WantsEventStream(req)) {
           JobLogPage page = Jobs().ReadLog(id, offset, static_cast<size_t>(limit));
           Response r;
           r.body = DumpJson(json{{"lines", page.lines},
                                  {"next_offset", page.next_offset},
                                  {"state", JobStateName(page.state)}});
           done(std::move(r));
           return;
         }
         Jobs().Get(id);  // a 404 before the stream starts
         Response r;
         r.content_type = "text/event-stream";
         r.headers.emplace_back("Cache-Control", "no-cache");
         r.stream = [this, id, offset](ResponseWriter& w) { FollowLog(id, offset, w); };
         done(std::move(r));
       }});
}

void ControlPlane::FollowLog(int64_t id, int64_t offset, ResponseWriter& w) {
  // The subscription's thread writes the events; this (the stream's) thread waits for the end
  // and sends a comment every 2 s, so a client that went away, or a server shutting down, is
  // noticed while a job is quiet.
  Mutex mu;
  CondVar cv;
  bool over = false;
  auto finish = [&] {
    MutexLock lock(&mu);
    over = true;
    cv.NotifyAll();
  };
  std::unique_ptr<JobSubscription> sub = Jobs().Follow(id, offset, [&](const JobLogEvent& e) {
    std::string msg;
    switch (e.type) {
      case JobLogEvent::Type::kLine:
        msg = SseMessage("", std::to_string(e.offset), e.line);
        break;
      case JobLogEvent::Type::kEnd: {
        json job = JobToJson(Jobs().Get(id));
        msg = SseMessage("end", "", DumpJson(job));
        break;
      }
      case JobLogEvent::Type::kDropped:
        msg = SseMessage("dropped", "", DumpJson(json{{"offset", e.offset}, {"reason", e.line}}));
        break;
    }
    if (!w.Write(msg) || e.type != JobLogEvent::Type::kLine) finish();
  });
  for (;;) {
    {
      MutexLock lock(&mu);
      if (cv.WaitFor(&mu, std::chrono::seconds(2), [&]() REQUIRES(mu) { return over; })) break;
    }
    if (!w.Write(": keepalive\n\n")) break;
  }
  sub->Unsubscribe();
}

void AddControlPlane(ServerCoreOptions& options, ControlPlaneOptions control) {
  options.route_providers.push_back([control](ServerCore& core) -> std::unique_ptr<RouteProvider> {
    return std::make_unique<ControlPlane>(&core, control);
  });
}

}  // namespace marquee
