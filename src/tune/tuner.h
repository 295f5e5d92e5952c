// RunStudy: the whole `marquee tune` job (docs/cli.md). Trials train the config's model through
// the kind (pipeline/train.h RunTraining) with sampled [model] parameters set as `--set`
// overrides, on a validation split carved from the training users (or rows): `[split]
// validation` (eval/split.h CarveValidation, tabular/train.h), so the test users are neither
// trained on nor evaluated while tuning. The test metric is computed once, for the best
// configuration, at the end.
//
// Determinism: trials run in batches of `parallel`; trial i's params and its pruning decisions
// depend only on the seed and the trials of earlier batches, so a study is the same for a seed
// and a parallelism whatever the timing (and a resumed study re-runs an interrupted trial with
// the same params).
//
// Early stopping: with a [schedule] in the space, a trial trains at each rung's resource (a
// fresh training per rung: the families have no warm start) and stops, "pruned at <param> r",
// unless it is in the top 1/eta of the values earlier batches reached at that rung.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "marquee/context.h"
#include "registry/registry.h"
#include "tune/study.h"

namespace marquee {

struct TuneOptions {
  std::string home;                    // resolved home directory
  std::string config_path;             // the train config (TOML)
  std::vector<std::string> overrides;  // --set, applied to every trial
  std::string space_path;              // "" : the family's default space
  int trials = 0;                      // 0: until the budget (both 0: 20 trials)
  double budget_s = 0;                 // 0: no time limit; no trial starts after it
  int parallel = 1;                    // trials at once, each with threads / parallel threads
  std::string metric;                  // "" : the config's first [eval] metric
  uint64_t seed = 0;
  std::string sampler = "tpe";  // "tpe" | "random"
  int startup_trials = 10;      // random trials before TPE
  double validation = 0.2;      // share of training users (rows) the objective is computed on
  bool register_best = false;   // train the best on all data and register a version
  int64_t resume = 0;           // > 0: continue this study (its settings win)
  Context ctx;                  // threads (0: all cores), env
  std::function<void(const std::string&)> log;  // one line per finished trial (may be empty)
};

struct TuneOutcome {
  StudyRecord study;
  // What `marquee tune --json` prints: {"study", "trials", "best": {"params", "validation",
  // "test", ...}, ...}.
  nlohmann::json ToJson() const;
  // The human-readable summary (says plainly which users each number comes from).
  std::string Text() const;
};

// Runs (or resumes) a study, recording every trial as a run in `registry` (used from this
// thread only). Throws marquee::Error: kInvalidArgument for a bad config, space or option (before
// any trial runs), kNotFound for an unknown study to resume, kFailedPrecondition when every
// trial failed (the first error is named).
TuneOutcome RunStudy(const TuneOptions& options, Registry& registry);

// A time budget: seconds ("90", "90s"), minutes ("10m") or hours ("1h"); kInvalidArgument
// naming the text otherwise.
double ParseBudget(const std::string& text);

// Whether smaller values of `metric` are better (logloss, brier, ece, rmse, mae).
bool MetricIsLoss(const std::string& metric);

// `marquee studies show`: the study, its best trials, importances; writes the plot under the
// study's folder and names it. `top`: trials listed.
std::string StudyReport(const StudyRecord& s, const std::string& svg_path, int top);
nlohmann::json StudyJson(const StudyRecord& s);

}  // namespace marquee
