// PredictHandler: POST /v1/predict for tabular (xgboost) models, transport-independent.
//
//   {"model": "payment-retry@production", "rows": [{"LIMIT_BAL": 20000, ...}], "explain": true}
//   -> {"model": "payment-retry@production", "version": N,
//       "predictions": [{"score": 0.73, "contributions": {...}, "bias": b, "margin": m}]}
//
// The reference is resolved in the registry on every request (so an alias move is seen at
// once); loaded Predictors are cached by artifact digest and shared by concurrent requests.
// Errors are marquee::Error (the caller answers HttpStatusFor(code)): kInvalidArgument naming
// the field (unknown feature, wrong type, malformed body), kNotFound for an unknown model,
// kResourceExhausted for too many rows.
// Thread-safety: Predict may be called from many threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "serving/servable.h"
#include "serving/service.h"

namespace marquee {
class Env;
class Predictor;
class Registry;
}  // namespace marquee

namespace marquee::serving {

class PredictHandler {
 public:
  // `kind_of` says which families are tabular (serving/servable.h).
  PredictHandler(const std::string& home, Env* env, KindOfFn kind_of = DefaultKindOf);
  ~PredictHandler();

  nlohmann::json Predict(const nlohmann::json& body);
  // Adds its row (POST /v1/predict, scope read) to `service`'s route table.
  void AddRoutes(Service& service);

 private:
  std::mutex mu_;
  std::unique_ptr<Registry> registry_;  // guarded by mu_ (Registry is single-threaded)
  std::map<std::string, std::shared_ptr<const Predictor>> cache_;  // guarded by mu_; by digest
  Env* env_;
  KindOfFn kind_of_;
};

}  // namespace marquee::serving
