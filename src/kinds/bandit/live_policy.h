// LivePolicy: one loaded contextual-bandit policy version as the bandit kind's Load builds it and
// /v1/decide reads it. Unlike other servables it changes while served: it learns online from the
// rewards of its decisions (Policy::Update under `mu`, exclusive; Decide takes `mu` shared).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "bandits/policy.h"
#include "common/mutex.h"
#include "core/servable.h"

namespace marquee {

struct LivePolicy : Servable {
  // Decide under a shared lock of `mu`, Update under an exclusive one. The pointer itself is set
  // once by Load, before the servable is published.
  std::unique_ptr<Policy> policy PT_GUARDED_BY(mu);
  mutable SharedMutex mu;
  // Online updates applied (including the replay of logged rewards at load).
  mutable std::atomic<uint64_t> updates{0};

  nlohmann::json Describe() const override {
    nlohmann::json j = Servable::Describe();
    j["updates"] = updates.load();
    return j;
  }
  // An alias that moves away and back resumes a kept version, which went on learning from its
  // decisions' rewards meanwhile, instead of replaying the whole decision log again.
  bool KeepWhenRetired() const override { return true; }
};

}  // namespace marquee
