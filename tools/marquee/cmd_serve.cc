// marquee serve: the online serving process (src/serving, src/events). Thin: parses flags into
// ServerCoreOptions, holds the home, runs the ServerCore and waits for SIGTERM.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "control/control_plane.h"
#include "data/catalog.h"
#include "events/event_log.h"
#include "flow/schedule.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/backend_url.h"
#include "registry/registry.h"
#include "serving/server_core.h"
#include "state/online_state.h"

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
  size_t score_cache_mb = 256;
  std::string index;            // "" = [serve] index of marquee.toml, else "exact"
  uint32_t hnsw_ef_search = 0;  // 0 = [serve] hnsw_ef_search of marquee.toml, else its default
  std::string event_sync;       // "" = [serve] event_sync of marquee.toml, else "fsync"
  int64_t commit_gap_us = -1;   // -1 = [serve] commit_gap_us of marquee.toml, else 2000
  int exposure_flush_ms = 100;
  // Contextual bandits (POST /v1/decide, /v1/reward).
  std::vector<std::string> bandits;
  double reward_window_s = 3600;
  double default_reward = 0;
  size_t max_actions = 256;
  std::string ui_dir;      // the dashboard's built assets ("": $MARQUEE_UI_DIR or ui/dist)
  bool scheduler = false;  // run due pipeline schedules (cmd_pipeline.cc StartScheduler)
  std::string scheduler_poll = "30s";  // how often the scheduler checks for due schedules
};

// One `marquee serve` per home: an exclusive flock on $home/serving/serve.lock, held for the
// server's life (the kernel drops it when the process dies, even by kill -9), and the holder's
// pid in $home/serving/serve.pid (written atomically) so that a second server can say who
// holds the home. Not thread-safe; one per process.
class HomeLock {
 public:
  // Takes the lock or throws kUnavailable naming the holder's pid (when its pid file is there),
  // kIOError when the serving folder cannot be written.
  explicit HomeLock(const std::string& home) : home_(home) {
    const std::string dir = home + "/serving";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) Fail(ErrorCode::kIOError, "cannot create '{}': {}", dir, ec.message());
    pid_path_ = dir + "/serve.pid";
    const std::string lock_path = dir + "/serve.lock";
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      Fail(ErrorCode::kIOError, "cannot open '{}': {}", lock_path, std::strerror(errno));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK) InUse(home);
      Fail(ErrorCode::kIOError, "cannot lock '{}': {}", lock_path, std::strerror(err));
    }
    try {
      Env::Default()->WriteFileAtomic(pid_path_, std::to_string(::getpid()) + "\n");
    } catch (const Error& e) {
      // Only the message of a second server needs it; the flock is what protects the home.
      spdlog::warn("serve: no pid file ({}); a second server cannot name this one", e.what());
    }
  }
  ~HomeLock() {
    if (fd_ < 0) return;
    std::error_code ec;
    std::filesystem::remove(pid_path_, ec);  // best effort: the flock is what counts
    ::close(fd_);
  }
  HomeLock(const HomeLock&) = delete;
  HomeLock& operator=(const HomeLock&) = delete;

  // Throws kUnavailable: the home is held by the server whose pid is in serve.pid (or by a
  // process that left no pid file).
  [[noreturn]] static void InUse(const std::string& home) {
    std::string pid;
    try {
      pid = Env::Default()->ReadFile(home + "/serving/serve.pid");
    } catch (const Error&) {
    }
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    const bool numeric =
        !pid.empty() && pid.size() < 12 && pid.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) {
      Fail(ErrorCode::kUnavailable,
           "the home {} is in use by marquee serve (pid {}); stop it or use another --home", home,
           pid);
    }
    Fail(ErrorCode::kUnavailable,
         "the home {} is in use by another marquee serve (no pid file in {}/serving); stop it or "
         "use another --home",
         home, home);
  }

 private:
  std::string home_;
  std::string pid_path_;
  int fd_ = -1;
};

// Splits --model values into references that must resolve at start and optional ones
// ("REF?"), served once they are registered.
void SplitModelRefs(const std::vector<std::string>& given, std::vector<std::string>* required,
                    std::vector<std::string>* optional) {
  for (const std::string& m : given) {
    if (!m.empty() && m.back() == '?') {
      optional->push_back(m.substr(0, m.size() - 1));
    } else {
      required->push_back(m);
    }
  }
}

// A server started with a reference that does not resolve (a typo, a model or alias not
// registered) would answer 503 for it forever: fail the start instead, naming it.
void CheckModelRefsResolve(const std::string& home, const std::vector<std::string>& refs) {
  if (refs.empty()) return;
  Registry registry = OpenRegistry(home);
  for (const std::string& ref : refs) {
    try {
      registry.Resolve(ref);
    } catch (const Error& e) {
      std::string why = e.what();
      for (char& c : why) {
        if (c == '\n' || c == '\r') c = ' ';
      }
      Fail(e.code(),
           "--model {}: {}; register or promote it first, or give --model '{}?' to serve it "
           "once it appears",
           ref, why, ref);
    }
  }
}

pthread_t g_serve_thread;

// Threads created before RunServe blocked the stop signals (OpenBLAS starts its pool when the
// library loads) would take a SIGTERM with the default action and end the process before the
// drain. Such a thread runs this instead and hands the signal to the serving thread, where it
// stays pending until sigwait takes it.
extern "C" void ForwardStopSignal(int sig) { pthread_kill(g_serve_thread, sig); }

void RunServe(const ServeFlags& f, const GlobalOptions& g) {
  // Block the stop signals in every thread (they inherit the mask); the main thread takes them
  // with sigwait, so shutdown runs as ordinary code, not in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  g_serve_thread = pthread_self();
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  struct sigaction forward {};
  forward.sa_handler = ForwardStopSignal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGINT, &forward, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string home = ResolveHome(g.home);
  ApiKeys keys;
  if (!f.api_keys.empty()) keys = ApiKeys::Load(f.api_keys);
  if (f.host != "127.0.0.1" && f.host != "::1" && f.host != "localhost" && !keys.enabled()) {
    spdlog::warn("serve: listening on {} without --api-keys: anyone who can reach it can call it",
                 f.host);
  }
  HomeLock home_lock(home);  // a second server on this home stops here, naming the first one
  ServerCoreOptions o;
  o.home = home;
  SplitModelRefs(f.models, &o.models, &o.optional_models);
  CheckModelRefsResolve(home, o.models);
  o.bandits = f.bandits;
  o.keys = std::move(keys);
  o.limits.max_k = f.max_k;
  o.http.host = f.host == "localhost" ? "127.0.0.1" : f.host;
  o.http.port = f.port;
  o.http.threads =
      g.threads > 0 ? g.threads : static_cast<int>(std::thread::hardware_concurrency());
  o.http.body_limit = f.body_limit;
  o.http.request_timeout = std::chrono::milliseconds(f.request_timeout_ms);
  o.poll_interval = std::chrono::milliseconds(static_cast<int64_t>(f.poll_seconds * 1000));
  o.score_cache_bytes = f.score_cache_mb << 20;
  const BackendConfig backends = ResolveBackends(home, Env::Default());
  o.retrieval = backends.retrieval;  // [serve] of marquee.toml
  // Acknowledge events once written to the kernel, fsynced every 100 ms (docs/config.md).
  if ((f.event_sync.empty() ? backends.event_sync : f.event_sync) == "write") {
    o.event_log.sync = false;
    o.event_log.sync_interval = std::chrono::milliseconds(100);
  }
  // The event log's fsynced group commits at most every commit_gap_us (docs/config.md).
  o.event_log.commit_gap =
      std::chrono::microseconds(f.commit_gap_us >= 0 ? f.commit_gap_us : backends.commit_gap_us);
  if (!f.index.empty()) o.retrieval.index = f.index;
  if (f.hnsw_ef_search > 0) o.retrieval.hnsw_ef_search = f.hnsw_ef_search;
  o.exposure_log.flush_interval = std::chrono::milliseconds(f.exposure_flush_ms);
  o.decision_log.reward_window_ms = static_cast<int64_t>(f.reward_window_s * 1000);
  o.decision_log.default_reward = f.default_reward;
  o.max_actions = f.max_actions;
  AddControlPlane(o, ControlPlaneOptions{
                         .home = home, .ui_dir = f.ui_dir});  // /api/v1 and /v1/models/{name}:VERB
  ServerCore core(std::move(o));
  core.Start();
  if (!f.port_file.empty()) {
    std::string tmp = f.port_file + ".tmp";
    FILE* pf = std::fopen(tmp.c_str(), "w");
    if (pf == nullptr) Fail(ErrorCode::kIOError, "cannot write --port-file '{}'", f.port_file);
    std::fprintf(pf, "%u\n", core.port());
    std::fclose(pf);
    std::rename(tmp.c_str(), f.port_file.c_str());
  }
  spdlog::info("serve: listening on http://{}:{} ({} io threads, {} models, events in {})",
               core.options().http.host, core.port(), core.options().http.threads, f.models.size(),
               core.events() ? core.events()->Describe() : home + "/events");
  if (!f.bandits.empty()) {
    spdlog::info("serve: {} bandit policies, decisions in {} (reward window {} s)",
                 f.bandits.size(), core.decisions()->Describe(), f.reward_window_s);
  }

  // Stops (between pipeline steps) and joins the scheduler when it goes out of scope.
  std::shared_ptr<void> scheduler =
      f.scheduler ? StartScheduler(home, g, f.scheduler_poll) : nullptr;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("serve: {} received: draining connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  scheduler.reset();
  core.Stop();  // the shutdown order: serving/server_core.h
  spdlog::info("serve: stopped");
}

}  // namespace

nlohmann::json ImportEventLog(const std::string& name, const GlobalOptions& g) {
  const std::string home = ResolveHome(g.home);
  std::string dir;  // where the events are: the RocksDB directory or the Redis URL
  auto log = OpenEventStoreForRead(home, &dir);  // state/online_state.h
  std::vector<RawInteraction> rows;
  log->ForEach([&](const StoredEvent& e) {
    rows.push_back({e.user, e.item, e.value, e.ts});
    return true;
  });
  if (rows.empty()) Fail(ErrorCode::kInvalidArgument, "the event log in '{}' is empty", dir);
  Dataset ds = Dataset::FromRows(rows, true, true, "events:" + dir);
  DatasetCatalog catalog(home, Env::Default());
  CreateRegistryIfMissing(home);  // before the catalog (commands.h)
  nlohmann::json j = catalog.Import(name, ds).ToJson();
  j["events"] = rows.size();
  return j;
}

void AddServeCommand(CLI::App& app, GlobalOptions& g) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve recommendations over HTTP (JSON API: docs/api/openapi.yaml).\n\n"
      "Examples:\n"
      "  marquee serve --model title-recs@production\n"
      "  marquee serve --bandit artwork@production --reward-window 600\n"
      "  marquee serve --port 9000 --threads 4 --model a@production --model b/3 "
      "--api-keys keys.txt\n"
      "  marquee serve --model recs@production --model 'recs@canary?'\n\n"
      "One server per --home: a second one exits at once naming the first's pid\n"
      "($home/serving/serve.pid). /readyz answers 503 until the --model models\n"
      "are loaded and while the event log cannot store events (a full disk).");
  cmd->add_option("--host", f->host, "Address to bind (default: loopback only)")
      ->capture_default_str();
  cmd->add_option("--port", f->port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--model", f->models,
                  "Recommender to serve: NAME, NAME@ALIAS or NAME/VERSION (repeatable). A\n"
                  "reference that does not resolve in the registry stops the start (exit 3);\n"
                  "end it with '?' (--model 'NAME@ALIAS?') for a model promoted later: it\n"
                  "answers 503 until it appears and does not hold /readyz back. Tabular\n"
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
  cmd->add_option("--ui-dir", f->ui_dir,
                  "The dashboard's built assets served at /ui/ (default: $MARQUEE_UI_DIR, else "
                  "ui/dist of the source tree)");
  cmd->add_option("--port-file", f->port_file, "Write the bound port to this file once listening");
  cmd->add_option("--score-cache-mb", f->score_cache_mb,
                  "Per model version: materialise the training users' scores when users x items "
                  "fits in this many MiB (0: off). A known user with no new positive event is then "
                  "answered from it, with the same scores. For EASE, what the budget leaves keeps "
                  "the training sums of members whose history grew, so their requests add only "
                  "the new items' rows (again the same scores)")
      ->capture_default_str();
  cmd->add_option("--index", f->index,
                  "How recommenders find their best items: exact (score every item) or hnsw (an\n"
                  "HNSW graph over a factor model's items, built when a version loads; iALS and\n"
                  "BPR). Default: [serve] index in marquee.toml, else exact (docs/config.md)")
      ->check(CLI::IsMember({"exact", "hnsw"}));
  cmd->add_option("--hnsw-ef-search", f->hnsw_ef_search,
                  "Candidate list of an HNSW search (higher: better recall, slower). Default:\n"
                  "[serve] hnsw_ef_search in marquee.toml, else 200")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--event-sync", f->event_sync,
                  "When POST /v1/events answers: fsync (once the event log is fsynced: survives\n"
                  "power loss) or write (once written to the kernel: survives kill -9, not power\n"
                  "loss; fsynced every 100 ms). Default: [serve] event_sync in marquee.toml,\n"
                  "else fsync (docs/config.md)")
      ->check(CLI::IsMember({"fsync", "write"}));
  cmd->add_option("--commit-gap-us", f->commit_gap_us,
                  "Fsynced writes of the event log start at least this many microseconds apart;\n"
                  "what arrives meanwhile joins the next one (a busy server fsyncs at most 1e6/N\n"
                  "times a second; after a quiet spell a write goes at once). 0: back to back.\n"
                  "Default: [serve] commit_gap_us in marquee.toml, else 2000 (docs/config.md)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--exposure-flush-ms", f->exposure_flush_ms,
                  "Online experiments: milliseconds between the exposure log's fsynced group\n"
                  "commits. Exposures are logged asynchronously: a crash loses at most about this\n"
                  "much; shorter costs more fsyncs (docs/experiments.md)")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  cmd->add_option("--bandit", f->bandits,
                  "Contextual-bandit policy for POST /v1/decide and /v1/reward: NAME, NAME@ALIAS\n"
                  "or NAME/VERSION of a registered policy (family uniform, epsilon-greedy,\n"
                  "softmax, linucb, lints; repeatable). Alias moves are followed like --model.\n"
                  "Decisions and rewards are logged durably in $home/decisions.");
  cmd->add_option("--reward-window", f->reward_window_s,
                  "Seconds after a decision during which POST /v1/reward joins it; later rewards\n"
                  "are refused (409) and the decision gets --default-reward")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--default-reward", f->default_reward,
                  "Reward given to a decision with no reward when its window closes")
      ->capture_default_str();
  cmd->add_option("--max-actions", f->max_actions, "Most actions one /v1/decide may offer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--scheduler", f->scheduler,
                "Also run the stored pipeline schedules when due (marquee pipeline schedule),\n"
                "one at a time on a thread of this server, as `marquee scheduler` does");
  cmd->add_option("--scheduler-poll", f->scheduler_poll,
                  "With --scheduler: how often to check for due schedules (30s, 1m, 5s)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            try {
              flow::ParseEvery(text);
            } catch (const Error& e) {
              return e.what();
            }
            return "";
          },
          "INTERVAL"))
      ->capture_default_str();
  cmd->callback([f, &g] { RunServe(*f, g); });
}

}  // namespace marquee::cli
