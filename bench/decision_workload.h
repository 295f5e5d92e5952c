// The decisions the decision-log benchmarks write (bench_decision_stats, bench_decision_append):
// the shape of a real /v1/decide of 4 policies, 10 offered actions with 2 features each and a
// 6-feature context, drawn from `rng`. Decision `i` of `n` is made by policy i % 4, version
// 1 + 3i/n.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <random>

#include "bandits/decision_log.h"

namespace marquee::bench {

inline Decision BenchDecision(int64_t i, int64_t n, int64_t ts, std::mt19937_64& rng) {
  static const char* kPolicies[] = {"artwork", "rows", "hero", "push"};
  Decision d;
  d.id = DecisionLog::NewId(ts);
  d.ts_ms = ts;
  d.model = kPolicies[i % 4];
  d.version = 1 + (i * 3 / n);
  d.updates = static_cast<uint64_t>(i);
  d.user = fmt::format("user-{}", rng() % 100000);
  d.context = {{"country", "US"},
               {"device", rng() % 2 ? "tv" : "phone"},
               {"hour", static_cast<int>(rng() % 24)},
               {"plan", "premium"},
               {"tenure_days", static_cast<int>(rng() % 2000)},
               {"genre", "drama"}};
  d.actions = nlohmann::json::array();
  for (int a = 0; a < 10; ++a) {
    d.actions.push_back(
        {{"id", fmt::format("img-{}", a)}, {"features", {{"faces", a % 3}, {"tone", "dark"}}}});
  }
  d.probabilities.assign(10, 0.1);
  d.chosen = static_cast<uint32_t>(rng() % 10);
  return d;
}

}  // namespace marquee::bench
