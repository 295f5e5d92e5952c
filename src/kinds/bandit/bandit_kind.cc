#include "kinds/bandit/bandit_kind.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "bandits/policy.h"
#include "kinds/bandit/live_policy.h"
#include "marquee/error.h"

namespace marquee {
namespace {

class BanditKind final : public ModelKind {
 public:
  std::string_view name() const override { return "bandit"; }
  std::string_view noun() const override { return "bandit policy"; }
  std::vector<std::string> families() const override { return PolicyFamilies(); }
  std::vector<std::string> routes() const override { return {"decide", "reward"}; }

  std::shared_ptr<const KindConfig> ParseConfig(const nlohmann::json& root,
                                                const ConfigOrigin& origin,
                                                const std::vector<std::string>&) const override {
    auto c = std::make_shared<BanditKindConfig>();
    c->job = ParseBanditConfig(root, origin.base_dir, origin.stem);
    return c;
  }

  Identity Identify(const KindConfig& config) const override {
    const auto& c = dynamic_cast<const BanditKindConfig&>(config).job;
    return {c.policy.family, c.model_name, c.policy.params, c.threads};
  }

  TrainResult Train(const KindConfig& config, const TrainJob& job) const override {
    const auto& c = dynamic_cast<const BanditKindConfig&>(config).job;
    return TrainResultFromDetails(RunBanditTraining(c, job.home, job.ctx), c.policy.family,
                                  c.model_name, c.train);
  }

  std::string FormatReport(const nlohmann::json& details) const override {
    return FormatBanditReport(details);
  }

  std::shared_ptr<Servable> Load(const ServableSpec& spec) const override {
    std::unique_ptr<Policy> policy = LoadPolicy(spec.artifact_path, spec.env);
    if (policy->family() != spec.family) {
      Fail(ErrorCode::kCorruption, "the artifact holds a {} policy, the version says {}",
           policy->family(), spec.family);
    }
    auto live = std::make_shared<LivePolicy>();
    WriterLock lock(&live->mu);  // not shared yet; says so to the analysis
    live->policy = std::move(policy);
    return live;
  }

  std::vector<std::string> SmokeTest(const std::string& artifact_path, const std::string& family,
                                     Env* env) const override {
    auto p = LoadPolicy(artifact_path, env);
    if (p->family() != family) {
      Fail(ErrorCode::kCorruption, "the artifact holds a {} policy, the version says {}",
           p->family(), family);
    }
    DecisionInput in;
    in.actions = {{"smoke-a", {}}, {"smoke-b", {}}};
    std::mt19937_64 rng(1);
    const std::vector<double> probs = p->Probabilities(in, rng);
    double sum = 0;
    for (double x : probs) sum += std::isfinite(x) && x >= 0 ? x : 1e9;
    if (probs.size() != 2 || std::abs(sum - 1.0) > 1e-6) {
      Fail(ErrorCode::kFailedPrecondition,
           "the policy's probabilities for a two-action decision sum to {}", sum);
    }
    return {fmt::format("loaded ({} policy); two-action probabilities sum to 1", p->family())};
  }
};

}  // namespace

std::unique_ptr<ModelKind> NewBanditKind() { return std::make_unique<BanditKind>(); }

}  // namespace marquee
