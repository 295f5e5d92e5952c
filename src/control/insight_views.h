// Views of the dashboard's experiment and bandit pages (issue #15): experiments day by day and
// the bandit policies' decisions, rewards, actions and latest off-policy evaluation, as the
// JSON that GET /api/v1/experiments/{name}/timeseries, GET /api/v1/bandits and
// GET /api/v1/bandits/{name} answer (docs/api/openapi.yaml; routes in insight_routes.cc).
//
// Like the views of views.h, each is a function of the home's state read through the Registry
// given (the caller's, for its own thread) and read-only views of the home's logs, so they run
// beside the server that writes those logs. Errors: kNotFound naming an unknown experiment or
// policy, kInvalidArgument for a bad name or bucket, kCorruption for a damaged log or record.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "bandits/decision_log.h"
#include "registry/registry.h"

namespace marquee {

// TimeseriesFromHome (experiments/analysis.h) of experiment `name`.
nlohmann::json ExperimentTimeseriesView(Registry& reg, const std::string& home,
                                        const std::string& name);

// {"policies": [{"name", "family", "aliases", "versions", "decisions", "closed", "joined",
// "rewards", "reward_rate", "last_decision_at"}]}: every policy with decisions in the home's
// decision log and every registry model whose latest version is a bandit policy, by name.
// "versions" are the versions that decided (decision_stats.h has the counting); "family" and
// "aliases" come from the registry (null and {} for a name it does not hold). `live`: the
// server's own decision log when it holds one (read there, with no open), else null (a read-only
// open of the home's).
nlohmann::json BanditsListView(Registry& reg, const std::string& home,
                               const DecisionLog* live = nullptr);

// One policy: the list entry's fields plus "bucket" ("hour" | "day"), "series" (non-empty
// buckets from `since` on: start, decisions, closed, rewards, reward_rate), "actions" (chosen
// action id, decisions, share of the policy's decisions; most chosen first), "other_actions"
// and "ope" (LoadOpeRecord's record, or null). `since`: Unix seconds (0: from the start),
// rounded down to its hour. kNotFound when the name has no decisions, no bandit model in the
// registry and no record. `live` as for BanditsListView.
nlohmann::json BanditView(Registry& reg, const std::string& home, const std::string& name,
                          const std::string& bucket, int64_t since,
                          const DecisionLog* live = nullptr);

}  // namespace marquee
