// Fresh training data from what a server logged: the snapshot step's work, shared with
// `marquee dataset import --from-events --base` (tools/marquee/cmd_dataset.cc).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace marquee {

class Env;

// A new snapshot `name` holding every row of the snapshot `base` followed by every event of
// $home/events (values and times as logged), so a model retrained on it knows the training data
// and everything served since. The event log is opened read-only (a server may be appending).
// `before_write` (may be empty) runs just before the catalog is written (the CLI creates the
// registry there). Returns the catalog entry's JSON plus base, base_interactions and events.
// Errors: kNotFound when `base` or the event log is missing, kInvalidArgument when the log is
// empty.
nlohmann::json ImportEventsOverBase(const std::string& home, Env* env, const std::string& name,
                                    const std::string& base,
                                    const std::function<void()>& before_write = {});

// A new bandit-log snapshot `name` from the decision log $home/decisions (opened read-only):
// every closed decision of policy `policy` (a registry model name; "" : every policy) made at or
// after `since_ms`, as bandit-jsonl rows (chosen action, its probability, the joined or default
// reward). Returns the catalog entry's JSON plus "decisions" (rows written) and "open" (skipped:
// no outcome yet). kNotFound when there is no decision log, kInvalidArgument when no closed
// decision of the policy is in it.
nlohmann::json ImportDecisionLog(const std::string& home, Env* env, const std::string& name,
                                 const std::string& policy, int64_t since_ms = 0);

}  // namespace marquee
