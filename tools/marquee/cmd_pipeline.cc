// marquee pipeline run FLOW.toml [--json]      run a flow's steps, recorded in the registry
// marquee pipeline resume RUN [--json]         continue a failed or interrupted pipeline run
// marquee pipeline status [RUN] [--json]       pipeline runs and their steps
// marquee pipeline schedule FLOW.toml --every 24h | --list | --remove ID
// marquee scheduler [--poll 30s] [--once]      run due schedules until stopped
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "common/time.h"
#include "data/catalog.h"
#include "flow/engine.h"
#include "flow/schedule.h"
#include "flow/step.h"
#include "marquee/env.h"
#include "pipeline/train.h"

namespace marquee::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int) { g_stop.store(true); }

// SIGINT/SIGTERM stop the pipeline between steps (a second one kills the process as usual).
void StopOnSignals() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

flow::EngineOptions Options(const GlobalOptions& g) {
  flow::EngineOptions o;
  o.home = ResolveHome(g.home);
  o.ctx.threads = g.threads > 0 ? g.threads : Context::DefaultThreads();
  o.cancelled = [] { return g_stop.load(); };
  if (!g.quiet) o.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  return o;
}

void RefuseServer(const GlobalOptions& g, const char* what) {
  if (!g.server.empty()) {
    Fail(ErrorCode::kUnimplemented,
         "{} has no --server form: run it where the home is (a PostgreSQL registry works the same "
         "from any machine that reaches it)",
         what);
  }
}

// Prints the run; a run that did not complete exits 5 (failed precondition) after its summary.
void Finish(const flow::PipelineRun& run, bool json) {
  if (json) {
    PrintJson(run.ToJson().dump());
  } else {
    std::printf("%s", run.Text().c_str());
  }
  if (run.ok()) return;
  if (json) {
    std::fflush(stdout);
    std::exit(ExitCodeFor(ErrorCode::kFailedPrecondition));
  }
  Fail(ErrorCode::kFailedPrecondition,
       "pipeline run {} {}: {} (resume with `marquee pipeline "
       "resume {}`)",
       run.run_id, run.state, run.reason, run.run_id);
}

std::string When(int64_t t) { return t > 0 ? IsoUtc(t) : "-"; }

}  // namespace

namespace {
class SchedulerThread {
 public:
  SchedulerThread(const std::string& home, const GlobalOptions& g, double poll_s) {
    flow::EngineOptions o;
    o.home = home;
    o.ctx.threads = g.threads > 0 ? g.threads : Context::DefaultThreads();
    o.cancelled = [this] { return stop_.load(); };
    o.log = [](const std::string& line) { spdlog::info("scheduler: {}", line); };
    thread_ = std::thread([this, home, o, poll_s] {
      flow::SchedulerLoop(
          home, [home] { return OpenRegistry(home); }, o, poll_s, stop_);
    });
  }
  ~SchedulerThread() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};
}  // namespace

std::shared_ptr<void> StartScheduler(const std::string& home, const GlobalOptions& g,
                                     const std::string& poll) {
  const double poll_s = static_cast<double>(flow::ParseEvery(poll));
  spdlog::info("serve: running pipeline schedules of {} (checked every {:.0f} s)", home, poll_s);
  return std::make_unique<SchedulerThread>(home, g, poll_s);
}

void AddPipelineCommands(CLI::App& app, GlobalOptions& g) {
  CLI::App* cmd = app.add_subcommand(
      "pipeline", "Retrain, evaluate, gate and promote a model as one recorded flow (FLOW.toml)");
  cmd->require_subcommand(1);
  cmd->footer(
      "A flow is a list of steps run in order; each is recorded as a registry run, so `status`\n"
      "shows what happened and `resume` continues after a failure or a kill without running a\n"
      "completed step (or registering a version) twice. Step kinds: snapshot, train, evaluate,\n"
      "gate, promote, rollback (and any registered). See docs/pipelines.md. Example:\n"
      "  marquee pipeline run fresh.toml          # snapshot -> train -> evaluate -> gate -> "
      "promote\n"
      "  marquee pipeline status                  # recent pipeline runs and their states\n"
      "  marquee pipeline resume 12               # continue run 12 from its first unfinished "
      "step\n"
      "  marquee pipeline schedule fresh.toml --every 24h && marquee scheduler");

  auto run_flow = std::make_shared<std::string>();
  auto run_json = std::make_shared<bool>(false);
  CLI::App* run = cmd->add_subcommand(
      "run", "Run every step of a flow; stops at the first that fails or does not pass");
  run->add_option("flow", *run_flow, "FLOW.toml")->required();
  run->add_flag("--json", *run_json, "Print the run's record as one JSON object on stdout");
  run->footer(
      "Progress goes to stderr, one line per step. Exit 0 when every step completed, 5 when a\n"
      "step failed or did not pass (a gate refused: production is untouched), with the reason.");
  run->callback([run_flow, run_json, &g] {
    RefuseServer(g, "pipeline run");
    const std::string path = std::filesystem::absolute(*run_flow).lexically_normal().string();
    const flow::Flow flow = flow::LoadFlow(path);
    StopOnSignals();
    const flow::EngineOptions o = Options(g);
    Registry registry = OpenRegistry(o.home);
    Finish(flow::RunFlow(flow, path, registry, o), *run_json);
  });

  auto resume_id = std::make_shared<int64_t>(0);
  auto resume_json = std::make_shared<bool>(false);
  CLI::App* resume = cmd->add_subcommand(
      "resume", "Continue a failed, stopped or interrupted pipeline run as a new run");
  resume->add_option("run", *resume_id, "Pipeline run id (see `marquee pipeline status`)")
      ->required();
  resume->add_flag("--json", *resume_json, "Print the new run's record as JSON");
  resume->footer(
      "Uses the flow recorded with the run. Steps it completed are reused with their recorded\n"
      "outputs; a train step whose version was registered before a kill reuses that version.");
  resume->callback([resume_id, resume_json, &g] {
    RefuseServer(g, "pipeline resume");
    StopOnSignals();
    const flow::EngineOptions o = Options(g);
    Registry registry = OpenRegistry(o.home);
    Finish(flow::ResumeRun(*resume_id, registry, o), *resume_json);
  });

  auto status_id = std::make_shared<int64_t>(0);
  auto status_limit = std::make_shared<int64_t>(20);
  auto status_json = std::make_shared<bool>(false);
  CLI::App* status = cmd->add_subcommand("status", "Pipeline runs and the state of their steps");
  status->add_option("run", *status_id, "One pipeline run (default: the latest runs)");
  status->add_option("--limit", *status_limit, "Runs listed without RUN (default 20)");
  status->add_flag("--json", *status_json, "Print JSON (an object for RUN, else an array)");
  status->callback([status_id, status_limit, status_json, &g] {
    RefuseServer(g, "pipeline status");
    Registry registry = OpenRegistry(ResolveHome(g.home));
    if (*status_id > 0) {
      const flow::PipelineRun r = flow::LoadPipelineRun(registry, *status_id);
      if (*status_json) {
        PrintJson(r.ToJson().dump());
      } else {
        std::printf("%s", r.Text().c_str());
      }
      return;
    }
    const auto runs = flow::ListPipelineRuns(registry, *status_limit);
    if (*status_json) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& r : runs) a.push_back(r.ToJson());
      PrintJson(a.dump());
      return;
    }
    std::printf("%5s  %-20s %-20s %-11s %-20s %s\n", "run", "pipeline", "model", "state", "started",
                "steps");
    for (const auto& r : runs) {
      std::string steps;
      for (const auto& s : r.steps) steps += (steps.empty() ? "" : " ") + s.name + ":" + s.state;
      std::printf("%5lld  %-20s %-20s %-11s %-20s %s\n", static_cast<long long>(r.run_id),
                  r.pipeline.c_str(), r.model.c_str(), r.state.c_str(), When(r.started_at).c_str(),
                  steps.c_str());
    }
  });

  struct ScheduleFlags {
    std::string flow, every;
    bool list = false, now = false, json = false;
    int64_t remove = 0;
  };
  auto sf = std::make_shared<ScheduleFlags>();
  CLI::App* schedule = cmd->add_subcommand(
      "schedule",
      "Run a flow every interval (by `marquee scheduler` or `marquee serve --scheduler`)");
  schedule->add_option("flow", sf->flow, "FLOW.toml to schedule");
  schedule->add_option("--every", sf->every, "Interval: 24h, 30m, 90s, 2d");
  schedule->add_flag("--now", sf->now,
                     "First run at the scheduler's next check, not after --every");
  schedule->add_flag("--list", sf->list, "List the stored schedules");
  schedule->add_option("--remove", sf->remove, "Remove schedule ID");
  schedule->add_flag("--json", sf->json, "Print JSON");
  schedule->footer(
      "Schedules live in $home/pipelines/schedules.json; the flow file is read again at each run.\n"
      "  marquee pipeline schedule fresh.toml --every 24h\n"
      "  marquee pipeline schedule --list\n"
      "  marquee pipeline schedule --remove 1");
  schedule->callback([sf, &g] {
    RefuseServer(g, "pipeline schedule");
    flow::ScheduleStore store(ResolveHome(g.home), Env::Default());
    const int modes = (sf->list ? 1 : 0) + (sf->remove > 0 ? 1 : 0) + (!sf->flow.empty() ? 1 : 0);
    if (modes != 1) {
      Fail(
          ErrorCode::kInvalidArgument,
          "pipeline schedule needs exactly one of FLOW.toml --every INTERVAL, --list, --remove ID");
    }
    if (sf->remove > 0) {
      store.Remove(sf->remove);
      if (sf->json) {
        PrintJson(nlohmann::json{{"removed", sf->remove}}.dump());
      } else {
        std::printf("Removed schedule %lld\n", static_cast<long long>(sf->remove));
      }
      return;
    }
    if (sf->list) {
      const auto all = store.List();
      if (sf->json) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& s : all) a.push_back(s.ToJson());
        PrintJson(a.dump());
        return;
      }
      std::printf("%4s  %-20s %9s  %-20s %-10s %s\n", "id", "pipeline", "every", "next", "last",
                  "flow");
      for (const auto& s : all) {
        std::printf("%4lld  %-20s %8llds  %-20s %-10s %s\n", static_cast<long long>(s.id),
                    s.pipeline.c_str(), static_cast<long long>(s.every_s), When(s.next_at).c_str(),
                    s.last_state.empty() ? "-" : s.last_state.c_str(), s.flow.c_str());
      }
      return;
    }
    if (sf->every.empty()) Fail(ErrorCode::kInvalidArgument, "give --every INTERVAL (e.g. 24h)");
    const flow::Schedule s = store.Add(sf->flow, flow::ParseEvery(sf->every), sf->now);
    if (sf->json) {
      PrintJson(s.ToJson().dump());
    } else {
      std::printf(
          "Scheduled %s (pipeline %s) every %llds as schedule %lld; first run at %s.\n"
          "Run `marquee scheduler` (or `marquee serve --scheduler`) to run it.\n",
          s.flow.c_str(), s.pipeline.c_str(), static_cast<long long>(s.every_s),
          static_cast<long long>(s.id), When(s.next_at).c_str());
    }
  });

  auto poll = std::make_shared<std::string>("30s");
  auto once = std::make_shared<bool>(false);
  CLI::App* sched = app.add_subcommand(
      "scheduler", "Run the stored pipeline schedules when due, one at a time, until stopped");
  sched->add_option("--poll", *poll, "How often to check for due schedules (default 30s)");
  sched->add_flag("--once", *once, "Run what is due now, then exit");
  sched->footer(
      "A failed run is recorded (pipeline status, schedule --list) and the scheduler goes on.\n"
      "SIGINT/SIGTERM stop it between steps. `marquee serve --scheduler` runs the same loop.");
  sched->callback([poll, once, &g] {
    RefuseServer(g, "scheduler");
    const double poll_s = static_cast<double>(flow::ParseEvery(*poll));
    StopOnSignals();
    flow::EngineOptions o = Options(g);
    const std::string home = o.home;
    if (*once) {
      Registry registry = OpenRegistry(home);
      const auto runs = flow::RunDueSchedules(home, registry, o, Env::Default()->NowSeconds());
      std::printf("%zu scheduled pipeline runs\n", runs.size());
      for (const auto& r : runs) std::printf("%s", r.Text().c_str());
      return;
    }
    if (!g.quiet)
      std::fprintf(stderr, "scheduler: checking %s every %.0f s\n", home.c_str(), poll_s);
    flow::SchedulerLoop(
        home, [home] { return OpenRegistry(home); }, o, poll_s, g_stop);
  });
}

}  // namespace marquee::cli
