// The experiments tables of the registry (schema 2): the upgrade of a version-1 store in place,
// and the state machine's compare-and-set under concurrent writers.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>
#include <vector>

#include "marquee/error.h"
#include "registry/sqlite_store.h"
#include "store_backend_util.h"
#include "store_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

ExperimentRecord Draft(const std::string& name) {
  ExperimentRecord e;
  e.name = name;
  e.mode = "ab";
  e.salt = "s";
  e.definition = {{"cells", nlohmann::json::array()}};
  e.source = "[experiment]";
  e.created_at = 100;
  return e;
}

TEST(ExperimentStore, AVersionOneStoreUpgradesInPlace) {
  testing::TempDir dir;
  const std::string path = dir.file("registry.db");
  OpenSqliteStore(path);
  // Make it a version-1 file: what an older marquee left behind.
  testing::DowngradeRegistry(path, 1);
  auto s = OpenSqliteStore(path);
  EXPECT_EQ(s->SchemaVersion(), kRegistrySchemaVersion);  // and on through every later migration
  s->CreateExperiment(Draft("x"));
  EXPECT_EQ(s->ListExperiments().size(), 1u);
  EXPECT_TRUE(s->CheckIntegrity().empty());
}

using ExperimentStates = testing::StoreBackendTest;
MARQUEE_INSTANTIATE_BACKENDS(ExperimentStates);

TEST_P(ExperimentStates, StateChangesAreCompareAndSetWithHistory) {
  auto s = Open();
  ExperimentRecord e = s->CreateExperiment(Draft("x"));
  EXPECT_GT(e.id, 0);
  EXPECT_EQ(e.state, ExperimentState::kDraft);
  try {
    s->CreateExperiment(Draft("x"));
    ADD_FAILURE() << "duplicate accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kAlreadyExists);
  }
  // Eight threads race to start the draft: exactly one wins.
  std::atomic<int> won{0}, refused{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      auto mine = Open();
      try {
        mine->ChangeExperimentState(
            "x", {0, "start", ExperimentState::kDraft, ExperimentState::kRunning, 200 + t});
        ++won;
      } catch (const Error& err) {
        if (err.code() == ErrorCode::kFailedPrecondition) ++refused;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  auto got = s->GetExperiment("x");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, ExperimentState::kRunning);
  EXPECT_GE(got->first_started_at, 200);
  EXPECT_EQ(s->ExperimentHistory("x").size(), 1u);
  EXPECT_FALSE(s->GetExperiment("y"));
  EXPECT_THROW(s->ExperimentHistory("y"), Error);
  EXPECT_THROW(s->ChangeExperimentState(
                   "y", {0, "start", ExperimentState::kDraft, ExperimentState::kRunning, 1}),
               Error);
}

}  // namespace
}  // namespace marquee
