// The bandit-policy kind: contextual-bandit policies (families in src/bandits/policies.cc,
// created by MakePolicy) trained offline from a logged bandit dataset and judged by off-policy
// estimators (src/bandits/train.h). Served, a policy answers "decide" and "reward".
#pragma once

#include <memory>

#include "bandits/train.h"
#include "core/model_kind.h"

namespace marquee {

struct BanditKindConfig final : KindConfig {
  BanditTrainConfig job;
  nlohmann::json Resolved() const override { return job.ToJson(); }
};

std::unique_ptr<ModelKind> NewBanditKind();

}  // namespace marquee
