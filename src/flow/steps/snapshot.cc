// Step kind "snapshot": fresh training data as a new immutable snapshot.
//   source = "events" (default): the recommender snapshot `base` plus every event the server
//            logged ($home/events), as dataset `dataset` (flow/snapshots.h);
//   source = "decisions": the closed decisions of policy `policy` (default: the pipeline's
//            model) in $home/decisions, as bandit-log snapshot `dataset`.
// Keys: source, base (events: required), dataset (default "<pipeline>-data"), policy.
// Outputs: {"dataset": NAME, "snapshot": ID, "rows": N, "source": ..., "events" | "decisions"}.
// Later train/tune steps train on `dataset`.
#include <fmt/format.h>

#include "data/catalog.h"
#include "flow/snapshots.h"
#include "flow/step.h"
#include "marquee/error.h"

namespace marquee::flow {
namespace {

class SnapshotStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(spec, {"source", "base", "dataset", "policy"});
    const std::string source = StringKey(spec, "source", "events");
    if (source != "events" && source != "decisions") {
      Fail(ErrorCode::kInvalidArgument, "source '{}' is not one of events, decisions", source);
    }
    const std::string base = StringKey(spec, "base", "");
    if (source == "events" && base.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "missing key 'base' (the dataset the events are added to, e.g. base = \"ml100k\")");
    }
    if (source == "decisions" && !base.empty()) {
      Fail(ErrorCode::kInvalidArgument, "'base' is for source = \"events\" only");
    }
    if (!base.empty()) ValidateCatalogName(base, "dataset");
    const std::string dataset = StringKey(spec, "dataset", "");
    if (!dataset.empty()) ValidateCatalogName(dataset, "dataset");
    const std::string policy = StringKey(spec, "policy", "");
    if (!policy.empty()) ValidateModelName(policy);
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    const std::string source = StringKey(spec, "source", "events");
    const std::string dataset = StringKey(spec, "dataset", ctx.pipeline + "-data");
    StepResult r;
    if (source == "events") {
      const std::string base = StringKey(spec, "base", "");
      const nlohmann::json j = ImportEventsOverBase(ctx.home, ctx.env, dataset, base);
      r.outputs = {
          {"dataset", dataset},   {"snapshot", j["id"]}, {"rows", j["interactions"]},
          {"source", source},     {"base", base},        {"base_rows", j["base_interactions"]},
          {"events", j["events"]}};
      r.reason = fmt::format("{} = {} rows of {} + {} events", dataset,
                             j["interactions"].get<uint64_t>(), base, j["events"].get<uint64_t>());
    } else {
      const std::string policy = StringKey(spec, "policy", ctx.model);
      const nlohmann::json j = ImportDecisionLog(ctx.home, ctx.env, dataset, policy);
      r.outputs = {{"dataset", dataset}, {"snapshot", j["id"]}, {"rows", j["decisions"]},
                   {"source", source},   {"policy", policy},    {"decisions", j["decisions"]},
                   {"open", j["open"]}};
      r.reason = fmt::format("{} = {} closed decisions of {}", dataset,
                             j["decisions"].get<uint64_t>(), policy);
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewSnapshotStep() { return std::make_unique<SnapshotStep>(); }

}  // namespace marquee::flow
