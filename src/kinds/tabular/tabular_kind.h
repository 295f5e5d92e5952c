// The tabular kind: gradient-boosted trees on tabular data (family "xgboost", through XGBoost's
// C API; src/tabular/). Trained by the tabular job (src/tabular/train.h); served, a model
// answers "predict".
#pragma once

#include <memory>

#include "core/model_kind.h"
#include "tabular/train.h"

namespace marquee {

struct TabularKindConfig final : KindConfig {
  TabularTrainConfig job;
  nlohmann::json Resolved() const override { return job.ToJson(); }
};

std::unique_ptr<ModelKind> NewTabularKind();

}  // namespace marquee
