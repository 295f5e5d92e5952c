#include "serving/predict_handler.h"

#include "kinds/tabular/tabular_servable.h"
#include "marquee/error.h"
#include "serving/metrics.h"
#include "serving/model_manager.h"
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
