// PredictHandler: POST /v1/predict for tabular (xgboost) models, transport-independent.
//
//   {"model": "payment-retry@production", "rows": [{"LIMIT_BAL": 20000, ...}], "explain": true}
//   -> {"model": "payment-retry@production", "version": N,
//       "predictions": [{"score": 0.73, "contributions": {...}, "bias": b, "margin": m}]}
//
// Any tabular model in the registry can be named (no flag lists them): the first request for a
// reference resolves and loads it through the model manager (ModelManager::GetOrLoad), which
// from then on holds it like every served model: it follows alias moves on the one poller and at
// once on POST /admin/reload, and requests share the loaded Predictor lock-free.
// Shadow scoring (serving/shadow.h): a sampled request of a model with a NAME@shadow candidate
// hands its first kShadowMaxRows (64) rows and production's scores of them to the shadow worker,
// which scores them with the candidate.
// Errors are marquee::Error (the caller answers HttpStatusFor(code)): kInvalidArgument naming the
// field (unknown feature, wrong type, malformed body, a model of another kind), kNotFound for an
// unknown model, kResourceExhausted for too many rows.
// Thread-safety: Predict may be called from many threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include "serving/service.h"

namespace marquee {

class ModelManager;
class ShadowScorer;

class PredictHandler {
 public:
  // `models` (not owned) must outlive the handler.
  explicit PredictHandler(ModelManager* models) : models_(models) {}

  nlohmann::json Predict(const nlohmann::json& body);
  // Adds its row (POST /v1/predict, scope read) to `service`'s route table, and its models to
  // /v1/models and /admin/reload (under "tabular").
  void AddRoutes(Service& service);
  // Shadow scoring of /v1/predict (serving/shadow.h; not owned; null: none). Set before serving
  // and cleared after the io threads stopped.
  void set_shadow(ShadowScorer* shadow) { shadow_ = shadow; }

 private:
  ModelManager* models_;
  ShadowScorer* shadow_ = nullptr;
};

}  // namespace marquee
