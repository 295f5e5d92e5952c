// ControlPlane: the /api/v1 routes of `marquee serve` (docs/api/openapi.yaml): runs, models,
// experiments, datasets, jobs and decisions over HTTP, answered from the same views
// (control/views.h) the local CLI prints, plus TF Serving-style model addressing
// (/v1/models/{name}[/versions/{n}|/labels/{alias}]:recommend|:predict|:decide).
//
// Every route is one row of the server's route table with its scope: read for what only reads,
// write for what records (runs, metrics, artifacts, jobs, experiments, dataset imports), admin for
// what changes what production serves or deletes (promote, rollback, dataset delete).
// Thread-safety: the handlers run on the server's request threads; each takes a Registry from
// a pool for its own use.
#pragma once

#include <memory>
#include <string>

#include "control/registry_pool.h"
#include "jobs/job_runner.h"
#include "serving/server_core.h"

namespace marquee {

struct ControlPlaneOptions {
  std::string home;
  int job_workers = 1;  // train jobs run at the same time (POST /api/v1/jobs)
  int job_threads = 0;  // threads per job (<= 0: all cores); a config's [run] threads wins
  bool jobs = true;     // false: the jobs routes answer 503 (tests that need no runner)
  // The dashboard's built assets (index.html, assets/), served at /ui/; "": DefaultUiDir().
  std::string ui_dir = "";
};

// $MARQUEE_UI_DIR when set, else ui/dist of the source tree this binary was built from.
std::string DefaultUiDir();

class ControlPlane : public RouteProvider {
 public:
  // `core` outlives the control plane (ServerCore owns it).
  ControlPlane(ServerCore* core, ControlPlaneOptions options);
  ~ControlPlane() override;
  void AddRoutes(Service& service) override;
  void Stop() override;

 private:
  void AddRunRoutes(Service& s);
  void AddTrackingRoutes(Service& s);  // tracking_routes.cc
  void AddDataRoutes(Service& s);      // data_routes.cc: datasets, decisions
  void AddStatsRoutes(Service& s);     // stats_routes.cc: GET /api/v1/serving/stats
  void AddInsightRoutes(Service& s);   // insight_routes.cc: experiment timeseries, bandits
  void AddModelRoutes(Service& s);
  void AddExperimentRoutes(Service& s);
  void AddServingRoutes(Service& s);
  void AddJobRoutes(Service& s);
  void AddUiRoutes(Service& s);  // ui_routes.cc: the dashboard's static files
  void AddShadowRoutes(Service& s);  // shadow_routes.cc: a model's shadow (issue #17)
  JobRunner& Jobs();             // kUnavailable when jobs are off
  // The job's log from line `offset` as Server-Sent Events until the job ends, the follower is
  // dropped or the client goes away (a streamed response's producer thread).
  void FollowLog(int64_t id, int64_t offset, ResponseWriter& w);

  ServerCore* core_;
  ControlPlaneOptions options_;
  RegistryPool registries_;
  std::unique_ptr<JobRunner> jobs_;  // null when options_.jobs is false
};

// GET /api/v1/serving/stats of the server `core` (stats_routes.cc): {"started_at", "now",
// "uptime_s", "routes", "models", "events", "bandits"}. Thread-safe (counters read relaxed).
nlohmann::json ServingStatsJson(ServerCore& core);

// Adds the control plane to a server's options: what `marquee serve` and the in-process test
// servers do, so both serve the same routes.
void AddControlPlane(ServerCoreOptions& options, ControlPlaneOptions control);

}  // namespace marquee
