// TabularServable: one loaded XGBoost version as the tabular kind's Load builds it and
// /v1/predict reads it. Immutable; Predictor is thread-safe.
#pragma once

#include <memory>

#include "core/servable.h"
#include "tabular/predictor.h"

namespace marquee {

struct TabularServable : Servable {
  std::shared_ptr<const Predictor> predictor;  // set once by Load
};

}  // namespace marquee
