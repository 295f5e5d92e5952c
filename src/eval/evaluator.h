// Evaluate: scores every evaluated user in batches (multi-threaded), masks their input items,
// takes the top-K and averages each metric over users with at least one target.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "eval/metrics.h"
#include "eval/split.h"
#include "marquee/context.h"
#include "marquee/recommender.h"

namespace marquee {

struct EvalResult {
  std::vector<std::pair<std::string, double>> metrics;  // in the order asked
  uint32_t users_evaluated = 0;
  uint32_t users_skipped = 0;  // no targets
  uint32_t items = 0;
  double seconds = 0;
  nlohmann::json ToJson() const;
};

EvalResult Evaluate(const Recommender& model, const EvalSet& eval,
                    const std::vector<MetricSpec>& metrics, const Context& ctx,
                    uint32_t batch_size = 256);

}  // namespace marquee
