// Step kind "tune": tunes the pipeline's model from a train config (tune/tuner.h RunStudy, what
// `marquee tune --register` does) and registers the best configuration, trained on all the data,
// as the next version: the candidate of the later steps.
// Keys: config (required, as the train step's), set, space (a search-space TOML, relative to the
// flow file; default: the family's space), trials (default 20 unless budget is set), budget
// ("10m"), metric, sampler ("tpe" | "random"), seed, startup_trials, parallel.
// The study's config is the train config with [model] name = the pipeline's model and [data] on
// the latest snapshot, written beside the train config as .pipeline-ROOT-STEP.toml (so its
// relative paths still resolve); that path names the study.
// Idempotent per pipeline run: a resumed run finds the study of that path and reuses its
// registered version, or resumes the study when it was killed before its end, so a kill never
// registers twice (a kill between the registration and the study's record can: the window is
// one atomic file write).
// Outputs: {"candidate": {"model", "version"}, "run_id", "study", "trials", "params",
// "validation", "metrics"}.
#include <fmt/format.h>

#include <filesystem>

#include "flow/step.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "tune/study.h"
#include "tune/tuner.h"

namespace marquee::flow {

// Defined in steps/train.cc.
std::vector<std::string> Overrides(const nlohmann::json& spec);
std::string ConfigPath(const nlohmann::json& spec, const StepContext& ctx);
nlohmann::json ConfigDocument(const std::string& path, const StepContext& ctx);

namespace {

class TuneStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(spec, {"config", "set", "space", "trials", "budget", "metric", "sampler", "seed",
                         "startup_trials", "parallel"});
    if (StringKey(spec, "config", "").empty()) {
      Fail(ErrorCode::kInvalidArgument, "missing key 'config' (a train config)");
    }
    Overrides(spec);
    Options(spec);
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    TuneOptions o = Options(spec);
    o.home = ctx.home;
    o.ctx = ctx.ctx;
    o.register_best = true;
    o.overrides = Overrides(spec);
    o.log = [&ctx](const std::string& line) { ctx.Log(line); };
    const std::string space = StringKey(spec, "space", "");
    if (!space.empty()) {
      o.space_path = space;
      if (std::filesystem::path(space).is_relative() && !ctx.flow_dir.empty()) {
        o.space_path = ctx.flow_dir + "/" + space;
      }
    }
    // The study's config: one file per pipeline run and step, so a resume finds its study. It
    // is written beside the train config, so the paths the config gives relative to itself
    // (data files, each kind its own) still resolve.
    const std::string path = ConfigPath(spec, ctx);
    const std::string dir = std::filesystem::path(path).parent_path().string();
    o.config_path =
        std::filesystem::absolute(fmt::format("{}/.pipeline-{}-{}.toml", dir.empty() ? "." : dir,
                                              ctx.root_run, ctx.step_name))
            .string();

    StudyStore store(ctx.home, ctx.env);
    for (const StudyRecord& s : store.List()) {
      if (s.config_path != o.config_path) continue;
      if (!s.registered.is_null()) return Outputs(s, ctx, /*reused=*/true);
      o.resume = s.id;  // killed before its end: continue it
    }
    if (o.resume == 0) {
      ctx.env->WriteFileAtomic(o.config_path, JsonToTomlText(ConfigDocument(path, ctx)));
      ctx.Log(fmt::format("tuning {} ({})", ctx.model, o.config_path));
    } else {
      ctx.Log(fmt::format("resuming study {} of {}", o.resume, ctx.model));
    }
    const TuneOutcome t = RunStudy(o, ctx.registry);
    return Outputs(t.study, ctx, /*reused=*/false);
  }

 private:
  static TuneOptions Options(const nlohmann::json& spec) {
    TuneOptions o;
    const double trials = NumberKey(spec, "trials", 0);
    if (trials < 0 || trials > 100000 || trials != static_cast<int>(trials)) {
      Fail(ErrorCode::kInvalidArgument, "trials must be a whole number in [0, 100000]");
    }
    o.trials = static_cast<int>(trials);
    const std::string budget = StringKey(spec, "budget", "");
    if (!budget.empty()) o.budget_s = ParseBudget(budget);
    o.metric = StringKey(spec, "metric", "");
    o.sampler = StringKey(spec, "sampler", "tpe");
    if (o.sampler != "tpe" && o.sampler != "random") {
      Fail(ErrorCode::kInvalidArgument, "sampler must be \"tpe\" or \"random\", not '{}'",
           o.sampler);
    }
    const double seed = NumberKey(spec, "seed", 0);
    if (seed < 0 || seed != static_cast<double>(static_cast<uint64_t>(seed))) {
      Fail(ErrorCode::kInvalidArgument, "seed must be a whole number >= 0");
    }
    o.seed = static_cast<uint64_t>(seed);
    const double startup = NumberKey(spec, "startup_trials", 10);
    const double parallel = NumberKey(spec, "parallel", 1);
    if (startup < 0 || startup > 100000 || startup != static_cast<int>(startup)) {
      Fail(ErrorCode::kInvalidArgument, "startup_trials must be a whole number in [0, 100000]");
    }
    if (parallel < 1 || parallel > 256 || parallel != static_cast<int>(parallel)) {
      Fail(ErrorCode::kInvalidArgument, "parallel must be a whole number in [1, 256]");
    }
    o.startup_trials = static_cast<int>(startup);
    o.parallel = static_cast<int>(parallel);
    return o;
  }

  static StepResult Outputs(const StudyRecord& s, const StepContext& ctx, bool reused) {
    StepResult r;
    const TrialRecord* best = s.Best();
    const nlohmann::json& reg = s.registered;
    r.outputs = {{"candidate", {{"model", reg["model"]}, {"version", reg["version"]}}},
                 {"run_id", reg["run_id"]},
                 {"study", s.id},
                 {"trials", s.trials.size()},
                 {"params", best != nullptr ? best->params : nlohmann::json::object()},
                 {"validation", best != nullptr ? best->metrics : nlohmann::json::object()},
                 {"metrics", s.best_test}};
    if (reused) r.outputs["reused_version"] = true;
    r.reason =
        fmt::format("{} v{} (study {}, {} trials{})", ctx.model, reg["version"].get<int64_t>(),
                    s.id, s.trials.size(), reused ? ", registered before the resume" : "");
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewTuneStep() { return std::make_unique<TuneStep>(); }

}  // namespace marquee::flow
