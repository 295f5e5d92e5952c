// Step kind "gate": the candidate must beat production on the latest evaluate step's metrics
// (the same fresh split for both), or the pipeline stops here with the reason.
//   metric gate:     metric = "recall@20", min_ratio = 1.0: candidate >= min_ratio x production
//                    (for losses, logloss, rmse, ...: candidate x min_ratio <= production).
//   off-policy gate (bandit policies): estimator = "dr", min_ess = 100: the lower end of the
//                    candidate's bootstrap interval of the estimate must exceed production's
//                    value, and the candidate's effective sample size must be >= min_ess.
//                    Production's value (baseline): "logged" (default), the mean reward of the
//                    held-out logged decisions, which is production's own on-policy value when
//                    production made them (a decisions snapshot); "production", the same
//                    estimator for production's config retrained on the same split.
// With no production version the gate passes unless require_production = true.
// Outputs: {"passed", "candidate_value", "production_value", "rule"} (and "ess" for the off-policy
// gate).
#include <fmt/format.h>

#include "flow/step.h"
#include "marquee/error.h"
#include "tune/tuner.h"

namespace marquee::flow {
namespace {

double Number(const nlohmann::json& j, const std::string& what) {
  if (!j.is_number()) Fail(ErrorCode::kFailedPrecondition, "{} is missing", what);
  return j.get<double>();
}

class GateStep final : public PipelineStep {
 public:
  void Validate(const nlohmann::json& spec) const override {
    CheckStepKeys(
        spec, {"metric", "min_ratio", "estimator", "min_ess", "baseline", "require_production"});
    const bool metric = spec.contains("metric"), ope = spec.contains("estimator");
    if (metric == ope) {
      Fail(ErrorCode::kInvalidArgument,
           "give exactly one of metric = \"recall@20\" (a metric gate) or estimator = \"dr\" (the "
           "off-policy gate of bandit policies)");
    }
    const char* key = metric ? "metric" : "estimator";
    if (StringKey(spec, key, "").empty()) {
      Fail(ErrorCode::kInvalidArgument, "'{}' must not be empty", key);
    }
    const double ratio = NumberKey(spec, "min_ratio", 1.0);
    if (!(ratio > 0) || ratio > 1e6) {
      Fail(ErrorCode::kInvalidArgument, "'min_ratio' must be > 0 (got {})", ratio);
    }
    if (metric == false && spec.contains("min_ratio")) {
      Fail(ErrorCode::kInvalidArgument, "'min_ratio' is for a metric gate (with metric = ...)");
    }
    if (metric && spec.contains("min_ess")) {
      Fail(ErrorCode::kInvalidArgument, "'min_ess' is for the off-policy gate (estimator = ...)");
    }
    const std::string baseline = StringKey(spec, "baseline", "logged");
    if (baseline != "logged" && baseline != "production") {
      Fail(ErrorCode::kInvalidArgument, "'baseline' must be \"logged\" or \"production\"");
    }
    if (metric && spec.contains("baseline")) {
      Fail(ErrorCode::kInvalidArgument, "'baseline' is for the off-policy gate (estimator = ...)");
    }
    if (NumberKey(spec, "min_ess", 0) < 0) {
      Fail(ErrorCode::kInvalidArgument, "'min_ess' must be >= 0");
    }
    BoolKey(spec, "require_production", false);
  }

  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    const nlohmann::json* eval = LatestOutputOf(ctx, "evaluate");
    if (eval == nullptr || !eval->contains("offline")) {
      Fail(ErrorCode::kFailedPrecondition,
           "no earlier evaluate step: a gate compares the evaluate step's metrics");
    }
    const nlohmann::json& off = (*eval)["offline"];
    const nlohmann::json& cand = off["candidate"];
    const nlohmann::json& prod = off["production"];
    StepResult r;
    if (prod.is_null()) {
      const bool need = BoolKey(spec, "require_production", false);
      r.passed = !need;
      r.reason = need ? "no production version to compare with (require_production = true)"
                      : "no production version yet: nothing to beat";
      r.outputs = {{"passed", r.passed}, {"production_value", nullptr}};
      return r;
    }
    return spec.contains("metric") ? MetricGate(spec, cand, prod) : OpeGate(spec, cand, prod);
  }

 private:
  static StepResult MetricGate(const nlohmann::json& spec, const nlohmann::json& cand,
                               const nlohmann::json& prod) {
    const std::string metric = StringKey(spec, "metric", "");
    const double ratio = NumberKey(spec, "min_ratio", 1.0);
    const double c =
        Number(cand["metrics"].value(metric, nlohmann::json()),
               fmt::format("the candidate's {} (evaluated: {})", metric, cand["metrics"].dump()));
    const double p = Number(prod["metrics"].value(metric, nlohmann::json()),
                            fmt::format("production's {}", metric));
    const bool loss = MetricIsLoss(metric);
    StepResult r;
    r.passed = loss ? c * ratio <= p : c >= ratio * p;
    const std::string rule = loss ? fmt::format("{} x {} <= production", metric, ratio)
                                  : fmt::format("{} >= {} x production", metric, ratio);
    r.outputs = {{"passed", r.passed},
                 {"rule", rule},
                 {"metric", metric},
                 {"candidate_value", c},
                 {"production_value", p},
                 {"candidate_version", cand["version"]},
                 {"production_version", prod["version"]}};
    r.reason = fmt::format("{}: candidate v{} {:.4f} {} production v{} {:.4f}{}", metric,
                           cand["version"].get<int64_t>(), c, r.passed ? "passes" : "fails",
                           prod["version"].get<int64_t>(), p,
                           ratio != 1.0 ? fmt::format(" (min_ratio {})", ratio) : "");
    return r;
  }

  static StepResult OpeGate(const nlohmann::json& spec, const nlohmann::json& cand,
                            const nlohmann::json& prod) {
    const std::string est = StringKey(spec, "estimator", "dr");
    const double min_ess = NumberKey(spec, "min_ess", 100);
    if (!cand.contains("ope") || !prod.contains("ope")) {
      Fail(ErrorCode::kFailedPrecondition,
           "the off-policy gate needs bandit policies (the evaluate step found no OPE estimates)");
    }
    const nlohmann::json& ce = cand["ope"]["estimates"].value(est, nlohmann::json());
    const nlohmann::json& pe = prod["ope"]["estimates"].value(est, nlohmann::json());
    if (!ce.is_object() || !pe.is_object()) {
      Fail(ErrorCode::kFailedPrecondition, "no '{}' estimate (add it to [eval] estimators)", est);
    }
    if (cand["ope"].value("bootstrap", 0) <= 0) {
      Fail(ErrorCode::kFailedPrecondition,
           "the candidate's estimate has no bootstrap interval ([eval] bootstrap = 0)");
    }
    const double lo = Number(ce["ci"][0], "the interval's lower end");
    const double hi = Number(ce["ci"][1], "the interval's upper end");
    const double c = Number(ce["value"], "the candidate's estimate");
    const bool logged = StringKey(spec, "baseline", "logged") == "logged";
    const double p = logged ? Number(cand["ope"]["logged_reward"], "the logged reward")
                            : Number(pe["value"], "production's estimate");
    const double ess = Number(cand["ope"]["ess"], "the effective sample size");
    StepResult r;
    const bool beats = lo > p, enough = ess >= min_ess;
    r.passed = beats && enough;
    r.outputs = {{"passed", r.passed},
                 {"rule", fmt::format("{} lower bound > production ({}), ess >= {}", est,
                                      logged ? "logged reward" : "its estimate", min_ess)},
                 {"estimator", est},
                 {"candidate_value", c},
                 {"candidate_ci", {lo, hi}},
                 {"production_value", p},
                 {"ess", ess},
                 {"candidate_version", cand["version"]},
                 {"production_version", prod["version"]}};
    r.reason = fmt::format(
        "{}: candidate v{} {:.4f} [{:.4f}, {:.4f}] vs production v{} {:.4f}, ess {:.0f}: {}", est,
        cand["version"].get<int64_t>(), c, lo, hi, prod["version"].get<int64_t>(), p, ess,
        r.passed ? "passes"
        : !beats ? fmt::format("the lower end {:.4f} does not beat {:.4f}", lo, p)
                 : fmt::format("effective sample size {:.0f} < min_ess {}", ess, min_ess));
    return r;
  }
};

}  // namespace

std::unique_ptr<PipelineStep> NewGateStep() { return std::make_unique<GateStep>(); }

}  // namespace marquee::flow
