// Issue #16: replicas on different homes sharing one registry and one artifact directory. An
// alias move on a PostgreSQL registry reaches every replica's model manager within a second
// (LISTEN/NOTIFY wakes the poller; the timed poll here is far longer), a version trained on one
// home loads on another through the shared artifacts, and a SQLite registry is still polled.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/artifact_store.h"
#include "registry/pg_test_util.h"
#include "registry/registry.h"
#include "serving/model_manager.h"
#include "serving_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

namespace fs = std::filesystem;

// A home whose marquee.toml names the shared registry and artifact directory.
std::string ReplicaHome(const testing::TempDir& dir, const std::string& name,
                        const std::string& registry, const std::string& artifacts) {
  const std::string home = dir.file(name);
  fs::create_directories(home);
  Env::Default()->WriteFileAtomic(
      home + "/marquee.toml",
      "registry = \"" + registry + "\"\nartifacts = \"file://" + artifacts + "\"\n");
  return home;
}

std::unique_ptr<ModelManager> Replica(const std::string& home, const std::string& ref,
                                      std::chrono::milliseconds poll) {
  ModelManagerOptions o;
  o.home = home;
  o.refs = {ref};
  auto m = std::make_unique<ModelManager>(std::move(o));
  m->Refresh();
  m->StartPolling(poll);
  return m;
}

int64_t Serving(const ModelManager& m, const std::string& ref) {
  auto s = m.Find(ref, kKindRecommender);
  return s ? s->version : 0;
}

// Seconds until every replica serves `version` of `ref` (or `limit` has passed).
double SecondsUntilAllServe(const std::vector<ModelManager*>& replicas, const std::string& ref,
                            int64_t version, double limit) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bool all = true;
    for (const ModelManager* m : replicas) all = all && Serving(*m, ref) == version;
    if (all || waited > limit) return waited;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(Replicas, AnAliasMoveOnPostgresReachesEveryReplicaWithinASecondSlow) {
  MARQUEE_REQUIRE_POSTGRES(server);
  testing::TempDir dir;
  const std::string url = server->CreateDatabase();
  const std::string shared = dir.file("shared-artifacts");
  const std::string trainer = ReplicaHome(dir, "trainer", url, shared);
  // Two versions with different artifacts, trained on the trainer's home only.
  ASSERT_EQ(testing::RegisterModel(trainer, "recs", "ease"), 1);
  ASSERT_EQ(testing::RegisterModel(trainer, "recs", "itemknn"), 2);
  Registry reg(trainer);
  reg.store().MoveAlias("recs", AliasMove{0, "production", 0, 1, "promote", "", 1});
  // The artifacts are in the shared directory; the trainer's artifacts entry links there.
  EXPECT_TRUE(fs::is_symlink(trainer + "/artifacts"));
  EXPECT_EQ(reg.artifacts().dir(), shared);
  EXPECT_EQ(reg.artifacts().List().size(), 2u);

  // Two replicas on their own homes: a 60 s poll, so only the notification can move them soon.
  const std::string a = ReplicaHome(dir, "replica-a", url, shared);
  const std::string b = ReplicaHome(dir, "replica-b", url, shared);
  auto ra = Replica(a, "recs@production", std::chrono::seconds(60));
  auto rb = Replica(b, "recs@production", std::chrono::seconds(60));
  ASSERT_EQ(Serving(*ra, "recs@production"), 1) << ra->Describe().dump();
  ASSERT_EQ(Serving(*rb, "recs@production"), 1) << rb->Describe().dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the listeners subscribe

  for (const auto& [from, to] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 1}}) {
    const uint64_t before = ra->notified_refreshes() + rb->notified_refreshes();
    reg.store().MoveAlias("recs", AliasMove{0, "production", from, to, "promote", "", 2 + to});
    const double waited =
        SecondsUntilAllServe({ra.get(), rb.get()}, "recs@production", to, /*limit=*/10);
    EXPECT_LT(waited, 1.0) << "v" << from << " -> v" << to;
    EXPECT_EQ(Serving(*ra, "recs@production"), to);
    EXPECT_EQ(Serving(*rb, "recs@production"), to);
    EXPECT_GE(ra->notified_refreshes() + rb->notified_refreshes(), before + 2);
  }
  ra->Stop();
  rb->Stop();
}

TEST(Replicas, ASqliteRegistryIsPolledWithoutAListener) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  ASSERT_EQ(testing::RegisterModel(home, "recs", "ease"), 1);
  ASSERT_EQ(testing::RegisterModel(home, "recs", "itemknn"), 2);
  Registry reg(home);
  reg.store().MoveAlias("recs", AliasMove{0, "production", 0, 1, "promote", "", 1});
  auto m = Replica(home, "recs@production", std::chrono::milliseconds(200));
  ASSERT_EQ(Serving(*m, "recs@production"), 1);
  reg.store().MoveAlias("recs", AliasMove{0, "production", 1, 2, "promote", "", 2});
  EXPECT_LT(SecondsUntilAllServe({m.get()}, "recs@production", 2, 10), 5.0);
  EXPECT_EQ(m->notified_refreshes(), 0u);  // polled: SQLite tells nobody
  const auto start = std::chrono::steady_clock::now();
  m->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(SharedArtifacts, AVersionTrainedOnOneHomeLoadsOnAnother) {
  testing::TempDir dir;
  const std::string shared = dir.file("nfs/artifacts");
  const std::string registry = "sqlite://" + dir.file("registry.db");
  const std::string trainer = ReplicaHome(dir, "trainer", registry, shared);
  ASSERT_EQ(testing::RegisterModel(trainer, "recs", "ease"), 1);
  const std::string replica = ReplicaHome(dir, "replica", registry, shared);
  auto m = Replica(replica, "recs", std::chrono::milliseconds(0));
  EXPECT_EQ(Serving(*m, "recs"), 1) << m->Describe().dump();
  // Nothing was written into a home's own directory: both link to the shared one.
  for (const std::string& home : {trainer, replica}) {
    EXPECT_TRUE(fs::is_symlink(home + "/artifacts")) << home;
    EXPECT_TRUE(fs::equivalent(home + "/artifacts", shared)) << home;
  }
  Registry reg(replica);
  EXPECT_EQ(reg.artifacts().List().size(), 1u);
  EXPECT_EQ(reg.artifacts().ListTemporaries(), std::vector<std::string>{});
}

TEST(SharedArtifacts, AHomeWithItsOwnArtifactsIsRefusedNamingBothDirectories) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  ASSERT_EQ(testing::RegisterModel(home, "recs", "ease"), 1);  // into home/artifacts
  Env::Default()->WriteFileAtomic(home + "/marquee.toml",
                                  "artifacts = \"file://" + dir.file("shared") + "\"\n");
  try {
    ArtifactStore s(home, Env::Default());
    FAIL() << "a home with its own artifacts was linked away";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find(home + "/artifacts"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir.file("shared")), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::is_symlink(home + "/artifacts"));  // left as it was
  // A relative or unknown URL is refused naming the key.
  for (const char* bad : {"file://relative/dir", "s3://bucket/x", "file:///"}) {
    Env::Default()->WriteFileAtomic(home + "/marquee.toml",
                                    std::string("artifacts = \"") + bad + "\"\n");
    try {
      ArtifactStore s(home, Env::Default());
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("artifacts ="), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace marquee
