// The backend-independent parts of MetadataStore: choosing the backend of a home by URL, and
// the polling default of change notification.
#include "registry/metadata_store.h"

#include <chrono>
#include <thread>

#include "marquee/env.h"
#include "registry/backend_url.h"
#include "registry/pg_store.h"
#include "registry/sqlite_store.h"

namespace marquee {

MetadataStore::AliasChange MetadataStore::WaitForAliasChange(int timeout_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max(0, timeout_ms)));
  return AliasChange::kUnknown;
}

std::unique_ptr<MetadataStore> OpenMetadataStore(const std::string& home, Env* env) {
  const BackendConfig backends = ResolveBackends(home, env);
  SqliteStoreOptions o;
  // Only artifacts and catalogued data say a registry existed: a -wal with content is normal
  // while another process is creating the registry (its schema is still in the log). Another
  // file, same home: its artifacts still say whether a registry existed.
  o.must_exist_because = [home, env] { return WhyARegistryMustExist(home, env); };
  if (backends.registry.empty()) {
    env->CreateDirs(home);
    return OpenSqliteStore(home + "/registry.db", o);
  }
  const RegistryUrl url = ParseRegistryUrl(backends.registry);
  if (url.scheme == RegistryUrl::Scheme::kPostgres) return OpenPgStore(url.postgres);
  return OpenSqliteStore(url.sqlite_path, o);
}

}  // namespace marquee
