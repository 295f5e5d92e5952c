// The replay simulator behind `marquee simulate experiment`: a dataset's held-out members play
// the part of live traffic, so the same pair of rankers can be compared as an A/B test and as
// a team-draft interleaving test, and the number of members each needs to reach significance
// measured.
//
// Protocol (docs/BENCHMARKS.md, "Online experiments: A/B vs interleaving"):
//   1. Split the dataset's positives with strong generalization (src/eval/split.h): held-out
//      members keep fold_in of their items as history (the fold-in input) and the rest as
//      "held-out items". Both rankers are trained once, on the training members only.
//   2. Each member's top-k of each ranker excludes its history. A member "plays" a shown item
//      when it is one of its held-out items (no position bias, no noise: the only randomness is
//      which members arrive and how they are assigned).
//   3. Traffic for one seed: the held-out members in a random order, reshuffled for every pass
//      when more arrivals than members are needed (sampling with replacement across passes).
//   4. A/B: each arrival is assigned to A or B by a fair coin; metric = plays per member.
//      Interleaving: each arrival sees TeamDraft(top-k A, top-k B); the ranker whose items got
//      more plays wins that member (ties carry no preference but still cost a member).
//   5. Sequential: an always-valid mSPRT (src/experiments/stats.h) after every arrival, two-
//      sample on plays for A/B, one-sample on the preferences (+1 B, -1 A) for interleaving;
//      "members needed" is the arrival count at the first p < alpha (capped at max_members).
//   6. Fixed horizon (power analysis): for each horizon on a doubling grid, power_reps replays of
//      that many arrivals are tested once at the horizon (Welch on plays; exact binomial test on
//      the non-tied preferences); the smallest horizon with power >= 0.8 is reported.
//
// Errors: kInvalidArgument for bad settings or ranker specs, kNotFound for a missing dataset or
// file; everything a training run can throw. Not thread-safe to call concurrently with the same
// Context progress callback; otherwise pure.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "eval/split.h"
#include "marquee/context.h"

namespace marquee {

// One ranker to compare: a recommender family with params, trained by the simulator.
struct RankerSpec {
  std::string label;  // as given on the command line
  std::string family;
  nlohmann::json params = nlohmann::json::object();
  uint64_t seed = 0;  // model seed (0: the split seed)
};

// Looks up a model reference (NAME, NAME@ALIAS, NAME/VERSION) and returns the family and params
// of that version, or nullopt when there is no such model. Supplied by the caller (the CLI uses
// the registry), so this library does not depend on the registry.
using RankerRefResolver = std::function<std::optional<RankerSpec>(const std::string& ref)>;

// Parses a ranker argument, in this order:
//   - a path to a train config (TOML; its [model] family, params and seed are used, its data
//     and split are not: the simulator's own apply to both rankers);
//   - "family:key=value,key=value" with JSON-valued params ("ease:lambda=250.0");
//   - a family name with default params ("ease", "popularity", ...);
//   - a model reference resolved by `resolver` (when given): the version's family and params.
//     The ranker is RETRAINED with them on the simulator's training members, never used as
//     stored: a registered model was usually fitted on every member, held-out items included.
// kInvalidArgument when none matches or the params are invalid (the message names the key).
RankerSpec ParseRankerSpec(const std::string& arg, const RankerRefResolver& resolver = {});

struct ReplayConfig {
  std::string home;                          // catalog home for `dataset`
  std::string dataset;                       // a catalog name or id, or:
  std::string data_file;                     // an interactions file any reader accepts
  std::optional<double> positive_threshold;  // ratings above it are positives
  SplitConfig split;                         // protocol forced to strong-generalization;
                                             // test_users 0 means half of the users
  uint32_t k = 10;
  uint32_t seeds = 5;
  uint64_t seed = 1;  // base traffic seed; seed s uses seed + s
  double alpha = 0.05;
  uint64_t max_members = 50000;  // arrivals per seed before giving up
  double tau_sd = 0.1;           // mSPRT mixture sd, in per-observation sds of the metric
  uint32_t power_reps = 200;
};

// Runs the simulation; returns the --json document (settings, offline precision of both
// rankers, per-seed members needed by each method, their ratio, and the fixed-horizon power
// table). ctx.threads and ctx.progress are used for training and scoring.
nlohmann::json RunReplaySimulation(const ReplayConfig& config, const RankerSpec& a,
                                   const RankerSpec& b, const Context& ctx);

// The human-readable report of RunReplaySimulation's result.
std::string FormatReplayReport(const nlohmann::json& result);

}  // namespace marquee
