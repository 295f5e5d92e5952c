// marquee train CONFIG.toml [--set key=value ...] [--json] [--server URL [--detach]]
// mpirun -np N marquee train CONFIG.toml [...]: one training across N ranks (issue #18)
#include <chrono>
#include <cstdio>
#include <thread>

#include "client/http_client.h"
#include "commands.h"
#include "common/error_codes.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/text.h"
#include "control_source.h"
#include "data/catalog.h"
#include "dist/world.h"
#include "jobs/job.h"
#include "marquee/env.h"
#include "pipeline/config.h"
#include "pipeline/train.h"
#include "registry/registry.h"

namespace marquee::cli {
namespace {

using json = nlohmann::json;

struct Flags {
  std::string config;
  std::vector<std::string> sets;
  bool json = false;
  bool detach = false;  // --server: print the job and return
};

// What `train` prints at the end, from RegisteredTraining::ToJson (`outcome`; a job's outcome
// is the same JSON) and the run's report (RegisteredTraining::report; a run's "log").
void PrintTrainResult(const json& outcome, const std::string& report, bool as_json) {
  if (as_json) {
    PrintJson(outcome.dump());
    return;
  }
  const long long run_id = outcome["run_id"].get<int64_t>();
  const long long version = outcome["version"].get<int64_t>();
  const std::string model = outcome["model"].get<std::string>();
  std::printf("%s", report.c_str());
  std::printf(
      "Recorded run %lld; registered %s version %lld.\n"
      "Next: marquee models promote %s %lld --alias production, or marquee runs compare %lld "
      "...\n",
      run_id, model.c_str(), version, model.c_str(), version, run_id);
}

// One Server-Sent Event: its "event" field ("" for a plain message) and its data lines joined.
struct SseEvent {
  std::string event, data;
  bool has_data = false;
};

SseEvent ParseSse(std::string_view message) {
  SseEvent e;
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    const std::string_view line = message.substr(start, end - start);
    if (line.starts_with("event:")) {
      std::string_view v = line.substr(6);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      e.event = std::string(v);
    } else if (line.starts_with("data:")) {
      std::string_view d = line.substr(5);
      if (d.starts_with(' ')) d.remove_prefix(1);
      if (e.has_data) e.data += '\n';
      e.data += d;
      e.has_data = true;
    }  // ":" comments (keepalives) and "id:" lines: nothing to do
    start = end + 1;
  }
  return e;
}

// Follows job `id`'s log as Server-Sent Events (GET /api/v1/jobs/{id}/log?follow=1), each line
// to stderr unless `quiet`, until the job ends; returns the job as it ended. When the stream is
// dropped (a slow follower, a proxy) the job is polled until it ends.
json FollowJob(HttpClient& client, int64_t id, bool quiet) {
  std::string pending;
  json ended;
  client.Stream("GET", fmt::format("/api/v1/jobs/{}/log?follow=1", id), [&](std::string_view d) {
    pending.append(d);
    for (size_t pos; (pos = pending.find("\n\n")) != std::string::npos;) {
      const SseEvent e = ParseSse(std::string_view(pending).substr(0, pos));
      pending.erase(0, pos + 2);
      if (e.event.empty() && e.has_data) {
        if (!quiet) std::fprintf(stderr, "%s\n", EscapeForTerminal(e.data).c_str());
      } else if (e.event == "end") {
        ended = json::parse(e.data, nullptr, false);
        return false;
      } else if (e.event == "dropped") {
        return false;
      }
    }
    return true;
  });
  const std::string target = fmt::format("/api/v1/jobs/{}", id);
  auto over = [](const json& job) {
    const std::optional<JobState> s = ParseJobState(job.value("state", ""));
    return s && IsFinal(*s);
  };
  while (!ended.is_object() || !over(ended)) {
    ended = client.Json("GET", target);
    if (over(ended)) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return ended;
}

// `marquee --server URL train CONFIG`: the config is sent as a job (POST /api/v1/jobs), its log
// followed, and what local `train` prints is printed from the job's outcome and its run. The
// config's [data] names a dataset (or a file) on the server. A job that fails throws its error
// (its code, so the exit status is local train's).
void TrainRemote(const Flags& f, const GlobalOptions& g) {
  const std::string text = Env::Default()->ReadFile(f.config);
  // Parsed here as `train` parses it, for the model name a config without [model] name gets
  // from its file name, which the server does not see.
  const TrainConfig config = ParseTrainConfig(text, f.config, f.sets);
  std::vector<std::string> overrides = f.sets;
  const json& given = config.as_given;
  if (!given.contains("model") || !given["model"].contains("name")) {
    overrides.push_back("model.name=" + config.model_name);
  }
  ControlSource source(g);
  HttpClient& client = source.Client();
  const json request = {{"config", text}, {"overrides", overrides}};
  const json job = client.Json("POST", "/api/v1/jobs", &request);
  const int64_t id = job["id"].get<int64_t>();
  if (f.detach) {
    if (f.json) {
      PrintJson(job.dump());
    } else {
      std::printf("%lld\n", static_cast<long long>(id));
    }
    return;
  }
  if (!g.quiet) {
    std::fprintf(stderr, "Training %s (%s) as job %lld on %s...\n", config.model_name.c_str(),
                 config.family.c_str(), static_cast<long long>(id), client.base_url().c_str());
  }
  const json ended = FollowJob(client, id, g.quiet);
  const std::string state = ended.value("state", "");
  if (state != "succeeded") {
    const json& err = ended["error"];
    if (err.is_object() && err.value("message", json()).is_string()) {
      throw Error(ErrorCodeFromName(err.value("code", "")).value_or(ErrorCode::kInternal),
                  err["message"].get<std::string>());
    }
    Fail(ErrorCode::kFailedPrecondition, "job {} ended {}", id, state);
  }
  const json& outcome = ended["outcome"];
  std::string report;
  if (!f.json) {
    report = client.Json("GET", fmt::format("/api/v1/runs/{}", outcome["run_id"].get<int64_t>()))
                 .value("log", "");
  }
  PrintTrainResult(outcome, report, f.json);
}

// `mpirun -np N marquee train CONFIG`: every rank runs the same job over `comm`; rank 0 records
// the run, evaluates, registers and prints (stdout: rank 0 only), the other ranks only take part
// in the fits and write nothing to the home. Any rank's error is printed by main()'s catch with
// its rank and then ends every rank through OnFatalError (MPI_Abort, non-zero exit).
void TrainOnRanks(const Flags& f, const GlobalOptions& g, Communicator& comm) {
  const int rank = comm.rank();
  OnFatalError().abort = [&comm](int status) { comm.Abort(status == 0 ? 1 : status); };
  OnFatalError().quiet_stdout = rank != 0;
  try {
    if (!g.server.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "--server and mpirun do not mix: a server's job runs in "
           "one process (run mpirun where the data is)");
    }
    if (rank != 0 && g.log_level != "debug") SetLogLevel("warn");
    TrainConfig config = LoadTrainConfig(f.config, f.sets);
    TrainOptions o;
    o.home = ResolveHome(g.home);
    // The cores of this machine are shared by the ranks started on it.
    o.ctx.threads =
        g.threads > 0 ? g.threads : std::max(1, Context::DefaultThreads() / LocalRanks());
    o.ctx.comm = &comm;
    if (rank != 0) {
      RunTraining(config, o);
      return;
    }
    o.ctx.progress = StageProgressCallback(ProgressOptions(g));
    if (!g.quiet) {
      std::fprintf(stderr, "Training %s (%s) on %d ranks, threads per rank: %d...\n",
                   config.model_name.c_str(), config.family.c_str(), comm.size(),
                   config.threads > 0 ? config.threads : o.ctx.threads);
    }
    Registry registry = OpenRegistry(o.home);
    const RegisteredTraining t = TrainAndRegister(config, o, registry, f.config, f.sets);
    PrintTrainResult(t.ToJson(), t.report, f.json);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("rank {} of {}: {}", rank, comm.size(), e.what()));
  }
}

}  // namespace

void AddTrainCommand(CLI::App& app, GlobalOptions& g) {
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train and evaluate a model from one config file, save it, record the run and register\n"
      "the model as the next version of [model] name (default: the config file's stem).\n"
      "Config sections: [data] dataset|train, positive_threshold; [split] protocol, test_users,\n"
      "fold_in, seed, refit; [model] family + its parameters; [eval] metrics; [run] threads.\n"
      "See docs/config.md. Examples:\n"
      "  marquee train examples/ml100k-ease.toml\n"
      "  marquee train examples/ml100k-ease.toml --set model.lambda=300 --json\n"
      "  marquee train examples/ml100k-ease.toml --set model.family=ials\n"
      "With --server URL the config runs as a job on that server (its [data] names a dataset\n"
      "there), the job's log is shown on stderr and the same result is printed at the end:\n"
      "  marquee --server http://127.0.0.1:8080 train examples/ml100k-ease.toml [--detach]");
  cmd->add_option("config", f->config, "TOML config file")->required();
  cmd->add_option("--set", f->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_flag("--json", f->json, "Print exactly one JSON object on stdout (progress on stderr)");
  cmd->add_flag("--detach", f->detach,
                "With --server: print the job id (--json: the job) and return without waiting");
  cmd->callback([f, &g] {
    // Under mpirun (and only then) MPI is started; it is finalised after a success. Static: on
    // an error it must outlive the unwinding, since main()'s catch aborts through it.
    static std::unique_ptr<Communicator> comm;
    if ((comm = OpenWorldCommunicator())) {
      TrainOnRanks(*f, g, *comm);
      OnFatalError() = {};
      comm.reset();
      return;
    }
    if (!g.server.empty()) {
      TrainRemote(*f, g);
      return;
    }
    if (f->detach) Fail(ErrorCode::kInvalidArgument, "--detach needs --server");
    TrainConfig config = LoadTrainConfig(f->config, f->sets);
    TrainOptions o;
    o.home = ResolveHome(g.home);
    o.ctx.threads = g.threads > 0 ? g.threads : Context::DefaultThreads();
    o.ctx.progress = StageProgressCallback(ProgressOptions(g));
    if (!g.quiet) {
      std::fprintf(stderr, "Training %s (%s) with %d threads...\n", config.model_name.c_str(),
                   config.family.c_str(), config.threads > 0 ? config.threads : o.ctx.threads);
    }
    Registry registry = OpenRegistry(o.home);
    const RegisteredTraining t = TrainAndRegister(config, o, registry, f->config, f->sets);
    PrintTrainResult(t.ToJson(), t.report, f->json);
  });
}

}  // namespace marquee::cli
