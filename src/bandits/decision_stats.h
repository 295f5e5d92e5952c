// What the decision log says about each bandit policy over time (the dashboard's bandit pages,
// GET /api/v1/bandits[/{name}]): decisions and rewards per time bucket, the chosen actions, the
// versions that decided. One pass over DecisionLog::ForEach, the reader `marquee decisions
// export` uses (decisions joined with their outcomes), so it runs read-only beside a server.
//
// Counting: a decision is "closed" once it has an outcome (a joined reward, or the default
// reward its window closed with) and "open" before; "rewards" is the sum of the closed
// decisions' rewards, so reward_rate = rewards / closed is the mean reward per decision that
// has one (with 0/1 rewards: the click rate). A decision counts in the bucket of the time it was
// taken (buckets are [start, start + bucket_seconds) aligned on the Unix epoch, so hours and
// days are UTC), whenever its reward came.
//
// Memory: bounded by what is reported, never by the log: per policy a few counters, one entry
// per non-empty bucket and at most `max_actions` action ids (decisions choosing an action first
// seen after that are counted in `other_actions`). Each decision record is parsed (JSON) and
// its outcome looked up, so a pass costs about what an export of the same log costs
// (docs/BENCHMARKS.md has the measured time for 1M decisions).
//
// Errors: what DecisionLog::ForEach throws (kCorruption for a damaged record). Thread-safety:
// pure functions over a log that may be read from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bandits/decision_log.h"

namespace marquee {

struct DecisionCounts {
  uint64_t decisions = 0;
  uint64_t closed = 0;  // with an outcome (joined + defaulted)
  uint64_t joined = 0;  // of them, by a reward sent to /v1/reward
  double rewards = 0;   // sum of the closed decisions' rewards
  void Add(const Decision& d);
};

struct DecisionBucket {
  int64_t start = 0;  // Unix seconds, a multiple of the bucket width
  DecisionCounts counts;
};

struct PolicyActivity {
  std::string policy;             // the registry model name the decisions name
  std::vector<int64_t> versions;  // the versions that decided, ascending
  DecisionCounts counts;
  int64_t first_ms = 0, last_ms = 0;   // the first and the last decision's time
  std::vector<DecisionBucket> series;  // non-empty buckets, oldest first (bucket_seconds > 0)
  // Decisions per chosen action id, most chosen first (ties by id); with `actions` set.
  std::vector<std::pair<std::string, uint64_t>> actions;
  uint64_t other_actions = 0;  // decisions whose action was beyond max_actions distinct ids
};

struct ActivityOptions {
  std::string policy;          // only this policy's decisions; "" for every policy
  int64_t since_ms = 0;        // only decisions taken at or after this time
  int64_t bucket_seconds = 0;  // > 0: the series of buckets of this width
  bool actions = false;        // count the chosen actions
  size_t max_actions = 10000;  // distinct action ids tracked per policy
};

// One pass over `log`: each policy's activity (of `options.policy` only when set), by policy
// name. kInvalidArgument for a negative bucket width.
std::vector<PolicyActivity> SummarizeDecisions(const DecisionLog& log,
                                               const ActivityOptions& options);

}  // namespace marquee
