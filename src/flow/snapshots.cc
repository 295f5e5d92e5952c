#include "flow/snapshots.h"

#include <fmt/format.h>
#include <unistd.h>

#include "bandits/decision_log.h"
#include "bandits/log.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "events/event_log.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "state/online_state.h"

namespace marquee {

nlohmann::json ImportEventsOverBase(const std::string& home, Env* env, const std::string& name,
                                    const std::string& base,
                                    const std::function<void()>& before_write) {
  DatasetCatalog catalog(home, env);
  const Dataset b = catalog.Open(base);
  std::string dir;  // where the events are: the RocksDB directory or the Redis URL
  auto log = OpenEventStoreForRead(home, &dir);
  std::vector<RawInteraction> rows;
  rows.reserve(b.num_interactions());
  const auto users = b.users(), items = b.items();
  const auto values = b.values();
  const auto times = b.times();
  for (size_t k = 0; k < users.size(); ++k) {
    rows.push_back(
        {std::string(b.user_id(users[k])), std::string(b.item_id(items[k])), values[k], times[k]});
  }
  size_t events = 0;
  log->ForEach([&](const StoredEvent& e) {
    rows.push_back({e.user, e.item, e.value, e.ts});
    ++events;
    return true;
  });
  if (events == 0) Fail(ErrorCode::kInvalidArgument, "the event log in '{}' is empty", dir);
  Dataset ds = Dataset::FromRows(rows, /*has_values=*/true, /*has_times=*/true,
                                 fmt::format("{} + events:{}", base, dir));
  if (before_write) before_write();
  nlohmann::json j = catalog.Import(name, ds).ToJson();
  j["base"] = base;
  j["base_interactions"] = b.num_interactions();
  j["events"] = events;
  return j;
}

nlohmann::json ImportDecisionLog(const std::string& home, Env* env, const std::string& name,
                                 const std::string& policy, int64_t since_ms) {
  auto log = OpenDecisionStoreForRead(home);  // read-only: allowed while a server appends
  const std::string dir = log->Describe();    // the RocksDB directory or the Redis URL
  env->CreateDirs(home + "/bandit");
  // The rows go through a temporary bandit-jsonl file so the catalog's streaming import (bounded
  // memory) builds the snapshot.
  const std::string tmp = fmt::format("{}/bandit/.decisions-{}.jsonl.tmp", home, ::getpid());
  size_t written = 0, open = 0;
  {
    auto file = env->NewWritableFile(tmp);
    std::string buf;
    log->ForEach(since_ms, [&](const Decision& d) {
      if (!policy.empty() && d.model != policy) return true;
      if (d.outcome.kind == OutcomeKind::kOpen) {
        ++open;
        return true;
      }
      buf += ToBanditJsonl(d).dump();
      buf += '\n';
      ++written;
      if (buf.size() >= (1 << 20)) {
        file->Append(buf);
        buf.clear();
      }
      return true;
    });
    file->Append(buf);
    file->Commit();
  }
  struct Remove {
    Env* env;
    std::string path;
    ~Remove() {
      try {
        env->RemoveFile(path);
      } catch (const Error&) {  // best effort: gc removes leftovers of dead writers
      }
    }
  } remove{env, tmp};
  if (written == 0) {
    Fail(ErrorCode::kInvalidArgument,
         "the decision log in '{}' has no closed decision of policy '{}' ({} still open)", dir,
         policy, open);
  }
  BanditLogCatalog catalog(home, env);
  nlohmann::json j =
      catalog.ImportFile(name, tmp, "bandit-jsonl", fmt::format("decisions:{}", dir)).ToJson();
  j["decisions"] = written;
  j["open"] = open;
  return j;
}

}  // namespace marquee
