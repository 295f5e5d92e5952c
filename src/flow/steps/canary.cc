// Step kind "canary": the latest candidate gets a share of the model's members through an A/B
// experiment against production, with a guardrail on plays per member judged by the always-valid
// sequential test, an optional one on the concentration of what it shows, and a stopping rule
// (experiments/canary.h: fail as soon as a guardrail fails, pass once both cells have
// min_members exposed members, fail as inconclusive at the timeout).
// Through the flow's [server] url when it has one, else the home's registry and logs.
//
// A failed canary rolls the candidate back: if the production alias names the candidate (a
// flow that promoted before its canary), it is moved back (Registry::Rollback); otherwise it
// stays where it is. Either way the step fails, recording which, and the pipeline stops.
// Keys: share (0.1), min_members (200), max_drop (0.1), alpha (0.05), max_head_share_change
// (absent: no concentration guardrail), window ("1h", the attribution window), timeout ("10m"),
// poll ("2s"), event_types ([]), alias ("production").
// Outputs: {"canary": {experiment, model, version, passed, reason, looks, analysis},
//           "rollback": {alias, from_version, to_version} | null, "production_version": N}.
#include <fmt/format.h>

#include "experiments/canary.h"
#include "flow/step.h"
#include "flow/steps/live_keys.h"
#include "marquee/error.h"

namespace marquee::flow {
namespace {

using json = nlohmann::json;

class CanaryStep final : public PipelineStep {
 public:
  void Validate(const json& spec) const override {
    CheckStepKeys(spec, {"share", "min_members", "max_drop", "alpha", "max_head_share_change",
                         "window", "timeout", "poll", "event_types", "alias"});
    if (spec.contains("max_head_share_change")) {
      const double v = NumberKey(spec, "max_head_share_change", 0);
      if (!(v >= 0 && v <= 1)) {
        Fail(ErrorCode::kInvalidArgument, "'max_head_share_change' must be in [0, 1], got {}", v);
      }
    }
    CanaryOptions o = Options(spec);
    o.model = "m";
    o.candidate = 1;
    CanaryExperimentToml(o, "check");  // kInvalidArgument naming a bad option
    ValidateAlias(o.production_alias);
  }

  StepResult Run(const json& spec, StepContext& ctx) override {
    const VersionRecord v = LatestCandidate(ctx);
    CanaryOptions o = Options(spec);
    o.model = v.model_name;
    o.candidate = v.version;
    o.experiment = fmt::format("canary-{}-v{}-run{}", v.model_name, v.version, ctx.pipeline_run);
    o.cancelled = ctx.cancelled;
    o.log = [&ctx](const std::string& line) { ctx.Log(line); };
    const CanaryResult c = ctx.server_url.empty() ? RunCanary(ctx.registry, ctx.home, o)
                                                  : RunCanary(ctx.server_url, ctx.server_token, o);
    StepResult r;
    r.outputs = {{"canary",
                  {{"experiment", c.experiment},
                   {"model", v.model_name},
                   {"version", v.version},
                   {"passed", c.passed},
                   {"reason", c.reason},
                   {"looks", c.looks},
                   {"analysis", c.analysis}}},
                 {"rollback", nullptr}};
    const auto production = ctx.registry.store().GetAlias(v.model_name, o.production_alias);
    if (c.passed) {
      r.outputs["production_version"] = production.value_or(0);
      r.reason = "canary " + c.experiment + " " + c.reason;
      return r;
    }
    r.passed = false;
    if (production && *production == v.version) {
      const PromoteResult p = ctx.registry.Rollback(
          v.model_name, o.production_alias,
          fmt::format("pipeline {} run {}: canary failed", ctx.pipeline, ctx.pipeline_run));
      r.outputs["rollback"] = {{"alias", o.production_alias},
                               {"from_version", p.from_version},
                               {"to_version", p.to_version}};
      r.outputs["production_version"] = p.to_version;
      r.reason =
          fmt::format("canary {} failed: {}; {}@{} rolled back v{} -> v{}", c.experiment, c.reason,
                      v.model_name, o.production_alias, p.from_version, p.to_version);
    } else {
      r.outputs["production_version"] = production.value_or(0);
      r.reason = fmt::format("canary {} failed: {}; candidate v{} rolled back, {}@{} stays at v{}",
                             c.experiment, c.reason, v.version, v.model_name, o.production_alias,
                             production.value_or(0));
    }
    return r;
  }

 private:
  static CanaryOptions Options(const json& spec) {
    CanaryOptions o;
    o.share = NumberKey(spec, "share", o.share);
    o.min_members = static_cast<int64_t>(NumberKey(spec, "min_members", 200));
    o.max_drop = NumberKey(spec, "max_drop", o.max_drop);
    o.alpha = NumberKey(spec, "alpha", o.alpha);
    o.max_head_share_change = NumberKey(spec, "max_head_share_change", -1);  // absent: off
    o.attribution_window = std::chrono::duration_cast<std::chrono::seconds>(
                               DurationKey(spec, "window", std::chrono::hours(1)))
                               .count();
    if (o.attribution_window < 1) o.attribution_window = 1;
    o.timeout = DurationKey(spec, "timeout", std::chrono::minutes(10));
    o.poll = DurationKey(spec, "poll", std::chrono::seconds(2));
    o.event_types = EventTypesKey(spec);
    o.production_alias = StringKey(spec, "alias", "production");
    return o;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewCanaryStep() { return std::make_unique<CanaryStep>(); }

}  // namespace marquee::flow
