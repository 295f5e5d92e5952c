// marquee experiments create|start|stop|list|show|analyze: online experiments in the registry
// (src/experiments/experiment.h) and their analysis (src/experiments/analysis.h). Thin.
#include <cstdio>
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

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

void PrintExperiment(const Experiment& e) {
  const auto& s = e.spec;
  std::printf("experiment %s (%s): %s\n", s.name.c_str(), std::string(ModeName(s.mode)).c_str(),
              std::string(ExperimentStateName(e.record.state)).c_str());
  if (!s.description.empty()) std::printf("  %s\n", s.description.c_str());
  std::printf("  salt %s, attribution window %lld s, plays: %s\n", s.salt.c_str(),
              static_cast<long long>(s.attribution_window),
              s.event_types.empty()
                  ? "every event with value > 0"
                  : fmt::format("events of type {}", fmt::join(s.event_types, ", ")).c_str());
  for (const auto& c : s.cells) {
    std::printf("  cell %-16s weight %.4f  model %s\n", c.name.c_str(), c.weight, c.model.c_str());
  }
  std::printf("  created %s, first started %s, changed %s\n", TimeText(e.record.created_at).c_str(),
              TimeText(e.record.first_started_at).c_str(), TimeText(e.record.updated_at).c_str());
}

// The library's experiment JSON with its times as ISO 8601 UTC (the CLI's one convention).
json ExperimentJsonIso(const Experiment& e) {
  json j = ExperimentJson(e);
  IsoTimeFields(j, {"created_at", "first_started_at", "updated_at"});
  return j;
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
      Registry reg = OpenRegistry(ResolveHome(g.home));
      const std::string text = Env::Default()->ReadFile(*file);
      ExperimentSpec spec = ParseExperimentToml(text, *file);
      Experiment e = CreateExperiment(reg, spec, text, Now());
      if (*as_json) {
        PrintJson(ExperimentJsonIso(e).dump());
      } else {
        PrintExperiment(e);
        std::printf("start it with: marquee experiments start %s\n", e.spec.name.c_str());
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
      Registry reg = OpenRegistry(ResolveHome(g.home));
      Experiment e = start ? StartExperiment(reg, *name, Now()) : StopExperiment(reg, *name, Now());
      if (*as_json) {
        PrintJson(ExperimentJsonIso(e).dump());
      } else {
        std::printf("experiment %s: %s\n", name->c_str(),
                    std::string(ExperimentStateName(e.record.state)).c_str());
      }
    });
  }
  {
    auto as_json = std::make_shared<bool>(false);
    CLI::App* c = exps.add_subcommand("list", "List experiments, oldest first");
    c->add_flag("--json", *as_json, "One JSON object on stdout");
    c->callback([as_json, &g] {
      Registry reg = OpenRegistry(ResolveHome(g.home));
      auto all = ListExperiments(reg);
      if (*as_json) {
        json arr = json::array();
        for (const auto& e : all) arr.push_back(ExperimentJsonIso(e));
        PrintJson(json{{"experiments", arr}}.dump());
        return;
      }
      std::printf("%-28s %-10s %-8s %-6s %s\n", "NAME", "MODE", "STATE", "CELLS", "CREATED");
      for (const auto& e : all) {
        std::printf("%-28s %-10s %-8s %-6zu %s\n", e.spec.name.c_str(),
                    std::string(ModeName(e.spec.mode)).c_str(),
                    std::string(ExperimentStateName(e.record.state)).c_str(), e.spec.cells.size(),
                    TimeText(e.record.created_at).c_str());
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
      Registry reg = OpenRegistry(ResolveHome(g.home));
      Experiment e = GetExperiment(reg, *name);
      auto history = ExperimentHistory(reg, *name);
      if (*as_json) {
        json j = ExperimentJsonIso(e);
        j["history"] = json::array();
        for (const auto& h : history) {
          j["history"].push_back({{"action", h.action},
                                  {"from", ExperimentStateName(h.from)},
                                  {"to", ExperimentStateName(h.to)},
                                  {"at", TimeJson(h.at)}});
        }
        j["source"] = e.record.source;
        PrintJson(j.dump());
        return;
      }
      PrintExperiment(e);
      for (const auto& h : history) {
        std::printf("  %s  %-5s %s -> %s\n", TimeText(h.at).c_str(), h.action.c_str(),
                    std::string(ExperimentStateName(h.from)).c_str(),
                    std::string(ExperimentStateName(h.to)).c_str());
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
