// RunTraining: the whole `marquee train` job for any kind of model. The config's kind loads the
// data, splits, fits, evaluates, refits and saves the artifact (core/model_kind.h); progress goes
// to the context's callback. TrainAndRegister wraps it in the registry's run record.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/model_kind.h"
#include "marquee/context.h"
#include "pipeline/config.h"
#include "registry/registry.h"

namespace marquee {

// The home's registry with the built-in model kinds, whose smoke tests guard promote and
// rollback: what every command and server opens.
Registry OpenRegistry(const std::string& home);

struct TrainOptions {
  std::string home;  // resolved home directory
  Context ctx;       // threads (0 in config means ctx.threads), env, progress
};

// Throws marquee::Error on bad config, data or failures; nothing is saved in that case.
TrainResult RunTraining(const TrainConfig& config, const TrainOptions& options);

// The human-readable report of a result (metrics table and notes), by the config's kind.
std::string FormatTrainReport(const TrainConfig& config, const TrainResult& result);

// What the registry records of a config before the work starts (reads `config_path` through
// `env` to keep its text).
RunSpec RunSpecOf(const TrainConfig& config, const std::string& config_path,
                  const std::vector<std::string>& overrides, Env* env);

struct RegisteredTraining {
  int64_t run_id = 0;
  VersionRecord version;
  TrainResult result;
  std::string report;
  // result.details plus run_id, model and version: what `marquee train --json` prints.
  nlohmann::json ToJson() const;
};

// Records the run (before the work starts, so a crash leaves an "interrupted" trace), trains,
// and registers the artifact as the next version of the config's model. On failure the run is
// marked failed and the error rethrown.
RegisteredTraining TrainAndRegister(const TrainConfig& config, const TrainOptions& options,
                                    Registry& registry, const std::string& config_path,
                                    const std::vector<std::string>& overrides);
// The same with the run's record given (RunSpecOf plus what the caller adds, e.g. the pipeline
// step that trains it, so a resumed pipeline can find the version it registered).
RegisteredTraining TrainAndRegister(const TrainConfig& config, const TrainOptions& options,
                                    Registry& registry, const RunSpec& spec);

}  // namespace marquee
