// The store suites run against every backend: TEST_P(Suite, Name) on a fixture derived from
// StoreBackendTest, instantiated with MARQUEE_INSTANTIATE_BACKENDS(Suite) over {"sqlite",
// "postgresql"}. Each test gets a fresh store (a new SQLite file, or a new PostgreSQL database
// on the process's server: pg_test_util.h); the PostgreSQL ones skip where it cannot run.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "pg_test_util.h"
#include "registry/backend_url.h"
#include "registry/pg_store.h"
#include "registry/sqlite_store.h"
#include "test_util.h"

namespace marquee::testing {

class StoreBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "postgresql") {
      url_ = "sqlite:" + dir_.file("r.db");
      return;
    }
    server_ = PostgresServer::Get();
    if (server_ == nullptr) GTEST_SKIP() << "no PostgreSQL: " << PostgresServer::WhyNot();
    url_ = server_->CreateDatabase();
  }

  // Opens (again: the same database each time within a test) this test's store.
  std::unique_ptr<MetadataStore> Open() {
    const RegistryUrl u = ParseRegistryUrl(url_);
    if (u.scheme == RegistryUrl::Scheme::kPostgres) return OpenPgStore(u.postgres);
    return OpenSqliteStore(u.sqlite_path);
  }
  bool postgres() const { return GetParam() == "postgresql"; }

  TempDir dir_;
  std::string url_;  // the store's URL (for MARQUEE_REGISTRY)
  PostgresServer* server_ = nullptr;
};

inline std::string BackendName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

#define MARQUEE_INSTANTIATE_BACKENDS(suite)                                                     \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                                     \
                           ::testing::Values(std::string("sqlite"), std::string("postgresql")), \
                           ::marquee::testing::BackendName)

}  // namespace marquee::testing
