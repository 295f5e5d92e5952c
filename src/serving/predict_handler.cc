#include "serving/predict_handler.h"

#include "kinds/tabular/tabular_servable.h"
#include "marquee/error.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
#include "serving/shadow.h"
#include "tabular/predictor.h"

namespace marquee {

nlohmann::json PredictHandler::Predict(const nlohmann::json& body) {
  VersionTimer timer;
  PredictRequest req = ParsePredictRequest(body);
  // Every servable in a tabular slot comes from the tabular kind's Load.
  auto model =
      std::static_pointer_cast<const TabularServable>(models_->GetOrLoad(req.model, kKindTabular));
  timer.Served(model);
  Predictor::Result r = model->predictor->PredictRows(req.rows, req.explain);
  nlohmann::json out = {{"model", req.model},
                        {"version", model->version},
                        {"predictions", model->predictor->ToJson(r)}};
  timer.Ok();
  // A sampled request's first kShadowMaxRows rows and production's scores of them go to the
  // shadow worker (Sample is one relaxed load when no model has a shadow).
  if (shadow_ != nullptr && r.rows > 0) {
    if (const int64_t candidate = shadow_->Sample(model->name, model->version)) {
      const size_t n = std::min<size_t>(r.rows, kShadowMaxRows);
      ShadowPrediction p{
          model, candidate, nlohmann::json::array(), r.rows, static_cast<uint32_t>(r.width), {}};
      for (size_t i = 0; i < n; ++i) p.rows.push_back(req.rows[i]);
      p.scores.assign(r.scores.begin(), r.scores.begin() + static_cast<ptrdiff_t>(n * r.width));
      shadow_->Offer(std::move(p));
    }
  }
  return out;
}

void PredictHandler::AddRoutes(Service& service) {
  service.AddRoute({"POST", "/v1/predict", kScopeRead,
                    Service::JsonBody([this](const nlohmann::json& body, Respond& done) {
                      Response r;
                      r.body = DumpJson(Predict(body));
                      done(std::move(r));
                    })});
  service.add_model_kind("tabular", kKindTabular);
}

}  // namespace marquee
