// SqliteStore: the embedded MetadataStore, one SQLite database in WAL mode
// ($home/registry.db). Readers never block writers; writers serialise on BEGIN IMMEDIATE and
// wait up to the busy timeout. Foreign keys are enforced. The schema is versioned with
// PRAGMA user_version and upgraded in place by ordered migrations (docs/formats/registry.md).
//
// Thread-safe (one connection behind a mutex); several processes may open the same file.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "registry/metadata_store.h"

namespace marquee {

// The schema version this build writes; a store at a higher version is refused
// (kFailedPrecondition: written by a newer Marquee).
inline constexpr int kRegistrySchemaVersion = 3;

struct SqliteStoreOptions {
  int busy_timeout_ms = 10000;
  // "NORMAL" survives any process crash in WAL mode (a power loss may drop the last commits,
  // never corrupt); "FULL" also fsyncs the log on every commit.
  std::string synchronous = "NORMAL";
  // Called only when the file is missing, empty, or holds no schema yet (user_version 0). A
  // non-empty answer says why that registry must already exist (e.g. "'home/artifacts' holds
  // 4 model artifact(s)"): the open is then refused with kCorruption instead of creating a new
  // registry, and nothing is written. Unset or empty: create it.
  std::function<std::string()> must_exist_because;
};

// Opens (creating if missing) the database at `path` and migrates it to the current schema.
// Opening writes nothing when the schema is current, so reading works on a full disk. Throws
// kIOError / kCorruption / kFailedPrecondition naming the path; kResourceExhausted ("no space
// left on device") when the disk is full.
std::unique_ptr<MetadataStore> OpenSqliteStore(const std::string& path,
                                               const SqliteStoreOptions& options = {});

}  // namespace marquee
