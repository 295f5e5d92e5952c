// Step kind "train": trains the pipeline's model from a train config and registers the next
// version (pipeline/train.h TrainAndRegister), the candidate of the later steps.
// Keys: config (path to a train config, relative to the flow file; required), set (an array of
// "section.key=value" overrides). [model] name becomes the pipeline's model; when an earlier
// snapshot step made a dataset, [data] trains on it (dataset = NAME, replacing train = FILE).
// Idempotent per pipeline run: the training run records {"pipeline": {root, step}} in its
// config; a resumed run that finds such a run with a version reuses that version instead of
// training again, so a kill between registration and the step's record never registers twice.
// Outputs: {"candidate": {"model", "version"}, "run_id", "dataset", "metrics": {...}}.
#include <fmt/format.h>

#include <filesystem>

#include "flow/step.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "pipeline/train.h"

namespace marquee::flow {

// Shared with the tune step (steps/tune.cc).
std::vector<std::string> Overrides(const nlohmann::json& spec);
std::string ConfigPath(const nlohmann::json& spec, const StepContext& ctx);
nlohmann::json ConfigDocument(const std::string& path, const StepContext& ctx);

std::vector<std::string> Overrides(const nlohmann::json& spec) {
  return StringListKey(spec, "set");
}

// The step's `config` key as a path: relative ones resolve against the flow's directory.
std::string ConfigPath(const nlohmann::json& spec, const StepContext& ctx) {
  std::string path = StringKey(spec, "config", "");
  if (path.empty()) Fail(ErrorCode::kInvalidArgument, "missing key 'config' (a train config)");
  const std::string& dir = ctx.flow_dir;
  if (std::filesystem::path(path).is_relative() && !dir.empty()) path = dir + "/" + path;
  if (!ctx.env->FileExists(path)) Fail(ErrorCode::kNotFound, "config: no file '{}'", path);
  return path;
}

// The train config as a JSON document, with [model] name = the pipeline's model and [data] on
// the latest snapshot when there is one.
nlohmann::json ConfigDocument(const std::string& path, const StepContext& ctx) {
  nlohmann::json doc = ParseTomlDocument(ctx.env->ReadFile(path), path);
  doc["model"]["name"] = ctx.model;
  if (const nlohmann::json* snap = LatestOutputOf(ctx, "snapshot")) {
    nlohmann::json& data = doc["data"];
    data.erase("train");
    data["dataset"] = (*snap)["dataset"];
  }
  return doc;
}

namespace {

nlohmann::json MetricsOf(const TrainResult& r) {
  nlohmann::json m = nlohmann::json::object();
  for (const auto& [k, v] : r.metrics) m[k] = v;
  return m;
}

class TrainStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(spec, {"config", "set"});
    if (StringKey(spec, "config", "").empty()) {
      Fail(ErrorCode::kInvalidArgument, "missing key 'config' (a train config)");
    }
    Overrides(spec);
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    const nlohmann::json key = {{"root", ctx.root_run}, {"step", ctx.step_name}};
    StepResult r;
    if (auto done = Registered(ctx, key)) {
      r.outputs = *done;
      r.reason = fmt::format("{} v{} (registered by training run {} before the resume)", ctx.model,
                             (*done)["candidate"]["version"].get<int64_t>(),
                             (*done)["run_id"].get<int64_t>());
      return r;
    }
    const std::string path = ConfigPath(spec, ctx);
    const std::vector<std::string> overrides = Overrides(spec);
    const TrainConfig config =
        ParseTrainConfigJson(ConfigDocument(path, ctx).dump(), path, overrides);
    RunSpec run_spec = RunSpecOf(config, path, overrides, ctx.env);
    run_spec.config_given["pipeline"] = key;
    ctx.Log(fmt::format("training {} ({})", ctx.model, config.family));
    const RegisteredTraining t =
        TrainAndRegister(config, TrainOptions{ctx.home, ctx.ctx}, ctx.registry, run_spec);
    r.outputs = {{"candidate", {{"model", t.version.model_name}, {"version", t.version.version}}},
                 {"run_id", t.run_id},
                 {"family", config.family},
                 {"dataset", t.version.dataset_id},
                 {"metrics", MetricsOf(t.result)}};
    r.reason =
        fmt::format("{} v{} (training run {})", t.version.model_name, t.version.version, t.run_id);
    return r;
  }

 private:
  // The outputs of a version this step registered in an earlier run of the resume chain.
  static std::optional<nlohmann::json> Registered(StepContext& ctx, const nlohmann::json& key) {
    const RunRecord root = ctx.registry.GetRun(ctx.root_run);
    RunQuery q;
    q.model = ctx.model;
    q.started_after = root.started_at;
    q.details = true;
    q.limit = 0;
    for (const auto& run : ctx.registry.ListRuns(q)) {
      if (run.version == 0 || run.external()) continue;
      auto it = run.config_given.find("pipeline");
      if (it == run.config_given.end() || *it != key) continue;
      nlohmann::json m = nlohmann::json::object();
      for (const auto& [k, v] : run.metrics) m[k] = v;
      return nlohmann::json{{"candidate", {{"model", run.model_name}, {"version", run.version}}},
                            {"run_id", run.id},
                            {"family", run.family},
                            {"dataset", run.dataset_id},
                            {"metrics", m},
                            {"reused_version", true}};
    }
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewTrainStep() { return std::make_unique<TrainStep>(); }

}  // namespace marquee::flow
