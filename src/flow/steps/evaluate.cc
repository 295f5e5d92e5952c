// Step kind "evaluate": offline metrics of the candidate AND of the current production version
// on the same fresh split. Each version's recorded train config (its training run's
// config_given.parsed) is trained again without refit on the candidate's [data] (the new
// snapshot), [split] and [eval], so both are measured on the same held-out users (rows, for
// bandit logs: there the metrics are off-policy estimates with bootstrap intervals). Nothing is
// registered; the evaluation models are not kept.
// Keys: alias (the production alias, default "production"), seed (the split's seed; default:
// the candidate config's).
// Outputs: {"offline": {"candidate": {"version", "metrics", "ope"?}, "production": {...} | null,
// "protocol"}, "metrics": the candidate's metrics}. With no version at the alias, production is
// null (the first promotion has nothing to beat).
#include <fmt/format.h>

#include "flow/step.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "pipeline/train.h"

namespace marquee::flow {
namespace {

// The recorded config of `v`'s training run, as JSON sections.
nlohmann::json RecordedConfig(Registry& registry, const VersionRecord& v, std::string* origin) {
  if (v.run_id == 0) {
    Fail(ErrorCode::kFailedPrecondition,
         "{}/{} has no training run (imported): there is no config to evaluate it with",
         v.model_name, v.version);
  }
  const RunRecord run = registry.GetRun(v.run_id);
  auto it = run.config_given.find("parsed");
  if (it == run.config_given.end() || !it->is_object()) {
    Fail(ErrorCode::kFailedPrecondition, "{}/{}: its training run {} recorded no config",
         v.model_name, v.version, v.run_id);
  }
  if (origin != nullptr) *origin = run.config_given.value("file", std::string("<recorded>"));
  return *it;
}

class EvaluateStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(spec, {"alias", "seed"});
    ValidateAlias(StringKey(spec, "alias", "production"));
    const double seed = NumberKey(spec, "seed", 0);
    if (seed < 0 || seed != static_cast<double>(static_cast<int64_t>(seed))) {
      Fail(ErrorCode::kInvalidArgument, "'seed' must be a non-negative integer");
    }
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    const std::string alias = StringKey(spec, "alias", "production");
    const VersionRecord cand = LatestCandidate(ctx);
    std::string origin;
    const nlohmann::json cand_doc = RecordedConfig(ctx.registry, cand, &origin);
    nlohmann::json split = cand_doc.value("split", nlohmann::json::object());
    split["refit"] = false;
    if (spec.contains("seed")) split["seed"] = spec["seed"].get<int64_t>();

    std::optional<VersionRecord> prod;
    try {
      prod = ctx.registry.Resolve(ModelRef{cand.model_name, 0, alias});
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) throw;
    }
    StepResult r;
    nlohmann::json offline = {{"alias", alias}};
    offline["candidate"] = Measure(ctx, cand, cand_doc, cand_doc, split, origin);
    offline["production"] = prod ? Measure(ctx, *prod, RecordedConfig(ctx.registry, *prod, nullptr),
                                           cand_doc, split, origin)
                                 : nlohmann::json(nullptr);
    offline["protocol"] = offline["candidate"]["protocol"];
    r.outputs = {{"offline", offline}, {"metrics", offline["candidate"]["metrics"]}};
    r.reason = fmt::format(
        "v{} and {} measured on the same split", cand.version,
        prod ? fmt::format("{} v{}", alias, prod->version) : "no " + alias + " version");
    return r;
  }

 private:
  // Trains `v`'s config on the candidate's data, split and eval; its metrics (and OPE).
  static nlohmann::json Measure(StepContext& ctx, const VersionRecord& v, nlohmann::json doc,
                                const nlohmann::json& cand_doc, const nlohmann::json& split,
                                const std::string& origin) {
    doc["data"] = cand_doc.value("data", nlohmann::json::object());
    doc["split"] = split;
    if (cand_doc.contains("eval")) {
      doc["eval"] = cand_doc["eval"];
    } else {
      doc.erase("eval");
    }
    ctx.Log(fmt::format("evaluating {}/{} on the fresh split", v.model_name, v.version));
    const TrainConfig config = ParseTrainConfigJson(doc.dump(), origin, {});
    const TrainResult t = RunTraining(config, TrainOptions{ctx.home, ctx.ctx});
    try {  // the evaluation model is not kept (nothing refers to it)
      if (!t.artifact.empty() && t.artifact_sha256 != v.artifact) ctx.env->RemoveFile(t.artifact);
    } catch (const Error&) {  // gc removes it later
    }
    nlohmann::json m = nlohmann::json::object();
    for (const auto& [k, val] : t.metrics) m[k] = val;
    nlohmann::json out = {{"version", v.version},
                          {"family", config.family},
                          {"metrics", m},
                          {"protocol", t.protocol}};
    if (t.details.contains("ope")) out["ope"] = t.details["ope"];
    return out;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewEvaluateStep() { return std::make_unique<EvaluateStep>(); }

}  // namespace marquee::flow
