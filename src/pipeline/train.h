// RunTraining: the whole `marquee train` job. Load data -> split -> fit -> evaluate -> refit on
// all data (unless [split] refit = false) -> save the artifact. Progress goes to the context's
// callback; the returned JSON is what `--json` prints.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "marquee/context.h"
#include "pipeline/config.h"

namespace marquee {

struct TrainOptions {
  std::string home;  // resolved home directory
  Context ctx;       // threads (0 in config means ctx.threads), env, progress
};

// Throws marquee::Error on bad config, data or failures; nothing is saved in that case.
nlohmann::json RunTraining(const TrainConfig& config, const TrainOptions& options);

// Formats the result of RunTraining as the human-readable report (metrics table and notes).
std::string FormatTrainReport(const nlohmann::json& result);

}  // namespace marquee
