// marquee serve: the online serving process (src/serving, src/events). Thin: wires the event
// log, the model manager, the service and the HTTP server together and waits for SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include "commands.h"
#include "data/catalog.h"
#include "events/event_log.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "serving/http_server.h"
#include "serving/model_manager.h"
#include "serving/service.h"

namespace marquee::cli {
namespace {

struct ServeFlags {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::vector<std::string> models;
  std::string api_keys;
  double poll_seconds = 5.0;
  size_t body_limit = 8 << 20;
  uint32_t max_k = 1000;
  int request_timeout_ms = 30000;
  std::string port_file;
};

void RunServe(const ServeFlags& f, const GlobalOptions& g) {
  // Block the stop signals in every thread (they inherit the mask); the main thread takes them
  // with sigwait, so shutdown runs as ordinary code, not in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string home = ResolveHome(g.home);
  serving::ApiKeys keys;
  if (!f.api_keys.empty()) keys = serving::ApiKeys::Load(f.api_keys);
  if (f.host != "127.0.0.1" && f.host != "::1" && f.host != "localhost" && !keys.enabled()) {
    spdlog::warn("serve: listening on {} without --api-keys: anyone who can reach it can call it",
                 f.host);
  }
  std::unique_ptr<EventLog> events = EventLog::Open(home + "/events");
  serving::ServingMetrics metrics(serving::Service::Routes());
  serving::ModelManagerOptions mo;
  mo.home = home;
  mo.refs = f.models;
  mo.on_swap = [&metrics] { metrics.AddSwap(); };
  mo.on_failure = [&metrics](const std::string&, const std::string&) { metrics.AddLoadFailure(); };
  serving::ModelManager models(std::move(mo));
  serving::ServiceLimits limits;
  limits.max_k = f.max_k;
  serving::Service service(&models, events.get(), &metrics, std::move(keys), limits);
  // Tabular models (XGBoost) are resolved per request by registry reference.
  serving::PredictHandler predict(home, Env::Default());
  service.set_predictor(&predict);

  serving::HttpServerOptions so;
  so.host = f.host == "localhost" ? "127.0.0.1" : f.host;
  so.port = f.port;
  so.threads = g.threads > 0 ? g.threads : static_cast<int>(std::thread::hardware_concurrency());
  so.body_limit = f.body_limit;
  so.request_timeout = std::chrono::milliseconds(f.request_timeout_ms);
  serving::HttpServer server(so, &service, &metrics);
  server.Start();
  if (!f.port_file.empty()) {
    std::string tmp = f.port_file + ".tmp";
    FILE* pf = std::fopen(tmp.c_str(), "w");
    if (pf == nullptr) Fail(ErrorCode::kIOError, "cannot write --port-file '{}'", f.port_file);
    std::fprintf(pf, "%u\n", server.port());
    std::fclose(pf);
    std::rename(tmp.c_str(), f.port_file.c_str());
  }
  spdlog::info("serve: listening on http://{}:{} ({} io threads, {} models, events in {}/events)",
               so.host, server.port(), so.threads, f.models.size(), home);
  // Models load in the background: /healthz answers at once, /readyz once they are loaded.
  models.StartPolling(std::chrono::milliseconds(static_cast<int64_t>(f.poll_seconds * 1000)));
  models.RequestRefresh([](nlohmann::json) {});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("serve: {} received: draining connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.Shutdown();
  server.Wait();
  models.Stop();
  events.reset();  // drains pending appends and flushes the log
  spdlog::info("serve: stopped");
}

}  // namespace

nlohmann::json ImportEventLog(const std::string& name, const GlobalOptions& g) {
  const std::string home = ResolveHome(g.home);
  const std::string dir = home + "/events";
  if (!std::filesystem::exists(dir)) {
    Fail(ErrorCode::kNotFound, "no event log in '{}' (POST /v1/events to `marquee serve` first)",
         dir);
  }
  EventLogOptions o;
  o.read_only = true;
  auto log = EventLog::Open(dir, o);
  std::vector<RawInteraction> rows;
  log->ForEach([&](const StoredEvent& e) {
    rows.push_back({e.user, e.item, e.value, e.ts});
    return true;
  });
  if (rows.empty()) Fail(ErrorCode::kInvalidArgument, "the event log in '{}' is empty", dir);
  Dataset ds = Dataset::FromRows(rows, true, true, "events:" + dir);
  DatasetCatalog catalog(home, Env::Default());
  nlohmann::json j = catalog.Import(name, ds).ToJson();
  j["events"] = rows.size();
  return j;
}

void AddServeCommand(CLI::App& app, GlobalOptions& g) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd =
      app.add_subcommand("serve",
                         "Serve recommendations over HTTP (JSON API: docs/api/openapi.yaml).\n\n"
                         "Examples:\n"
                         "  marquee serve --model title-recs@production\n"
                         "  marquee serve --port 9000 --threads 4 --model a@production --model b/3 "
                         "--api-keys keys.txt");
  cmd->add_option("--host", f->host, "Address to bind (default: loopback only)")
      ->capture_default_str();
  cmd->add_option("--port", f->port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--model", f->models,
                  "Recommender to serve: NAME, NAME@ALIAS or NAME/VERSION (repeatable). Tabular\n"
                  "models for /v1/predict are resolved per request and need no --model.");
  cmd->add_option("--api-keys", f->api_keys,
                  "File of 'KEY SCOPE[,SCOPE]' lines (scopes: read, write, admin); without it "
                  "every request is allowed");
  cmd->add_option("--poll-interval", f->poll_seconds,
                  "Seconds between registry polls for alias moves (0: only POST /admin/reload)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--body-limit", f->body_limit, "Largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--max-k", f->max_k, "Largest k a request may ask for")->capture_default_str();
  cmd->add_option("--request-timeout-ms", f->request_timeout_ms,
                  "Time allowed to read a request or write a response; idle keep-alive "
                  "connections close after it")
      ->capture_default_str();
  cmd->add_option("--port-file", f->port_file, "Write the bound port to this file once listening");
  cmd->callback([f, &g] { RunServe(*f, g); });
}

}  // namespace marquee::cli
