// SqliteStore: schema and migrations, runs, version allocation under concurrency, alias
// compare-and-set, tags, integrity checks.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <set>
#include <thread>

#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/sqlite_store.h"
#include "store_backend_util.h"
#include "test_util.h"

namespace marquee {
namespace {

std::string Digest(int i) { return fmt::format("{:064x}", i); }

RunRecord NewRun(const std::string& model, int64_t t = 100) {
  RunRecord r;
  r.model_name = model;
  r.family = "ease";
  r.code_version = "marquee test";
  r.host = "test-host";
  r.pid = 1;
  r.started_at = t;
  r.params = {{"lambda", 10.0}};
  return r;
}

NewVersion NewVer(const std::string& model, int i, int64_t run_id = 0) {
  NewVersion v;
  v.model_name = model;
  v.artifact = Digest(i);
  v.run_id = run_id;
  v.family = "ease";
  v.protocol = "strong-generalization";
  v.protocol_key = "p";
  v.metrics = {{"recall@20", 0.1 * i}};
  v.metric_order = {"recall@20"};
  v.created_at = 100 + i;
  return v;
}

using Store = testing::StoreBackendTest;
MARQUEE_INSTANTIATE_BACKENDS(Store);

TEST(SqliteStore, CreatesSchemaOnFirstUseAndReopens) {
  testing::TempDir dir;
  {
    auto s = OpenMetadataStore(dir.file("home"), Env::Default());
    EXPECT_EQ(s->SchemaVersion(), kRegistrySchemaVersion);
    EXPECT_TRUE(s->ListModels().empty());
    EXPECT_TRUE(s->CheckIntegrity().empty());
  }
  EXPECT_TRUE(Env::Default()->FileExists(dir.file("home/registry.db")));
  auto s = OpenSqliteStore(dir.file("home/registry.db"));
  EXPECT_EQ(s->SchemaVersion(), kRegistrySchemaVersion);
}

TEST(SqliteStore, RefusesANewerSchema) {
  testing::TempDir dir;
  const std::string path = dir.file("registry.db");
  OpenSqliteStore(path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    OpenSqliteStore(path);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, GarbageFileIsCorruption) {
  testing::TempDir dir;
  const std::string path = dir.file("registry.db");
  Env::Default()->WriteFileAtomic(path, std::string(4096, 'x'));
  try {
    OpenSqliteStore(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
  }
}

// Issue #12: a home whose artifacts outlive its registry (registry.db missing, empty, or without
// a schema) is damaged, not new: opening is refused as corruption and writes nothing.
TEST(SqliteStore, LostRegistryIsRefusedWhenArtifactsExist) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  const std::string db = home + "/registry.db";
  Env* env = Env::Default();
  env->CreateDirs(home + "/artifacts");
  env->WriteFileAtomic(home + "/artifacts/" + Digest(7) + ".mqm", "model bytes");
  auto expect_refused = [&](const std::string& state) {
    try {
      OpenMetadataStore(home, env);
      ADD_FAILURE() << "expected a refusal (" << state << ")";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
      const std::string m = e.what();
      EXPECT_NE(m.find("is " + state), std::string::npos) << m;
      EXPECT_NE(m.find("holds 1 model artifact(s)"), std::string::npos) << m;
      EXPECT_NE(m.find("nothing was changed"), std::string::npos) << m;
    }
  };
  expect_refused("missing");
  EXPECT_FALSE(env->FileExists(db));  // not created
  env->WriteFileAtomic(db, "");
  expect_refused("an empty file");
  EXPECT_EQ(env->FileSize(db), 0u);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    sqlite3_exec(raw, "CREATE TABLE t (a); DROP TABLE t;", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
  }
  ASSERT_GT(env->FileSize(db), 0u);
  expect_refused("without a schema");
  // Through MARQUEE_REGISTRY_URL too: the home's artifacts still say a registry existed.
  setenv("MARQUEE_REGISTRY_URL", ("sqlite:" + dir.file("elsewhere.db")).c_str(), 1);
  try {
    OpenMetadataStore(home, env);
    ADD_FAILURE() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
  }
  unsetenv("MARQUEE_REGISTRY_URL");
  // A home without artifacts is new: the registry is created.
  auto fresh = OpenMetadataStore(dir.file("new-home"), env);
  EXPECT_EQ(fresh->SchemaVersion(), kRegistrySchemaVersion);
  // And a registry that exists opens with artifacts beside it.
  std::filesystem::remove(db);
  std::filesystem::rename(home + "/artifacts", dir.file("saved-artifacts"));
  OpenMetadataStore(home, env);
  std::filesystem::rename(dir.file("saved-artifacts"), home + "/artifacts");
  EXPECT_EQ(OpenMetadataStore(home, env)->SchemaVersion(), kRegistrySchemaVersion);
}

// Issue #12: opening a current registry and reading it writes nothing (so it works on a full
// disk), and closing leaves the -wal and -shm files for the next reader to map.
TEST(SqliteStore, OpeningAndReadingACurrentRegistryWritesNothing) {
  testing::TempDir dir;
  const std::string db = dir.file("registry.db");
  {
    auto s = OpenSqliteStore(db);
    s->CreateRun(NewRun("m"));
  }
  EXPECT_TRUE(std::filesystem::exists(db + "-shm"));
  EXPECT_TRUE(std::filesystem::exists(db + "-wal"));
  EXPECT_EQ(std::filesystem::file_size(db + "-wal"), 0u);  // checkpointed and truncated
  const std::string before = Env::Default()->ReadFile(db);
  const auto mtime = std::filesystem::last_write_time(db);
  {
    auto s = OpenSqliteStore(db);
    RunQuery q;
    EXPECT_EQ(s->ListRuns(q).size(), 1u);
    EXPECT_TRUE(s->ListModels().empty());
  }
  EXPECT_EQ(Env::Default()->ReadFile(db), before);
  EXPECT_EQ(std::filesystem::last_write_time(db), mtime);
  EXPECT_EQ(std::filesystem::file_size(db + "-wal"), 0u);
}

TEST_P(Store, RunLifecycleMetricsAndPaging) {
  auto s = Open();
  std::vector<int64_t> ids;
  for (int i = 0; i < 25; ++i) ids.push_back(s->CreateRun(NewRun(i % 2 ? "odd" : "even", i)));
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 25);

  RunRecord done = *s->GetRun(3);
  EXPECT_EQ(done.status, RunStatus::kRunning);
  done.status = RunStatus::kCompleted;
  done.ended_at = 200;
  done.metrics = {{"recall@20", 0.5}, {"ndcg@100", 0.25}};
  done.log = "report";
  s->FinishRun(done);
  RunRecord back = *s->GetRun(3);
  EXPECT_EQ(back.status, RunStatus::kCompleted);
  ASSERT_EQ(back.metrics.size(), 2u);
  EXPECT_EQ(back.metrics[0].first, "recall@20");  // config order kept
  EXPECT_EQ(back.metrics[1].first, "ndcg@100");
  EXPECT_DOUBLE_EQ(*back.metric("ndcg@100"), 0.25);
  EXPECT_EQ(back.log, "report");
  EXPECT_EQ(back.params["lambda"], 10.0);
  // Finishing twice is refused.
  try {
    s->FinishRun(done);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  }
  EXPECT_FALSE(s->GetRun(999).has_value());

  RunQuery q;
  q.limit = 10;
  auto page1 = s->ListRuns(q);
  ASSERT_EQ(page1.size(), 10u);
  EXPECT_EQ(page1.front().id, 25);
  q.before_id = page1.back().id;
  auto page2 = s->ListRuns(q);
  EXPECT_EQ(page2.front().id, 15);
  q = RunQuery{};
  q.model = "odd";
  q.limit = 0;
  EXPECT_EQ(s->ListRuns(q).size(), 12u);
  EXPECT_EQ(s->CountRuns(q), 12);
  q = RunQuery{};
  q.status = RunStatus::kCompleted;
  EXPECT_EQ(s->CountRuns(q), 1);
}

TEST_P(Store, VersionsAreConsecutivePerModel) {
  auto s = Open();
  EXPECT_EQ(s->RegisterVersion(NewVer("a", 1)).version, 1);
  EXPECT_EQ(s->RegisterVersion(NewVer("a", 2)).version, 2);
  EXPECT_EQ(s->RegisterVersion(NewVer("b", 3)).version, 1);
  auto m = s->GetModel("a");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->num_versions, 2);
  EXPECT_EQ(m->latest_version, 2);
  auto v = s->GetVersion("a", 2);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->artifact, Digest(2));
  EXPECT_DOUBLE_EQ(*v->metric("recall@20"), 0.2);
  EXPECT_EQ(s->ListVersions("a").size(), 2u);
  EXPECT_EQ(s->ListModels().size(), 2u);
  EXPECT_TRUE(s->ReferencedArtifacts().count(Digest(3)));
}

TEST_P(Store, ConcurrentRegistrationsGetDistinctVersions) {
  Open();
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto s = Open();  // one connection each, as separate processes would
      for (int i = 0; i < kEach; ++i) {
        int64_t run = s->CreateRun(NewRun("m"));
        got[t].push_back(s->RegisterVersion(NewVer("m", t * 100 + i, run)).version);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);
}

TEST_P(Store, AliasMovesAreCompareAndSetWithHistory) {
  auto s = Open();
  s->RegisterVersion(NewVer("m", 1));
  s->RegisterVersion(NewVer("m", 2));
  AliasMove mv;
  mv.alias = "production";
  mv.from_version = 0;
  mv.to_version = 1;
  mv.action = "promote";
  mv.at = 10;
  s->MoveAlias("m", mv);
  EXPECT_EQ(s->GetAlias("m", "production"), 1);
  // A stale expectation (someone else moved it) is refused and changes nothing.
  mv.from_version = 0;
  mv.to_version = 2;
  try {
    s->MoveAlias("m", mv);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("moved meanwhile"), std::string::npos);
  }
  EXPECT_EQ(s->GetAlias("m", "production"), 1);
  mv.from_version = 1;
  s->MoveAlias("m", mv);
  EXPECT_EQ(s->GetAlias("m", "production"), 2);
  // A missing version: kNotFound; the alias stays.
  mv.from_version = 2;
  mv.to_version = 7;
  try {
    s->MoveAlias("m", mv);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
  auto h = s->AliasHistory("m", "production");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].from_version, 0);
  EXPECT_EQ(h[1].from_version, 1);
  EXPECT_EQ(h[1].to_version, 2);
  EXPECT_EQ(s->ListAliases("m").size(), 1u);
  EXPECT_TRUE(s->CheckIntegrity().empty());
}

TEST_P(Store, TagsOnModelsAndVersions) {
  auto s = Open();
  s->RegisterVersion(NewVer("m", 1));
  s->SetTag("m", 0, "team", "recs");
  s->SetTag("m", 1, "reviewed", "no");
  s->SetTag("m", 1, "reviewed", "yes");
  EXPECT_EQ(s->GetTags("m", 0).at("team"), "recs");
  EXPECT_EQ(s->GetTags("m", 1).at("reviewed"), "yes");
  EXPECT_TRUE(s->RemoveTag("m", 1, "reviewed"));
  EXPECT_FALSE(s->RemoveTag("m", 1, "reviewed"));
  EXPECT_THROW(s->SetTag("m", 5, "k", "v"), Error);
  EXPECT_THROW(s->SetTag("nope", 0, "k", "v"), Error);
}

TEST_P(Store, AtomicallyRollsBackEverything) {
  auto s = Open();
  EXPECT_THROW(s->Atomically([&] {
    s->RegisterVersion(NewVer("m", 1));
    s->CreateRun(NewRun("m"));
    Fail(ErrorCode::kIOError, "boom");
  }),
               Error);
  EXPECT_TRUE(s->ListModels().empty());
  EXPECT_EQ(s->CountRuns(RunQuery{}), 0);
}

TEST_P(Store, IntegrityFindsCompletedRunsWithoutVersions) {
  auto s = Open();
  RunRecord r = NewRun("m");
  r.id = s->CreateRun(r);
  r.status = RunStatus::kCompleted;
  r.ended_at = 200;
  r.artifact = Digest(1);
  s->FinishRun(r);  // completed, but no version registered: a half-done change
  auto problems = s->CheckIntegrity();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("completed run without its version"), std::string::npos);
}

}  // namespace
}  // namespace marquee
