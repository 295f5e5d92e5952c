// marquee train CONFIG.toml [--set key=value ...] [--json]
#include <cstdio>

#include "commands.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/catalog.h"
#include "marquee/env.h"
#include "pipeline/config.h"
#include "pipeline/train.h"
#include "registry/registry.h"

namespace marquee::cli {

void AddTrainCommand(CLI::App& app, GlobalOptions& g) {
  struct Flags {
    std::string config;
    std::vector<std::string> sets;
    bool json = false;
  };
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
      "  marquee train examples/ml100k-ease.toml --set model.family=ials");
  cmd->add_option("config", f->config, "TOML config file")->required();
  cmd->add_option("--set", f->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_flag("--json", f->json, "Print exactly one JSON object on stdout (progress on stderr)");
  cmd->callback([f, &g] {
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
    const int64_t run_id = t.run_id;
    const VersionRecord& version = t.version;
    if (f->json) {
      PrintJson(t.ToJson().dump());
    } else {
      std::printf("%s", t.report.c_str());
      std::printf(
          "Recorded run %lld; registered %s version %lld.\n"
          "Next: marquee models promote %s %lld --alias production, or marquee runs compare %lld "
          "...\n",
          static_cast<long long>(run_id), version.model_name.c_str(),
          static_cast<long long>(version.version), version.model_name.c_str(),
          static_cast<long long>(version.version), static_cast<long long>(run_id));
    }
  });
}

}  // namespace marquee::cli
