// Step kind "rollback": moves an alias (default "production") of the pipeline's model back to
// the version it held before its latest promotion (Registry::Rollback, with the smoke test).
// Keys: alias, model (default: the pipeline's model). Refused (the step fails) when the alias
// has no earlier version.
#include <fmt/format.h>

#include "flow/step.h"
#include "marquee/error.h"

namespace marquee::flow {
namespace {

class RollbackStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(spec, {"alias", "model"});
    ValidateAlias(StringKey(spec, "alias", "production"));
    const std::string model = StringKey(spec, "model", "");
    if (!model.empty()) ValidateModelName(model);
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    const std::string alias = StringKey(spec, "alias", "production");
    const std::string model = StringKey(spec, "model", ctx.model);
    const PromoteResult p = ctx.registry.Rollback(
        model, alias, fmt::format("pipeline {} run {}", ctx.pipeline, ctx.pipeline_run));
    StepResult r;
    r.outputs = {{"model", model},
                 {"alias", alias},
                 {"from_version", p.from_version},
                 {"to_version", p.to_version}};
    r.reason =
        fmt::format("{}@{}: v{} -> v{} (rollback)", model, alias, p.from_version, p.to_version);
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewRollbackStep() { return std::make_unique<RollbackStep>(); }

}  // namespace marquee::flow
