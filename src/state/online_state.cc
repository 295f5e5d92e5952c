#include "state/online_state.h"

#include "bandits/redis_decision_log.h"
#include "events/redis_event_log.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/backend_url.h"

namespace marquee {

StateBackend ResolveStateBackend(const std::string& home, const std::string& url, Env* env) {
  if (!url.empty()) return ParseStateUrl(url);
  return ParseStateUrl(ResolveBackends(home, env).state);
}

std::unique_ptr<EventLog> OpenEventStore(const StateBackend& state, const std::string& home,
                                         const EventLogOptions& options) {
  if (state.kind == StateBackend::Kind::kRedis) return OpenRedisEventLog(state.redis, options);
  try {
    return EventLog::Open(home + "/events", options);
  } catch (const Error& e) {
    // RocksDB's own lock refused (a process that did not take serve.lock, e.g. an older
    // marquee): one readable line too. Other errors (a full disk) pass through as they are.
    const std::string what = e.what();
    if (e.code() == ErrorCode::kUnavailable && (what.find("While lock file") != std::string::npos ||
                                                what.find("lock hold by") != std::string::npos)) {
      Fail(ErrorCode::kUnavailable,
           "the home {} is in use by another process (it holds {}/events/LOCK); stop it or use "
           "another --home",
           home, home);
    }
    throw;
  }
}

std::unique_ptr<DecisionLog> OpenDecisionStore(const StateBackend& state, const std::string& home,
                                               DecisionLogOptions options) {
  if (state.kind == StateBackend::Kind::kRedis) {
    return OpenRedisDecisionLog(state.redis, std::move(options));
  }
  return DecisionLog::Open(home + "/decisions", std::move(options));
}

std::unique_ptr<EventLog> OpenEventStoreForRead(const std::string& home, std::string* where) {
  const StateBackend state = ResolveStateBackend(home, "", Env::Default());
  EventLogOptions o;
  o.read_only = true;  // allowed while a server appends
  if (state.kind == StateBackend::Kind::kRedis) {
    *where = state.redis.Redacted();
    return OpenRedisEventLog(state.redis, o);
  }
  *where = home + "/events";
  if (!Env::Default()->FileExists(*where)) {
    Fail(ErrorCode::kNotFound, "no event log in '{}' (POST /v1/events to `marquee serve` first)",
         *where);
  }
  return EventLog::Open(*where, o);
}

std::unique_ptr<DecisionLog> OpenDecisionStoreForRead(const std::string& home) {
  DecisionLogOptions o;
  o.read_only = true;
  return OpenDecisionStore(ResolveStateBackend(home, "", Env::Default()), home, std::move(o));
}

}  // namespace marquee
