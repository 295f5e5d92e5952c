// ServerCore: `marquee serve` in one object. It builds the serving stack from options (the
// event log, metrics, the experiment router and its exposure log, the one model manager that
// holds every kind's versions, the Service and its route providers: PredictHandler,
// BanditHandler with its decision log), starts the HTTP server and the one poller, and stops
// everything in the one order that loses nothing:
//
//   1. HttpServer::Shutdown + Wait   stop accepting, finish in-flight requests
//      RouteProvider::Stop           the control plane's job workers and streams end
//   2. ModelManager::Stop            the one poller (every model of every kind, experiments) and
//                                    /admin/reload end: no more loads or cells added
//   3. ExperimentRouter destroyed    drains the exposure log
//      ShadowScorer destroyed        its worker ends, its log drains
//   4. DecisionLog destroyed         drains pending decisions/rewards (their online updates)
//   5. EventLog destroyed            drains pending appends and flushes
//
// The CLI parses flags into ServerCoreOptions; tests, the fuzzer and benchmarks build the same
// core, so there is one place that wires a server.
// Thread-safety: construct, Start and Stop from one controlling thread; the parts it hands out
// are thread-safe as their headers say.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bandits/decision_log.h"
#include "events/event_log.h"
#include "experiments/exposure_log.h"
#include "serving/auth.h"
#include "serving/http_server.h"
#include "serving/servable.h"
#include "serving/service.h"

namespace marquee {
class KindRegistry;
}

namespace marquee {

class BanditHandler;
class ExperimentRouter;
class ModelManager;
class PredictHandler;
class ShadowScorer;

class ServerCore;

// A set of routes beyond serving (the control plane, src/control): built by the core once its
// parts exist, its rows added to the route table, stopped right after the HTTP server (no
// request can reach it any more) and destroyed before the core's own parts.
class RouteProvider {
 public:
  virtual ~RouteProvider() = default;
  virtual void AddRoutes(Service& service) = 0;
  // Ends background work (job workers, streams); called once, from Stop().
  virtual void Stop() {}
};
using RouteProviderFactory = std::function<std::unique_ptr<RouteProvider>(ServerCore& core)>;

struct ServerCoreOptions {
  std::string home;
  // Recommenders (--model): `models` count for /readyz; `optional_models` (REF?) answer 503 until
  // they resolve and load.
  std::vector<std::string> models, optional_models;
  std::vector<std::string> bandits;  // --bandit references; none: /v1/decide and /v1/reward 503
  ApiKeys keys;                      // disabled: every request is allowed
  ServiceLimits limits;
  HttpServerOptions http;
  // Registry polls of every poller (0: only POST /admin/reload). With `poll` false no poller
  // runs at all (tests that drive Refresh themselves; /admin/reload then answers 503).
  std::chrono::milliseconds poll_interval{30000};
  bool poll = true;
  // Load the models in the constructor (tests); otherwise they load in the background after
  // Start, and /readyz answers 503 until they are loaded.
  bool load_before_start = false;
  size_t score_cache_bytes = 256u << 20;  // per model version (ModelManagerOptions)
  RetrievalSpec retrieval;                // per recommender version (ModelManagerOptions)
  bool events = true;                     // $home/events; false: /v1/events answers 503
  // Where the online state lives (a state URL, state/online_state.h); "": what the home's
  // backends say (ResolveBackends: $MARQUEE_STATE, marquee.toml, else the home's RocksDB).
  std::string state;
  EventLogOptions event_log;
  bool experiments = true;  // the router and $home/experiments/exposures
  // Serve the cells of experiments running at start (false: only what on_new_cells adds later).
  bool serve_running_cells = true;
  ExposureLogOptions exposure_log;
  // Shadow scoring and canary routing, followed from the registry (serving/shadow.h), with its
  // log in $home/serving/shadow.
  bool shadow = true;
  size_t shadow_queue = 256;        // requests waiting for the shadow worker before drops
  DecisionLogOptions decision_log;  // $home/decisions (on_closed is set by the core)
  size_t max_actions = 256;         // per /v1/decide
  // Recommenders no --model names are loaded by the first request naming them
  // (Service::set_load_on_demand); tabular models always are (PredictHandler).
  bool load_on_demand = true;
  // The kinds that load the served versions (not owned; nullptr: BuiltinKinds()).
  const KindRegistry* kinds = nullptr;
  // Test hooks: called after a version is loaded and warmed, before its swap; and instead of
  // the default (add to the model manager, load in the background) when running experiments
  // report cells this server does not serve yet.
  std::function<void(const std::string& ref, int64_t version)> before_swap;
  std::function<void(const std::vector<std::string>& refs)> on_new_cells;
  // Further route providers, built in order at the end of construction (AddControlPlane in
  // control/control_plane.h adds the /api/v1 one).
  std::vector<RouteProviderFactory> route_providers;
};

class ServerCore {
 public:
  // Opens the logs, builds every part and registers the routes; loads the bandit policies (one
  // that cannot load throws) and, with load_before_start, the models. Throws on failure (an
  // event log held by another process: kUnavailable naming the home).
  explicit ServerCore(ServerCoreOptions options);
  ~ServerCore();  // Stop()
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  // Binds the HTTP server (HttpServer::Start's errors) and starts the pollers; without
  // load_before_start the models start loading now.
  void Start();
  uint16_t port() const;  // after Start
  // The shutdown order above; idempotent. The parts stay reachable but the logs are closed.
  void Stop();

  Service* service() { return service_.get(); }
  ModelManager* models() { return models_.get(); }
  ServingMetrics* metrics() { return metrics_.get(); }
  EventLog* events() { return events_.get(); }                    // null without events
  ExperimentRouter* experiments() { return experiments_.get(); }  // null without experiments
  BanditHandler* bandits() { return bandits_.get(); }
  ShadowScorer* shadow() { return shadow_.get(); }       // null without shadow
  DecisionLog* decisions() { return decisions_.get(); }  // null without --bandit
  const ServerCoreOptions& options() const { return options_; }

 private:
  ServerCoreOptions options_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<ServingMetrics> metrics_;
  std::unique_ptr<ExperimentRouter> experiments_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<PredictHandler> predict_;
  std::unique_ptr<BanditHandler> bandits_;
  std::unique_ptr<DecisionLog> decisions_;
  std::unique_ptr<ShadowScorer> shadow_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::unique_ptr<RouteProvider>> providers_;
  bool stopped_ = false;
};

}  // namespace marquee
