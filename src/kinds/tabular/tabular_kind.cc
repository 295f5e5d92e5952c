#include "kinds/tabular/tabular_kind.h"

#include "kinds/tabular/tabular_servable.h"
#include "tabular/predictor.h"

namespace marquee {
namespace {

class TabularKind final : public ModelKind {
 public:
  std::string_view name() const override { return "tabular"; }
  std::string_view noun() const override { return "tabular (xgboost) model"; }
  std::vector<std::string> families() const override { return {"xgboost"}; }
  std::vector<std::string> routes() const override { return {"predict"}; }

  std::shared_ptr<const KindConfig> ParseConfig(const nlohmann::json& root,
                                                const ConfigOrigin& origin,
                                                const std::vector<std::string>&) const override {
    auto c = std::make_shared<TabularKindConfig>();
    c->job = ParseTabularConfig(root, origin.base_dir, origin.stem);
    return c;
  }

  Identity Identify(const KindConfig& config) const override {
    const auto& c = dynamic_cast<const TabularKindConfig&>(config).job;
    return {"xgboost", c.model_name, c.params, c.threads};
  }

  TrainResult Train(const KindConfig& config, const TrainJob& job) const override {
    const auto& c = dynamic_cast<const TabularKindConfig&>(config).job;
    return TrainResultFromDetails(RunTabularTraining(c, job.home, job.ctx), "xgboost", c.model_name,
                                  c.train);
  }

  std::string FormatReport(const nlohmann::json& details) const override {
    return FormatTabularReport(details);
  }

  std::shared_ptr<Servable> Load(const ServableSpec& spec) const override {
    auto t = std::make_shared<TabularServable>();
    t->predictor = Predictor::Load(spec.artifact_path, spec.env);
    return t;
  }

  std::vector<std::string> SmokeTest(const std::string& artifact_path, const std::string&,
                                     Env* env) const override {
    return TabularSmokeTest(artifact_path, env);
  }
};

}  // namespace

std::unique_ptr<ModelKind> NewTabularKind() { return std::make_unique<TabularKind>(); }

}  // namespace marquee
