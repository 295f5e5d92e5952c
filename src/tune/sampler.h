// Samplers for `marquee tune`: random search, and the Tree-structured Parzen Estimator of
// Bergstra et al. 2011 ("Algorithms for Hyper-Parameter Optimization") after random start-up
// trials. Both are pure functions of (space, seed, trial number, observations), so a study is
// reproducible for a seed: the tuner hands trial i only observations that are fixed before it
// starts (docs/cli.md, "marquee tune": trials run in batches of --parallel; a batch sees the
// trials of earlier batches).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "tune/space.h"

namespace marquee {

// One finished trial as a sampler sees it: its params and its objective, oriented so that
// larger is better. Pruned trials count as bad observations whatever their value.
struct Observation {
  nlohmann::json params;  // name -> value, as SampleParams produced them
  double score = 0;       // larger is better
  bool pruned = false;
};

struct SamplerOptions {
  enum class Kind { kRandom, kTpe };
  Kind kind = Kind::kTpe;
  int startup_trials = 10;  // random trials before TPE takes over
  double gamma = 0.25;      // share of observations in the good group (capped at 25 trials)
  int candidates = 24;      // draws from l(x) per parameter; the best l(x)/g(x) wins
};

// The params of trial `trial` (0-based): every parameter of `space` by name, ints as integers,
// choices as their value. Deterministic in (space, options, seed, trial, observations).
// Thread-safe (no state).
nlohmann::json SampleParams(const SearchSpace& space, const SamplerOptions& options, uint64_t seed,
                            int trial, const std::vector<Observation>& observed);

}  // namespace marquee
