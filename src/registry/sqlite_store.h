// SqliteStore: the embedded MetadataStore, one SQLite database in WAL mode
// ($home/registry.db). Readers never block writers; writers serialise on BEGIN IMMEDIATE and
// wait up to the busy timeout. Foreign keys are enforced. The schema is versioned with
// PRAGMA user_version and upgraded in place by ordered migrations (docs/formats/registry.md).
//
// Thread-safe (one connection behind a mutex); several processes may open the same file.
#pragma once

#include <memory>
#include <string>

#include "registry/metadata_store.h"

namespace marquee {

// The schema version this build writes; a store at a higher version is refused
// (kFailedPrecondition: written by a newer Marquee).
inline constexpr int kRegistrySchemaVersion = 2;

struct SqliteStoreOptions {
  int busy_timeout_ms = 10000;
  // "NORMAL" survives any process crash in WAL mode (a power loss may drop the last commits,
  // never corrupt); "FULL" also fsyncs the log on every commit.
  std::string synchronous = "NORMAL";
};

// Opens (creating if missing) the database at `path` and migrates it to the current schema.
// Throws kIOError / kCorruption / kFailedPrecondition naming the path.
std::unique_ptr<MetadataStore> OpenSqliteStore(const std::string& path,
                                               const SqliteStoreOptions& options = {});

}  // namespace marquee
