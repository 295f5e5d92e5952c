#include "serving/predict_handler.h"

#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "tabular/predictor.h"

namespace marquee::serving {

PredictHandler::PredictHandler(const std::string& home, Env* env, KindOfFn kind_of)
    : registry_(std::make_unique<Registry>(RegistryOptions{home, env, {}, {}})),
      env_(env != nullptr ? env : Env::Default()),
      kind_of_(std::move(kind_of)) {}

PredictHandler::~PredictHandler() = default;

nlohmann::json PredictHandler::Predict(const nlohmann::json& body) {
  PredictRequest req = ParsePredictRequest(body);
  std::shared_ptr<const Predictor> predictor;
  VersionRecord v;
  {
    std::lock_guard<std::mutex> lock(mu_);
    v = registry_->Resolve(req.model);
    if (kind_of_(v.family) != kKindTabular) {
      Fail(ErrorCode::kInvalidArgument,
           "model: {} is a {} model; /v1/predict serves xgboost models (use /v1/recommend)",
           req.model, v.family);
    }
    auto it = cache_.find(v.artifact);
    if (it == cache_.end()) {
      registry_->artifacts().Verify(v.artifact);
      std::shared_ptr<const Predictor> p =
          Predictor::Load(registry_->artifacts().PathFor(v.artifact), env_);
      it = cache_.emplace(v.artifact, std::move(p)).first;
    }
    predictor = it->second;
  }
  // Scoring runs outside the lock: Predictor is thread-safe.
  Predictor::Result r = predictor->PredictRows(req.rows, req.explain);
  return {{"model", req.model}, {"version", v.version}, {"predictions", predictor->ToJson(r)}};
}

void PredictHandler::AddRoutes(Service& service) {
  service.AddRoute({"POST", "/v1/predict", kScopeRead,
                    Service::JsonBody([this](const nlohmann::json& body, Respond& done) {
                      Response r;
                      r.body = DumpJson(Predict(body));
                      done(std::move(r));
                    })});
}

}  // namespace marquee::serving
