// SqliteStore shared by threads: its one connection sits behind a re-entrant mutex, so the store
// calls a function given to Atomically makes join its transaction (no deadlock) while the other
// threads' calls wait for it to end.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "registry/sqlite_store.h"
#include "store_backend_util.h"
#include "test_util.h"

namespace marquee {
namespace {

using StoreThreads = testing::StoreBackendTest;
MARQUEE_INSTANTIATE_BACKENDS(StoreThreads);

TEST_P(StoreThreads, NestedCallsJoinAndOtherThreadsWait) {
  auto s = Open();
  constexpr int kThreads = 4, kEach = 20;
  std::atomic<bool> writing{true};
  std::atomic<int> reads{0};
  // A reader on its own thread throughout: its calls must not slip into a writer's transaction.
  std::thread reader([&] {
    while (writing.load()) {
      for (const ModelRecord& m : s->ListModels()) EXPECT_EQ(m.num_versions, m.latest_version);
      reads.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        s->Atomically([&] {
          NewVersion nv;
          nv.model_name = "m";
          nv.artifact = fmt::format("{:064x}", t * 1000 + i);
          nv.family = "ease";
          nv.created_at = 1;
          const int64_t v = s->RegisterVersion(nv).version;  // nested: joins this transaction
          s->SetTag("m", v, "writer", std::to_string(t));
          // Nothing of another thread lands between the calls of one Atomically.
          EXPECT_EQ(s->ListVersions("m").back().version, v);
          EXPECT_EQ(s->GetTags("m", v).at("writer"), std::to_string(t));
        });
      }
    });
  }
  for (auto& w : writers) w.join();
  writing = false;
  reader.join();

  const std::vector<VersionRecord> versions = s->ListVersions("m");
  ASSERT_EQ(versions.size(), static_cast<size_t>(kThreads * kEach));
  std::set<std::string> artifacts;
  for (size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i].version, static_cast<int64_t>(i + 1));
    artifacts.insert(versions[i].artifact);
    EXPECT_EQ(s->GetTags("m", versions[i].version).size(), 1u);
  }
  EXPECT_EQ(artifacts.size(), versions.size());
  EXPECT_GT(reads.load(), 0);
  EXPECT_TRUE(s->CheckIntegrity().empty());
}

}  // namespace
}  // namespace marquee
