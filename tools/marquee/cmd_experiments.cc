// marquee experiments create|start|stop|list|show|analyze: online experiments in the registry
// (src/experiments/experiment.h) and their analysis (src/experiments/analysis.h). Thin.
#include <cstdio>

#include <fmt/ranges.h>
#include <ctime>
#include <memory>
#include <string_view>

#include "commands.h"
#include "control_source.h"
#include "data/catalog.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/registry.h"

namespace marquee::cli {
namespace {

using json = nlohmann::json;

// Text of a JSON time (ISO 8601, or "-" for null: never happened).
std::string TimeOf(const json& t) { return t.is_string() ? t.get<std::string>() : "-"; }

// An experiment as ExperimentShowView / ExperimentsListView give it.
void PrintExperiment(const json& e) {
  std::printf("experiment %s (%s): %s\n", e["name"].get<std::string>().c_str(),
              e["mode"].get<std::string>().c_str(), e["state"].get<std::string>().c_str());
  const std::string description = e["description"].get<std::string>();
  if (!description.empty()) std::printf("  %s\n", description.c_str());
  const std::vector<std::string> types = e["event_types"].get<std::vector<std::string>>();
  std::printf("  salt %s, attribution window %lld s, plays: %s\n",
              e["salt"].get<std::string>().c_str(),
              static_cast<long long>(e["attribution_window"].get<int64_t>()),
              types.empty() ? "every event with value > 0"
                            : fmt::format("events of type {}", fmt::join(types, ", ")).c_str());
  for (const auto& c : e["cells"]) {
    std::printf("  cell %-16s weight %.4f  model %s\n", c["name"].get<std::string>().c_str(),
                c["weight"].get<double>(), c["model"].get<std::string>().c_str());
  }
  std::printf("  created %s, first started %s, changed %s\n", TimeOf(e["created_at"]).c_str(),
              TimeOf(e["first_started_at"]).c_str(), TimeOf(e["updated_at"]).c_str());
}

}  // namespace

void AddExperimentCommands(CLI::App& app, GlobalOptions& g) {
  CLI::App& exps = SharedSubcommand(app, "experiments", "Online experiments (A/B, interleaving)");

  {
    auto file = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    CLI::App* c = exps.add_subcommand(
        "create",
        "Store an experiment defined in TOML as a draft (docs/experiments.md).\n\n"
        "Example:\n  marquee experiments create recs-ab.toml");
    c->add_option("file", *file, "Experiment definition (TOML)")->required();
    c->add_flag("--json", *as_json, "One JSON object on stdout");
    c->callback([file, as_json, &g] {
      ControlSource source(g);
      const json e = source.ExperimentCreate(Env::Default()->ReadFile(*file), *file);
      if (*as_json) {
        PrintJson(e.dump());
      } else {
        PrintExperiment(e);
        std::printf("start it with: marquee experiments start %s\n",
                    e["name"].get<std::string>().c_str());
      }
    });
  }
  for (const bool start : {true, false}) {
    auto name = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    CLI::App* c = exps.add_subcommand(
        start ? "start" : "stop",
        start ? "Start (or restart) an experiment: servers begin assigning and logging within\n"
                "their poll interval (or at once on POST /admin/reload) and load cell models\n"
                "they do not serve yet. Assignment is a hash, so a restart keeps every member's "
                "cell."
              : "Stop a running experiment: servers answer its requests from the control cell\n"
                "without logging. `start` resumes it; the history keeps every change.");
    c->add_option("name", *name, "Experiment name")->required();
    c->add_flag("--json", *as_json, "One JSON object on stdout");
    c->callback([name, as_json, start, &g] {
      ControlSource source(g);
      const json e = source.ExperimentStartStop(*name, start);
      if (*as_json) {
        PrintJson(e.dump());
      } else {
        std::printf("experiment %s: %s\n", name->c_str(), e["state"].get<std::string>().c_str());
      }
    });
  }
  {
    auto as_json = std::make_shared<bool>(false);
    CLI::App* c = exps.add_subcommand("list", "List experiments, oldest first");
    c->add_flag("--json", *as_json, "One JSON object on stdout");
    c->callback([as_json, &g] {
      ControlSource source(g);
      const json all = source.ExperimentsList();
      if (*as_json) {
        PrintJson(all.dump());
        return;
      }
      std::printf("%-28s %-10s %-8s %-6s %s\n", "NAME", "MODE", "STATE", "CELLS", "CREATED");
      for (const auto& e : all["experiments"]) {
        std::printf("%-28s %-10s %-8s %-6zu %s\n", e["name"].get<std::string>().c_str(),
                    e["mode"].get<std::string>().c_str(), e["state"].get<std::string>().c_str(),
                    e["cells"].size(), TimeOf(e["created_at"]).c_str());
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    CLI::App* c = exps.add_subcommand("show", "An experiment's definition, state and history");
    c->add_option("name", *name, "Experiment name")->required();
    c->add_flag("--json", *as_json, "One JSON object on stdout");
    c->callback([name, as_json, &g] {
      ControlSource source(g);
      const json e = source.ExperimentShow(*name);
      if (*as_json) {
        PrintJson(e.dump());
        return;
      }
      PrintExperiment(e);
      for (const auto& h : e["history"]) {
        std::printf("  %s  %-5s %s -> %s\n", TimeOf(h["at"]).c_str(),
                    h["action"].get<std::string>().c_str(), h["from"].get<std::string>().c_str(),
                    h["to"].get<std::string>().c_str());
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    CLI::App* c = exps.add_subcommand(
        "analyze",
        "Attribute plays to exposures and report per cell: members, exposures, plays per\n"
        "member and per exposure, lifts with 95% intervals (Welch), CUPED, always-valid mSPRT\n"
        "p-values and the sample-ratio-mismatch check; interleaving: ranker preference shares\n"
        "with a binomial test. Reads the logs read-only (fine while a server runs).");
    c->add_option("name", *name, "Experiment name")->required();
    c->add_flag("--json", *as_json, "One JSON object on stdout");
    c->callback([name, as_json, &g] {
      ControlSource source(g);
      // One progress line per stage: exposures read (count unknown up front), then members
      // whose events are credited (local analyses only).
      std::unique_ptr<Progress> progress;
      std::string stage_shown;
      json a = source.ExperimentAnalysis(
          *name, [&](std::string_view stage, uint64_t done, uint64_t total) {
            if (stage != stage_shown) {
              progress.reset();  // the previous stage's final line
              progress = std::make_unique<Progress>(*name + ": " + std::string(stage), total,
                                                    std::string(stage), ProgressOptions(g));
              stage_shown = stage;
            }
            progress->Set(done);
          });
      progress.reset();
      if (*as_json) {
        PrintJson(a.dump());
      } else {
        std::fputs(FormatAnalysis(a).c_str(), stdout);
      }
    });
  }
}

}  // namespace marquee::cli
