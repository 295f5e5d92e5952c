// The online state of a home (events, bandit decisions; exposures) opened where its `state`
// URL says (docs/config.md, "Backends"): the home's embedded RocksDB by default, or Redis
// (docs/formats/state-redis.md). The one place that knows the backends: the server core and the
// commands that read the state back (`dataset import --from-events`) open the logs here and use
// them through their interfaces.
//
// Errors: ResolveBackends's for a bad URL; the implementations' Open errors (a home held by
// another process, an unreachable Redis: kUnavailable; a Redis that could lose acknowledged
// writes: kFailedPrecondition). Thread-safety: pure functions.
#pragma once

#include <memory>
#include <string>

#include "bandits/decision_log.h"
#include "events/event_log.h"
#include "events/redis_client.h"

namespace marquee {

class Env;

// The state backend of `home`: `url` when not empty, else what ResolveBackends says
// ($MARQUEE_STATE, then `state =` in marquee.toml, then the home's RocksDB).
StateBackend ResolveStateBackend(const std::string& home, const std::string& url, Env* env);

// Opens the event log: RocksDB in $home/events, or in Redis.
std::unique_ptr<EventLog> OpenEventStore(const StateBackend& state, const std::string& home,
                                         const EventLogOptions& options);

// Opens the decision log: RocksDB in $home/decisions, or in Redis.
std::unique_ptr<DecisionLog> OpenDecisionStore(const StateBackend& state, const std::string& home,
                                               DecisionLogOptions options);

// The event log of `home` opened read-only for the commands that read it back (`dataset import
// --from-events`), wherever the home's backends say it is; `where` gets its name for messages
// and dataset sources (the RocksDB directory, or the Redis URL without password). kNotFound,
// naming `where`, when the home has no RocksDB event log.
std::unique_ptr<EventLog> OpenEventStoreForRead(const std::string& home, std::string* where);

// The decision log of `home` opened read-only (`decisions export`), wherever the home's backends
// say it is. kNotFound when the home has no RocksDB decision log.
std::unique_ptr<DecisionLog> OpenDecisionStoreForRead(const std::string& home);

}  // namespace marquee
