// Step kind "promote": moves an alias (default "production") of the pipeline's model to the
// candidate version of the latest train/tune step, through Registry::Promote (digest check, the
// kind's smoke test, and any `gates`, e.g. ["recall@20>=production"]). Keys: alias, gates.
// A resumed promote whose alias already names the candidate passes without moving it again.
#include <fmt/format.h>

#include "flow/step.h"
#include "marquee/error.h"

namespace marquee::flow {
namespace {

std::vector<std::string> Gates(const nlohmann::json& spec) {
  std::vector<std::string> gates = StringListKey(spec, "gates");
  for (const auto& g : gates) ParseGate(g);  // kInvalidArgument naming a malformed gate
  return gates;
}

class PromoteStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(spec, {"alias", "gates"});
    ValidateAlias(StringKey(spec, "alias", "production"));
    Gates(spec);
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    const std::string alias = StringKey(spec, "alias", "production");
    const VersionRecord v = LatestCandidate(ctx);
    StepResult r;
    r.outputs = {{"model", v.model_name}, {"alias", alias}, {"to_version", v.version}};
    for (const auto& a : ctx.registry.AliasesOf(v)) {
      if (a != alias) continue;
      r.outputs["from_version"] = v.version;
      r.reason = fmt::format("{}@{} already names v{}", v.model_name, alias, v.version);
      return r;
    }
    const PromoteResult p =
        ctx.registry.Promote(fmt::format("{}/{}", v.model_name, v.version), alias, Gates(spec),
                             fmt::format("pipeline {} run {}", ctx.pipeline, ctx.pipeline_run));
    r.outputs["from_version"] = p.from_version;
    r.outputs["checks"] = p.checks;
    r.reason = fmt::format("{}@{}: v{} -> v{}", p.model, alias, p.from_version, p.to_version);
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewPromoteStep() { return std::make_unique<PromoteStep>(); }

}  // namespace marquee::flow
