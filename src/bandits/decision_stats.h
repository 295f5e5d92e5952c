// What the decision log says about each bandit policy over time (the dashboard's bandit pages,
// GET /api/v1/bandits[/{name}]): decisions and rewards per time bucket, the chosen actions, the
// versions that decided.
//
// SummarizeDecisions answers from the counters the log's writer keeps (DecisionCounters,
// decision_log.h): its cost is what it reports (one key per policy, per non-empty hour from
// `since` on, per version and per chosen action id), never the size of the log. A log written
// before counters existed and opened read-only has none until a server opens it; it is then
// answered by SummarizeDecisionsByScan, one pass over DecisionLog::ForEach (every record parsed
// and its outcome looked up: about what an export of the log costs). Both give the same answer,
// which the tests check on random workloads.
//
// Counting (DecisionCounts): a decision is "closed" once it has an outcome (a joined reward, or
// the default reward its window closed with) and "open" before; "rewards" is the sum of the
// closed decisions' rewards, so reward_rate = rewards / closed is the mean reward per decision
// that has one (with 0/1 rewards: the click rate). A decision counts in the bucket of the time it
// was taken, whenever its reward came. Buckets are whole hours: [start, start + bucket_seconds)
// aligned on the Unix epoch (so hours and days are UTC), bucket_seconds a multiple of 3600.
// `since_ms` rounds down to its hour: the decisions of the hour it falls in count whole.
//
// Actions: the `max_actions` most chosen action ids of each policy (ties by id), the decisions of
// the others summed in `other_actions`.
//
// Errors: kInvalidArgument for a bucket width that is not a non-negative multiple of 3600 s;
// kCorruption for a damaged record or counter; kFailedPrecondition for counters of an unknown
// version. Thread-safety: pure functions over a log that may be read from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bandits/decision_log.h"

namespace marquee {

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
  uint64_t other_actions = 0;  // decisions whose action was not among the max_actions reported
};

struct ActivityOptions {
  std::string policy;          // only this policy's decisions; "" for every policy
  int64_t since_ms = 0;        // only decisions taken in or after this time's hour
  int64_t bucket_seconds = 0;  // > 0: the series of buckets of this width (a multiple of 3600)
  bool actions = false;        // count the chosen actions
  size_t max_actions = 10000;  // action ids reported per policy
};

// Each policy's activity (of `options.policy` only when set), by policy name: from the log's
// counters, or by SummarizeDecisionsByScan when it has none.
std::vector<PolicyActivity> SummarizeDecisions(const DecisionLog& log,
                                               const ActivityOptions& options);

// The same answer from one pass over every decision since `since_ms`'s hour: the reference the
// counters are tested against, and the reader of a log without counters. Memory: per policy its
// non-empty buckets and one entry per distinct chosen action id.
std::vector<PolicyActivity> SummarizeDecisionsByScan(const DecisionLog& log,
                                                     const ActivityOptions& options);

}  // namespace marquee
