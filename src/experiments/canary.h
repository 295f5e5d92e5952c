// Canary: a candidate version gets a share of a model's live traffic through the experiments
// machinery, guarded by a sequential test (issue #17, the pipeline's `canary` step).
//
// RunCanary creates an A/B experiment with two cells, `production` (NAME@ALIAS, the version
// members get today) and `candidate` (NAME/V) weighted 1 - share and share, starts it, and sets
// the model tag `canary` to its name: every replica then routes the model's /v1/recommend
// requests that name no experiment through it (serving/shadow.h), so members are assigned
// sticky cells and their exposures are logged. It then polls the experiment's analysis
// (experiments/analysis.h) every `poll` and stops at the first of:
//
//   fail  the guardrail fails: the candidate's plays per member are below the control's by more
//         than max_drop (relative lift < -max_drop) AND the always-valid mSPRT p-value of the
//         difference is below alpha (so peeking at every poll keeps the error rate);
//   fail  the concentration guardrail (when max_head_share_change >= 0) fails: once both cells
//         have kConcentrationMinExposures exposures, the candidate's head share (the share of
//         its impressions on production's most-shown items that make half of production's
//         impressions; experiments/analysis.h "concentration") differs from production's by
//         more than max_head_share_change, either way: a candidate that shows only what is
//         popular, or only the long tail, is judged on the same traffic as production;
//   pass  both cells have min_members exposed members and no guardrail has failed (with the
//         concentration guardrail on, only once it could be judged);
//   fail  the timeout passes first (inconclusive counts as a failure), or the caller cancels.
//
// Whatever the outcome, the tag is removed and the experiment stopped before returning (the
// model's requests go back to production at each replica's next poll; the server URL's replica
// is asked to reload at once). The analysis stays in the registry under the experiment's name.
//
// Two ways to reach the platform: a server URL (any replica or a load balancer in front of
// them, through src/client's HttpClient and the /api/v1 routes) or a home (its registry and
// logs directly, for a server on the same home).
//
// Errors: kInvalidArgument for bad options; the registry's or the server's errors (creating the
// experiment, an unknown model or version). Thread-compatible: one call per thread.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace marquee {
class Registry;
}

namespace marquee {

struct CanaryOptions {
  std::string model;
  int64_t candidate = 0;  // the version under test
  std::string production_alias = "production";
  double share = 0.1;         // of the model's members, in (0, 1)
  int64_t min_members = 200;  // exposed members per cell for a pass
  double max_drop = 0.1;      // relative drop of plays per member that fails
  double alpha = 0.05;        // level of the sequential test
  // The concentration guardrail: the largest absolute change of the head share against
  // production, in [0, 1]; negative: off.
  double max_head_share_change = -1;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds poll{std::chrono::seconds(2)};
  int64_t attribution_window = 3600;            // seconds (the experiment's)
  std::vector<std::string> event_types;         // what counts as a play (empty: any, value > 0)
  std::string experiment;                       // its name; "" -> canary-MODEL-vV-UNIXTIME
  std::function<bool()> cancelled;              // polled between looks (may be empty)
  std::function<void(const std::string&)> log;  // a line per look (may be empty)
};

// Exposures each cell needs before the concentration guardrail judges it.
inline constexpr int64_t kConcentrationMinExposures = 50;

struct CanaryResult {
  bool passed = false;
  std::string reason;      // why it stopped
  std::string experiment;  // the experiment's name
  int64_t looks = 0;
  nlohmann::json analysis;  // the last analysis (null if none was made)
  nlohmann::json ToJson() const;
};

// The verdict on one analysis (see the header comment): +1 pass, -1 fail, 0 keep going, with
// the reason. Pure.
int JudgeCanary(const nlohmann::json& analysis, const CanaryOptions& options, std::string* reason);

// The experiment definition (TOML) RunCanary creates. kInvalidArgument for bad options.
std::string CanaryExperimentToml(const CanaryOptions& options, const std::string& name);

// Against a server: `url` (http://host:port), `api_key` ("" for none; needs write scope, and
// admin for the reload).
CanaryResult RunCanary(const std::string& url, const std::string& api_key,
                       const CanaryOptions& options);
// Against a home's registry and logs.
CanaryResult RunCanary(Registry& registry, const std::string& home, const CanaryOptions& options);

}  // namespace marquee
