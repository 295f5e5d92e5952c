// Helpers for the store suites: turning a current registry file into what an older marquee left.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "registry/sqlite_store.h"

namespace marquee::testing {

// Rewrites the registry at `path` (created by this build, closed) as schema version `version`
// left it: undoes the later migrations, newest first, and sets user_version.
inline void DowngradeRegistry(const std::string& path, int version) {
  // What migration i (from i to i + 1) added, to drop again.
  const char* const kUndo[] = {
      nullptr,  // 0 -> 1: the initial schema is never undone
      "DROP TABLE experiment_history; DROP TABLE experiments;",
      "DROP INDEX run_metrics_by_value; DROP TABLE run_artifacts; DROP TABLE run_tags; "
      "DROP TABLE run_metric_history; DROP TABLE external_runs;",
  };
  static_assert(sizeof(kUndo) / sizeof(kUndo[0]) == kRegistrySchemaVersion,
                "a new migration needs its undo here");
  ASSERT_GE(version, 1);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  for (int v = kRegistrySchemaVersion - 1; v >= version; --v) {
    char* err = nullptr;
    const std::string sql =
        std::string(kUndo[v]) +
        " DELETE FROM schema_migrations WHERE version = " + std::to_string(v + 1) + ";";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err != nullptr ? err : "");
    sqlite3_free(err);
  }
  const std::string pragma = "PRAGMA user_version = " + std::to_string(version);
  EXPECT_EQ(sqlite3_exec(db, pragma.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace marquee::testing
