// Subcommand registration for the marquee CLI. Each Add*Command defines its flags on `app` and
// sets a callback that calls the library; errors propagate to main() as marquee::Error.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "common/time.h"
#include "pipeline/train.h"
#include "registry/json.h"
#include "registry/registry.h"

namespace marquee::cli {

// Options shared by every subcommand (declared on the root app, usable after the subcommand).
struct GlobalOptions {
  std::string home;    // --home (else $MARQUEE_HOME, else ./.marquee)
  int threads = 0;     // --threads (0: all cores)
  bool quiet = false;  // --quiet: no progress on stderr
  // --json anywhere on the command line (main.cc scans for it before parsing, so errors found
  // while parsing are JSON too). Commands with their own --json flag read that flag instead.
  bool json = false;
  std::string log_level = "info";
  // --server URL: the commands that have a remote form ask that server (control_source.h);
  // the others refuse. --api-key: the key sent to it (else $MARQUEE_API_KEY).
  std::string server, api_key;
};

// Progress display settings for long jobs: off with -q, else Progress's defaults (one redrawn
// line on a terminal, a plain line every 5 s otherwise).
// Creates the home's registry when it has none. Every command that writes a catalog (datasets,
// tabular snapshots, bandit logs) calls it first, so a home with catalogued data and no
// registry is known to be damaged and is refused (WhyARegistryMustExist), never silently given
// an empty registry that gc would then trust.
inline void CreateRegistryIfMissing(const std::string& home) { Registry registry(home); }

inline Progress::Options ProgressOptions(const GlobalOptions& g) {
  Progress::Options o;
  o.enabled = !g.quiet;
  return o;
}

// How main()'s one catch ends a failed command: after printing the error it calls `abort` with the
// exit status when set, and prints no JSON error on stdout when `quiet_stdout`. The train
// command sets both under mpirun (cmd_train.cc): a failed rank must end every rank (MPI_Abort),
// and only rank 0 writes stdout. Main thread only.
struct FatalErrorHook {
  std::function<void(int status)> abort;
  bool quiet_stdout = false;
};
FatalErrorHook& OnFatalError();

void AddDatasetCommands(CLI::App& app, GlobalOptions& g);
void AddTrainCommand(CLI::App& app, GlobalOptions& g);
void AddDemoCommand(CLI::App& app, GlobalOptions& g);
// marquee runs ..., marquee models ..., marquee gc (the model registry).
void AddRegistryCommands(CLI::App& app, GlobalOptions& g);
// marquee serve (src/serving, src/events).
void AddServeCommand(CLI::App& app, GlobalOptions& g);
// marquee deploy nginx (cmd_deploy.cc): the configuration for many replicas behind nginx.
void AddDeployCommands(CLI::App& app, GlobalOptions& g);
// `marquee dataset import --from-events`: snapshots $home/events (read-only view, allowed while
// a server runs) as dataset `name`; returns the catalog entry as JSON plus "events".
nlohmann::json ImportEventLog(const std::string& name, const GlobalOptions& g);

// Tabular data and models (cmd_tabular.cc): tabular `dataset import` and `dataset show` text,
// `models import`, and `marquee predict`. The Print* functions render what the views give
// (control/views.h: ImportTabularView, DatasetShowView), local or from a server.
void PrintTabularImport(const std::string& file, const nlohmann::json& j);
void PrintTabularDataset(const nlohmann::json& j);
void AddModelsImportCommand(CLI::App& models, GlobalOptions& g);
void AddPredictCommand(CLI::App& app, GlobalOptions& g);
// `marquee decisions export` (cmd_decisions.cc): the bandit decision log as DSJSON or JSONL.
void AddDecisionsCommands(CLI::App& app, GlobalOptions& g);
// `marquee tune` and `marquee studies list|show` (cmd_tune.cc, src/tune).
void AddTuneCommands(CLI::App& app, GlobalOptions& g);
void AddPipelineCommands(CLI::App& app, GlobalOptions& g);  // cmd_pipeline.cc
// `marquee serve --scheduler`: the scheduler loop on its own thread, checking every `poll`
// (an interval as `--every` takes it: "30s", "1m"; kInvalidArgument otherwise); releasing the
// handle stops it (between pipeline steps) and joins it.
std::shared_ptr<void> StartScheduler(const std::string& home, const GlobalOptions& g,
                                     const std::string& poll);

// A time for human output: ISO 8601 UTC ("2026-12-05T07:05:41Z", common/time.h), "-" for 0
// (never happened).
inline std::string TimeText(int64_t unix_seconds) {
  return unix_seconds > 0 ? IsoUtc(unix_seconds) : "-";
}

// Rewrites the fields `keys` of the object `j` that hold Unix seconds (numbers) as TimeJson
// (registry/json.h: ISO 8601 UTC, null for 0), for JSON built by a library with raw timestamps.
inline void IsoTimeFields(nlohmann::json& j, std::initializer_list<const char*> keys) {
  if (!j.is_object()) return;
  for (const char* k : keys) {
    auto it = j.find(k);
    if (it != j.end() && it->is_number_integer()) *it = TimeJson(it->get<int64_t>());
  }
}

// Prints one JSON document on stdout (the only thing --json writes there) and flushes it.
// Defined in main.cc, which then knows not to print a second (error) document. Main thread only.
void PrintJson(const std::string& json_text);

// Contextual bandits (cmd_bandit.cc): bandit logs' `dataset import` and `dataset show` text
// (from ImportBanditLogView / DatasetShowView JSON), `marquee ope`, `marquee simulate bandit`.
void PrintBanditImport(const std::string& file, const nlohmann::json& j);
void PrintBanditDataset(const nlohmann::json& j);
void AddBanditCommands(CLI::App& app, GlobalOptions& g);

// The subcommand `name` of `parent`, created (with `description`) on first use. Subcommand
// groups shared by several files (`simulate`: cmd_bandit.cc, cmd_experiment_sim.cc;
// `experiments`: cmd_experiments.cc, cmd_experiment_sim.cc) must be obtained through this so the
// registration order in main.cc does not matter.
inline CLI::App& SharedSubcommand(CLI::App& parent, const std::string& name,
                                  const std::string& description) {
  // CLI11 2.1 has no get_subcommand_no_throw: filter the existing subcommands by name.
  auto existing = parent.get_subcommands([&](const CLI::App* a) { return a->get_name() == name; });
  if (!existing.empty()) {
    if (existing.front()->get_description().empty()) existing.front()->description(description);
    return *existing.front();
  }
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->require_subcommand(1);
  return *sub;
}

// Online experiments, simulator and statistics side (cmd_experiment_sim.cc):
// `marquee simulate experiment` (replay simulator) and `marquee experiments stats
// welch|chisq|binom` (statistics on numbers from stdin, used by the scipy parity test).
void AddExperimentSimCommands(CLI::App& app, GlobalOptions& g);
// Online experiments, registry and serving side (cmd_experiments.cc): `marquee experiments
// create|start|stop|list|show|analyze`.
void AddExperimentCommands(CLI::App& app, GlobalOptions& g);

}  // namespace marquee::cli
