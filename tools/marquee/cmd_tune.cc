// marquee tune CONFIG [--space SPACE.toml] [--trials N] [--budget 10m] [--parallel P]
//   [--metric M] [--seed S] [--sampler tpe|random] [--register] [--resume STUDY] [--json]
// marquee studies list | show ID [--top N] [--json]
#include <cstdio>

#include "commands.h"
#include "common/log.h"
#include "data/catalog.h"
#include "marquee/env.h"
#include "tune/tuner.h"

namespace marquee::cli {
namespace {

struct TuneFlags {
  std::string config, space, budget, metric, sampler = "tpe";
  std::vector<std::string> sets;
  int trials = 0, parallel = 1, startup = 10;
  uint64_t seed = 0;
  double validation = 0.2;
  bool json = false, register_best = false;
  int64_t resume = 0;
};

}  // namespace

void AddTuneCommands(CLI::App& app, GlobalOptions& g) {
  auto f = std::make_shared<TuneFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tune", "Tune a config's [model] parameters: TPE + successive halving, a study of runs");
  cmd->footer(
      "The objective is computed on validation users carved from the training users; the test\n"
      "metric is computed once, for the best configuration. Examples:\n"
      "  marquee tune examples/ml100k-file.toml --trials 20 --budget 2m\n"
      "  marquee tune cfg.toml --space space.toml --parallel 2 --json\n"
      "  marquee tune --resume 3");
  cmd->add_option("config", f->config, "TOML train config (not with --resume)");
  cmd->add_option("--space", f->space, "Search space TOML (default: the family's)");
  cmd->add_option("--trials", f->trials, "Trials to run (default 20 unless --budget)");
  cmd->add_option("--budget", f->budget, "Time budget: 90s, 10m, 1h (no trial starts after it)");
  cmd->add_option("--parallel", f->parallel, "Trials at once, sharing the threads (default 1)");
  cmd->add_option("--metric", f->metric, "Objective (default: the config's first [eval] metric)");
  cmd->add_option("--seed", f->seed, "Sampler seed (default 0)");
  cmd->add_option("--sampler", f->sampler, "tpe (default) or random");
  cmd->add_option("--startup-trials", f->startup, "Random trials before TPE (default 10)");
  cmd->add_option("--validation", f->validation,
                  "Share of training users (rows) held out for the objective (default 0.2)");
  cmd->add_option("--set", f->sets, "Override a config key for every trial: section.key=value");
  cmd->add_flag("--register", f->register_best,
                "Train the best configuration on all data and register it as a version");
  cmd->add_option("--resume", f->resume, "Continue study ID after a kill");
  cmd->add_flag("--json", f->json, "Print exactly one JSON object on stdout");
  cmd->callback([f, &g] {
    if (f->resume == 0 && f->config.empty()) {
      Fail(ErrorCode::kInvalidArgument, "tune needs a CONFIG (or --resume STUDY)");
    }
    if (f->resume != 0 && !f->config.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "--resume continues a study with its own config: drop "
           "CONFIG");
    }
    TuneOptions o;
    o.home = ResolveHome(g.home);
    o.config_path = f->config;
    o.overrides = f->sets;
    o.space_path = f->space;
    o.trials = f->trials;
    o.budget_s = f->budget.empty() ? 0 : ParseBudget(f->budget);
    o.parallel = f->parallel;
    o.metric = f->metric;
    o.seed = f->seed;
    o.sampler = f->sampler;
    o.startup_trials = f->startup;
    o.validation = f->validation;
    o.register_best = f->register_best;
    o.resume = f->resume;
    o.ctx.threads = g.threads > 0 ? g.threads : Context::DefaultThreads();
    if (!g.quiet)
      o.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    Registry registry = OpenRegistry(o.home);
    const TuneOutcome out = RunStudy(o, registry);
    if (f->json) {
      PrintJson(out.ToJson().dump());
    } else {
      std::printf("%s", out.Text().c_str());
    }
  });

  CLI::App* studies = app.add_subcommand("studies", "Tuning studies (marquee tune)");
  studies->require_subcommand(1);
  auto list_json = std::make_shared<bool>(false);
  CLI::App* list = studies->add_subcommand("list", "Every study: id, family, trials, best");
  list->add_flag("--json", *list_json, "Print a JSON array");
  list->callback([list_json, &g] {
    StudyStore store(ResolveHome(g.home), Env::Default());
    const auto all = store.List();
    if (*list_json) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& s : all) a.push_back(StudyJson(s));
      PrintJson(a.dump());
      return;
    }
    std::printf("%4s  %-10s %-20s %-12s %6s  %-10s %s\n", "id", "family", "model", "metric",
                "trials", "state", "best");
    for (const auto& s : all) {
      const TrialRecord* b = s.Best();
      std::printf("%4lld  %-10s %-20s %-12s %6zu  %-10s %s\n", static_cast<long long>(s.id),
                  s.family.c_str(), s.model_name.c_str(), s.metric.c_str(), s.trials.size(),
                  s.state.c_str(),
                  b ? fmt::format("{:.5f} (trial {})", b->value, b->number).c_str() : "-");
    }
  });
  auto show_id = std::make_shared<int64_t>(0);
  auto show_top = std::make_shared<int>(10);
  auto show_json = std::make_shared<bool>(false);
  CLI::App* show = studies->add_subcommand(
      "show", "A study's best trials and parameter importances; writes its SVG plot");
  show->add_option("id", *show_id, "Study id")->required();
  show->add_option("--top", *show_top, "Best trials listed (default 10)");
  show->add_flag("--json", *show_json, "Print the study record as JSON");
  show->callback([show_id, show_top, show_json, &g] {
    Env* env = Env::Default();
    StudyStore store(ResolveHome(g.home), env);
    const StudyRecord s = store.Load(*show_id);
    env->CreateDirs(store.Dir(s.id));
    const std::string svg = store.Dir(s.id) + "/study.svg";
    env->WriteFileAtomic(svg, StudySvg(s));
    if (*show_json) {
      nlohmann::json j = StudyJson(s);
      nlohmann::json imp = nlohmann::json::object();
      for (const auto& [k, v] : ParamImportances(s)) imp[k] = v;
      j["importances"] = imp;
      j["plot"] = svg;
      PrintJson(j.dump());
      return;
    }
    std::printf("%s", StudyReport(s, svg, *show_top).c_str());
  });
}

}  // namespace marquee::cli
