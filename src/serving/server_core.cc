#include "serving/server_core.h"

#include <spdlog/spdlog.h>

#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "serving/bandit_handler.h"
#include "serving/experiment_router.h"
#include "serving/model_manager.h"
#include "serving/predict_handler.h"
#include "serving/shadow.h"
#include "state/online_state.h"

namespace marquee {

ServerCore::ServerCore(ServerCoreOptions options) : options_(std::move(options)) {
  const ServerCoreOptions& o = options_;
  const StateBackend state = ResolveStateBackend(o.home, o.state, Env::Default());
  if (state.kind == StateBackend::Kind::kRedis) {
    spdlog::info("serve: online state (events, decisions, exposures) in {}", state.Describe());
  }
  if (o.events) {
    // Each member's newest events in memory: as many as /v1/recommend reads per request.
    EventLogOptions eo = o.event_log;
    if (eo.recent_per_user > 0) eo.recent_per_user = o.limits.recent_events;
    events_ = OpenEventStore(state, o.home, eo);
  }
  metrics_ = std::make_unique<ServingMetrics>();  // route labels: Service::AddRoute
  ModelManagerOptions mo;
  mo.home = o.home;
  mo.refs = o.models;
  mo.score_cache_bytes = o.score_cache_bytes;
  mo.retrieval = o.retrieval;
  if (mo.retrieval.index_dir.empty()) mo.retrieval.index_dir = o.home + "/serving/index";
  mo.kinds = o.kinds;
  mo.before_swap = o.before_swap;
  // A bandit policy replays its logged rewards before it is swapped in.
  mo.prepare = [this](Servable& s) {
    if (bandits_) bandits_->Prepare(s);
  };
  // The one poller: experiment start/stop and new cells, then every model of every kind.
  mo.on_poll = [this] {
    if (experiments_) experiments_->Refresh();
    if (shadow_) shadow_->Refresh();
  };
  mo.on_swap = [m = metrics_.get()] { m->AddSwap(); };
  mo.on_failure = [m = metrics_.get()](const std::string&, const std::string&) {
    m->AddLoadFailure();
  };
  // Online experiments: the cells of running experiments are served too (experiment_router.h).
  if (o.experiments) {
    ExperimentRouterOptions xo;
    xo.home = o.home;
    xo.log = o.exposure_log;
    if (state.kind == StateBackend::Kind::kRedis) xo.log.redis = state.redis;
    xo.on_new_cells = o.on_new_cells;
    if (!xo.on_new_cells) {
      // Called back only once the manager exists (RunningCellRefs covers the start).
      xo.on_new_cells = [this](const std::vector<std::string>& refs) {
        if (models_ == nullptr || models_->Add(refs).empty()) return;
        models_->RequestRefresh([](nlohmann::json result) {
          spdlog::info("serve: experiment cells loaded: {}", result.dump());
        });
      };
    }
    experiments_ = std::make_unique<ExperimentRouter>(xo);
    for (const std::string& ref : experiments_->RunningCellRefs()) {
      if (!o.serve_running_cells) break;
      bool have = false;
      for (const auto& m : mo.refs) have = have || ParseModelRef(m).ToString() == ref;
      if (!have) mo.refs.push_back(ref);
    }
  }
  models_ = std::make_unique<ModelManager>(std::move(mo));
  // Optional references do not count for /readyz; they answer 503 until they resolve and load.
  models_->Add(o.optional_models);
  service_ =
      std::make_unique<Service>(models_.get(), events_.get(), metrics_.get(), o.keys, o.limits);
  service_->set_load_on_demand(o.load_on_demand);
  // Tabular models (XGBoost): any registry reference, loaded by the manager on first use.
  predict_ = std::make_unique<PredictHandler>(models_.get());
  predict_->AddRoutes(*service_);
  if (experiments_) {
    service_->set_experiments(experiments_.get());
    service_->add_readiness_check("exposure log", [x = experiments_.get()](std::string* why) {
      return x->exposures().writable(why);
    });
  }
  // Contextual bandits: policies by registry reference, decisions and rewards in
  // $home/decisions (the log's sweeper gives expired decisions the default reward, and every
  // closed decision updates the live policy that made it).
  BanditLimits limits;
  limits.max_actions = o.max_actions;
  bandits_ = std::make_unique<BanditHandler>(models_.get(), limits);
  if (!o.bandits.empty()) {
    DecisionLogOptions dlo = o.decision_log;
    dlo.on_closed = [h = bandits_.get()](const Decision& d) { h->OnClosed(d); };
    decisions_ = OpenDecisionStore(state, o.home, std::move(dlo));
    bandits_->set_log(decisions_.get());
    models_->Add(o.bandits, kKindBandit, /*required=*/true);
    // A policy that cannot load stops the start.
    models_->RefreshKind(kKindBandit, /*force=*/true, /*strict=*/true);
  }
  bandits_->AddRoutes(*service_);  // without bandits its routes answer 503
  if (o.shadow) {
    ShadowOptions so;
    so.home = o.home;
    so.max_queue = o.shadow_queue;
    // Shadow records are written off the request path, so they stay fsynced when events are
    // acknowledged after the write alone (event_sync = "write": a sync interval); only an
    // event log with no syncing at all (tests) turns the shadow log's off too.
    so.log.sync = o.event_log.sync || o.event_log.sync_interval.count() > 0;
    shadow_ = std::make_unique<ShadowScorer>(so, models_.get(), service_.get());
    shadow_->Refresh();
    service_->set_shadow(shadow_.get());
    bandits_->set_shadow(shadow_.get());
    predict_->set_shadow(shadow_.get());
  }
  for (const RouteProviderFactory& make : o.route_providers) {
    providers_.push_back(make(*this));
    providers_.back()->AddRoutes(*service_);
  }
  if (o.load_before_start) models_->Refresh();
}

ServerCore::~ServerCore() { Stop(); }

void ServerCore::Start() {
  HttpServerOptions http = options_.http;
  // Uploads (stream_body routes) are spooled under the home, on the disk they end up on.
  if (http.spool_dir.empty()) http.spool_dir = options_.home + "/tmp/uploads";
  auto server = std::make_unique<HttpServer>(http, service_.get(), metrics_.get());
  server->Start();  // a server that failed to bind stays out of Stop's way
  server_ = std::move(server);
  if (!options_.poll) return;
  // Models load in the background: /healthz answers at once, /readyz once they are loaded.
  models_->StartPolling(options_.poll_interval);
  if (!options_.load_before_start) models_->RequestRefresh([](nlohmann::json) {});
}

uint16_t ServerCore::port() const { return server_->port(); }

void ServerCore::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) {
    server_->Shutdown();
    server_->Wait();
  }
  for (auto& p : providers_) p->Stop();
  models_->Stop();       // the one poller: no more loads, experiment or policy refreshes
  experiments_.reset();  // drains the exposure log
  service_->set_experiments(nullptr);
  service_->set_shadow(nullptr);
  bandits_->set_shadow(nullptr);
  predict_->set_shadow(nullptr);
  shadow_.reset();  // its worker ends, its log drains
  if (decisions_) {
    const auto st = decisions_->stats();
    spdlog::info("serve: {} decisions, {} rewards joined, {} defaulted, {} group commits",
                 st.decisions, st.joined, st.defaulted, st.group_commits);
    bandits_->set_log(nullptr);
  }
  decisions_.reset();  // drains pending decisions/rewards (their online updates) and closes
  events_.reset();     // drains pending appends and flushes the log
}

}  // namespace marquee
