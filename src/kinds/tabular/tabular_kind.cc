#include "kinds/tabular/tabular_kind.h"

#include "common/sha256.h"
#include "kinds/tabular/tabular_servable.h"
#include "marquee/env.h"
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

  // XGBoost JSON or UBJSON, saved with its feature names, stored unchanged (as `marquee models
  // import` does).
  bool can_import() const override { return true; }
  ImportedModel Import(const std::string& path, const std::string&, const std::string& source,
                       const std::string& home, Env* env) const override {
    const std::string bytes = env->ReadFile(path);
    XgbModel model;
    TabularModelInfo info = DescribeImportedModel(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &model);
    info.meta = {{"imported_from", source}, {"file_sha256", Sha256Hex(bytes)}};
    ImportedModel out;
    out.params = {{"objective", info.objective},
                  {"rounds", model.BoostedRounds()},
                  {"features", info.feature_names.size()},
                  {"imported_from", source}};
    SaveTabularModel(bytes, info, out.params, home, env, &out.artifact_sha256);
    out.details = {{"objective", info.objective},
                   {"format", info.model_format},
                   {"features", info.feature_names},
                   {"rounds", model.BoostedRounds()}};
    return out;
  }
};

}  // namespace

std::unique_ptr<ModelKind> NewTabularKind() { return std::make_unique<TabularKind>(); }

}  // namespace marquee
