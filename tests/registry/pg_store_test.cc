// Backends chosen by URL (registry/backend_url.h) and what only the PostgreSQL store has: the
// server unreachable and back, a schema newer than the binary, alias-move notifications, and
// `marquee train` processes registering at once against one database.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/backend_url.h"
#include "registry/pg_store.h"
#include "registry_test_util.h"
#include "store_backend_util.h"

namespace marquee {
namespace {

using testing::PostgresServer;

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The code of the Error `fn` throws; kInternal (with a test failure) when it throws none.
ErrorCode CodeOf(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return ErrorCode::kInternal;
}

NewVersion Ver(const std::string& model, char fill) {
  NewVersion v;
  v.model_name = model;
  v.artifact = std::string(64, fill);
  v.family = "ease";
  v.created_at = 1;
  return v;
}

TEST(BackendUrl, ParsesSqliteAndPostgresAndNeverPrintsThePassword) {
  EXPECT_EQ(ParseRegistryUrl("sqlite:///abs/r.db").sqlite_path, "/abs/r.db");
  EXPECT_EQ(ParseRegistryUrl("sqlite:rel/r.db").sqlite_path, "rel/r.db");
  const RegistryUrl u =
      ParseRegistryUrl("postgresql://ann:s3cret@db.example:6543/reg?sslmode=require");
  ASSERT_EQ(u.scheme, RegistryUrl::Scheme::kPostgres);
  EXPECT_EQ(u.postgres.user, "ann");
  EXPECT_EQ(u.postgres.password, "s3cret");
  EXPECT_EQ(u.postgres.host, "db.example");
  EXPECT_EQ(u.postgres.port, 6543);
  EXPECT_EQ(u.postgres.dbname, "reg");
  EXPECT_EQ(u.Redacted(), "postgresql://ann@db.example:6543/reg?sslmode=require");
  EXPECT_NE(u.postgres.ConnectionString().find("ann:s3cret@"), std::string::npos);
  EXPECT_NE(u.postgres.ConnectionString().find("connect_timeout=5"), std::string::npos);
  EXPECT_EQ(ParseRegistryUrl("postgres://h/d").postgres.port, 5432);
  for (const char* bad : {"mysql://h/d", "sqlite://relative.db", "sqlite:", "postgresql://h",
                          "postgresql://h:99999/d", "postgresql://u:pw@h:x/d", "postgresql:///d"}) {
    std::string m;
    EXPECT_EQ(CodeOf([&] { ParseRegistryUrl(bad); }, &m), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(m.find("pw@"), std::string::npos) << m;
  }
}

TEST(BackendUrl, ConfigFileThenEnvironmentChooseTheRegistry) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string home = dir.file("home");
  env->CreateDirs(home);
  EXPECT_EQ(ResolveBackends(home, env).registry, "");
  EXPECT_EQ(ResolveBackends(home, env).registry_from, "default");
  env->WriteFileAtomic(home + "/marquee.toml",
                       "registry = \"sqlite://" + dir.file("from-toml.db") +
                           "\"\nstate = \"rocksdb:///x\"\nartifacts = \"file:///y\"\n");
  BackendConfig c = ResolveBackends(home, env);
  EXPECT_EQ(c.registry, "sqlite://" + dir.file("from-toml.db"));
  EXPECT_EQ(c.state, "rocksdb:///x");
  EXPECT_EQ(c.config_file, home + "/marquee.toml");
  EXPECT_NE(OpenMetadataStore(home, env)->Describe().find("from-toml.db"), std::string::npos);
  {
    ScopedEnv flag("MARQUEE_REGISTRY", "sqlite:" + dir.file("from-flag.db"));
    EXPECT_NE(OpenMetadataStore(home, env)->Describe().find("from-flag.db"), std::string::npos);
    EXPECT_EQ(ResolveBackends(home, env).registry_from, "$MARQUEE_REGISTRY");
  }
  // --config names another file; one that is missing is refused.
  env->WriteFileAtomic(dir.file("other.toml"), "registry = \"sqlite:" + dir.file("o.db") + "\"\n");
  {
    ScopedEnv file("MARQUEE_CONFIG", dir.file("other.toml"));
    EXPECT_EQ(ResolveBackends(home, env).registry, "sqlite:" + dir.file("o.db"));
  }
  {
    ScopedEnv file("MARQUEE_CONFIG", dir.file("missing.toml"));
    EXPECT_EQ(CodeOf([&] { ResolveBackends(home, env); }), ErrorCode::kNotFound);
  }
  auto refused = [&](const std::string& text, ErrorCode code, const std::string& says) {
    env->WriteFileAtomic(home + "/marquee.toml", text);
    std::string m;
    EXPECT_EQ(CodeOf([&] { OpenMetadataStore(home, env); }, &m), code) << text << m;
    EXPECT_NE(m.find(says), std::string::npos) << m;
  };
  refused("registry = \"oracle://x/y\"\n", ErrorCode::kInvalidArgument, "unknown scheme");
  refused("state = \"redis://127.0.0.1:6379/x\"\n", ErrorCode::kInvalidArgument, "database");
  refused("state = \"etcd://x\"\n", ErrorCode::kInvalidArgument, "state");
  refused("artifacts = \"s3://bucket\"\n", ErrorCode::kInvalidArgument, "artifacts");
  refused("regsitry = \"sqlite:x\"\n", ErrorCode::kInvalidArgument, "unknown key 'regsitry'");
  refused("registry = 3\n", ErrorCode::kInvalidArgument, "non-empty string");
  refused("registry = \n", ErrorCode::kInvalidArgument, "marquee.toml");
}

// marquee.toml's [serve] table (how `marquee serve` retrieves a factor model's best items):
// defaults when absent, every key read, and bad keys, kinds, types and ranges refused by name.
TEST(BackendUrl, ServeTableChoosesTheRetrievalIndex) {
  const RetrievalSpec none = ParseBackendsToml("", "t.toml").retrieval;
  EXPECT_EQ(none.index, "exact");
  EXPECT_EQ(none.hnsw_ef_search, 200u);
  EXPECT_EQ(none.hnsw_quantization, "sq8");
  const RetrievalSpec r = ParseBackendsToml(
                              "[serve]\nindex = \"hnsw\"\nhnsw_m = 24\nhnsw_ef_construction = 150\n"
                              "hnsw_ef_search = 300\nindex_threads = 1\n"
                              "hnsw_quantization = \"none\"\n",
                              "t.toml")
                              .retrieval;
  EXPECT_EQ(r.index, "hnsw");
  EXPECT_EQ(r.hnsw_m, 24u);
  EXPECT_EQ(r.hnsw_ef_construction, 150u);
  EXPECT_EQ(r.hnsw_ef_search, 300u);
  EXPECT_EQ(r.threads, 1);
  EXPECT_EQ(r.hnsw_quantization, "none");
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"[serve]\nindex = \"ivf\"\n", "ivf"},
           {"[serve]\nhnsw_m = 1\n", "hnsw_m"},
           {"[serve]\nhnsw_ef_search = \"many\"\n", "hnsw_ef_search"},
           {"[serve]\nsurprise = true\n", "surprise"},
           {"[serve]\nhnsw_quantization = \"pq\"\n",
            "hnsw_quantization must be \"none\" or \"sq8\""},
           {"[serve]\nevent_sync = \"never\"\n", "event_sync must be \"fsync\" or \"write\""},
           {"[serve]\nevent_sync = true\n", "event_sync"},
           {"[serve]\ncommit_gap_us = -1\n", "commit_gap_us must be an integer in [0, 1000000]"},
           {"[serve]\ncommit_gap_us = 2.5\n", "commit_gap_us"}}) {
    std::string m;
    EXPECT_EQ(CodeOf([&] { ParseBackendsToml(text, "t.toml"); }, &m), ErrorCode::kInvalidArgument)
        << text;
    EXPECT_NE(m.find(says), std::string::npos) << m;
  }
}

// [serve] event_sync: when POST /v1/events is acknowledged; fsync unless the file says write.
TEST(BackendUrl, ServeTableEventSync) {
  EXPECT_EQ(ParseBackendsToml("", "t.toml").event_sync, "fsync");
  EXPECT_EQ(ParseBackendsToml("[serve]\nevent_sync = \"fsync\"\n", "t.toml").event_sync, "fsync");
  const BackendConfig c =
      ParseBackendsToml("[serve]\nevent_sync = \"write\"\nindex = \"hnsw\"\n", "t.toml");
  EXPECT_EQ(c.event_sync, "write");
  EXPECT_EQ(c.retrieval.index, "hnsw");
  EXPECT_EQ(c.commit_gap_us, 2000) << "the default";
  EXPECT_EQ(ParseBackendsToml("[serve]\ncommit_gap_us = 0\n", "t.toml").commit_gap_us, 0);
  EXPECT_EQ(ParseBackendsToml("[serve]\ncommit_gap_us = 500\n", "t.toml").commit_gap_us, 500);
}

TEST(PgStore, UnreachableServerIsUnavailableAndNamesTheUrlWithoutPassword) {
  if (!PgStoreAvailable()) GTEST_SKIP() << "built without libpqxx";
  // A port nothing listens on: bound, then closed.
  std::string m;
  const auto code = CodeOf(
      [&] { OpenPgStore(ParseRegistryUrl("postgresql://ann:pw123@127.0.0.1:9/reg").postgres); },
      &m);
  EXPECT_EQ(code, ErrorCode::kUnavailable) << m;
  EXPECT_NE(m.find("postgresql://ann@127.0.0.1:9/reg"), std::string::npos) << m;
  EXPECT_EQ(m.find("pw123"), std::string::npos) << m;
}

TEST(PgStore, ThroughARegistryUrlAndARefusedNewerSchema) {
  MARQUEE_REQUIRE_POSTGRES(server);
  const std::string url = server->CreateDatabase();
  testing::TempDir dir;
  {
    ScopedEnv flag("MARQUEE_REGISTRY", url);
    auto s = OpenMetadataStore(dir.path(), Env::Default());
    EXPECT_EQ(s->Describe(), url);
    EXPECT_EQ(s->SchemaVersion(), kRegistrySchemaVersion);
    s->RegisterVersion(Ver("m", 'a'));
  }
  const std::string db = url.substr(url.rfind('/') + 1);
  ASSERT_TRUE(server->Sql("INSERT INTO schema_migrations VALUES (99, 0, 'from the future')", db));
  std::string m;
  EXPECT_EQ(CodeOf([&] { OpenPgStore(ParseRegistryUrl(url).postgres); }, &m),
            ErrorCode::kFailedPrecondition);
  EXPECT_NE(m.find("schema version 99"), std::string::npos) << m;
}

// "PostgreSQL stopped: registry commands fail with a clear error, and everything resumes when it
// returns": the same store object, across a stop and a start of the server.
TEST(PgStore, ServerStoppedFailsClearlyThenResumesWhenItReturnsSlow) {
  MARQUEE_REQUIRE_POSTGRES(server);
  const std::string url = server->CreateDatabase();
  auto s = OpenPgStore(ParseRegistryUrl(url).postgres);
  s->RegisterVersion(Ver("m", 'a'));
  server->Stop();
  std::string m;
  EXPECT_EQ(CodeOf([&] { s->ListModels(); }, &m), ErrorCode::kUnavailable) << m;
  EXPECT_NE(m.find(url), std::string::npos) << m;
  EXPECT_EQ(CodeOf([&] { s->RegisterVersion(Ver("m", 'b')); }), ErrorCode::kUnavailable);
  ASSERT_TRUE(server->Start());
  EXPECT_EQ(s->ListModels().size(), 1u);  // the first call after the restart works
  EXPECT_EQ(s->RegisterVersion(Ver("m", 'c')).version, 2);
  EXPECT_EQ(s->ListVersions("m").size(), 2u);
}

constexpr auto kNone = MetadataStore::AliasChange::kNone;
constexpr auto kMoved = MetadataStore::AliasChange::kMoved;
constexpr auto kUnknown = MetadataStore::AliasChange::kUnknown;

// A connection that sat idle in the pool while the server restarted looks open until its first
// round trip: the first call after a restart must not fail on it (replicas do nothing with the
// registry between a restart and the next alias move, and a failed read there left them on the
// old version until the next timed poll).
TEST(PgStore, AConnectionIdleAcrossARestartIsReplacedNotAnErrorSlow) {
  MARQUEE_REQUIRE_POSTGRES(server);
  const std::string url = server->CreateDatabase();
  auto s = OpenPgStore(ParseRegistryUrl(url).postgres);
  s->RegisterVersion(Ver("m", 'a'));
  EXPECT_EQ(s->ListModels().size(), 1u);  // leaves connections idle in the pool
  server->Stop();
  ASSERT_TRUE(server->Start());  // nothing used the store while the server was away
  EXPECT_EQ(s->ListModels().size(), 1u);
  EXPECT_EQ(s->RegisterVersion(Ver("m", 'b')).version, 2);
  s->MoveAlias("m", AliasMove{0, "production", 0, 2, "promote", "", 5});
  EXPECT_EQ(s->GetAlias("m", "production"), 2);
}

// After the server restarts, the waiter listens again: a move made once it is settled wakes it
// within a second, whether or not it was waiting while the server was down.
TEST(PgStore, AliasMovesWakeAWaiterAfterTheServerRestartsSlow) {
  MARQUEE_REQUIRE_POSTGRES(server);
  const std::string url = server->CreateDatabase();
  auto watcher = OpenPgStore(ParseRegistryUrl(url).postgres);
  auto writer = OpenPgStore(ParseRegistryUrl(url).postgres);
  writer->RegisterVersion(Ver("m", 'a'));
  writer->RegisterVersion(Ver("m", 'b'));
  EXPECT_EQ(watcher->WaitForAliasChange(0), kMoved);
  EXPECT_EQ(watcher->WaitForAliasChange(100), kNone);
  for (const bool waiting_while_down : {false, true}) {
    SCOPED_TRACE(waiting_while_down ? "waiting while down" : "idle while down");
    server->Stop();
    if (waiting_while_down) {
      EXPECT_EQ(watcher->WaitForAliasChange(200), kUnknown);  // cannot tell
    }
    ASSERT_TRUE(server->Start());
    // Settles: kMoved (a reconnect: read again) or kUnknown until it listens, nothing moved.
    bool settled = false;
    for (int i = 0; i < 20 && !settled; ++i) settled = watcher->WaitForAliasChange(200) == kNone;
    ASSERT_TRUE(settled);
    const int64_t from = waiting_while_down ? 2 : 0;
    const int64_t to = waiting_while_down ? 1 : 2;
    const auto start = std::chrono::steady_clock::now();
    std::thread mover([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      writer->MoveAlias("m", AliasMove{0, "production", from, to, "promote", "", 5});
    });
    EXPECT_EQ(watcher->WaitForAliasChange(5000), kMoved);
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    mover.join();
    EXPECT_LT(waited, 1.0);
    EXPECT_EQ(watcher->GetAlias("m", "production"), to);
  }
}

// Serving learns of an alias move by another process well within a second.
TEST(PgStore, AliasMovesWakeAWaiterWithinASecondSlow) {
  MARQUEE_REQUIRE_POSTGRES(server);
  const std::string url = server->CreateDatabase();
  auto watcher = OpenPgStore(ParseRegistryUrl(url).postgres);
  auto writer = OpenPgStore(ParseRegistryUrl(url).postgres);
  writer->RegisterVersion(Ver("m", 'a'));
  EXPECT_EQ(watcher->WaitForAliasChange(0), kMoved);   // the first call subscribes: read everything
  EXPECT_EQ(watcher->WaitForAliasChange(100), kNone);  // nothing moved
  const auto start = std::chrono::steady_clock::now();
  std::thread mover([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    writer->MoveAlias("m", AliasMove{0, "production", 0, 1, "promote", "", 5});
  });
  EXPECT_EQ(watcher->WaitForAliasChange(5000), kMoved);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  mover.join();
  EXPECT_LT(waited, 1.0);
  EXPECT_GE(waited, 0.15);
  EXPECT_EQ(watcher->GetAlias("m", "production"), 1);
  // A refused (rolled back) move notifies nobody.
  EXPECT_THROW(writer->MoveAlias("m", AliasMove{0, "production", 0, 1, "promote", "", 6}), Error);
  EXPECT_EQ(watcher->WaitForAliasChange(200), kNone);
}

TEST(SqliteStore, WaitForAliasChangePollsAfterTheTimeout) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.file("r.db"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s->WaitForAliasChange(50), MetadataStore::AliasChange::kUnknown);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
}

// Issue #16: two `marquee train` processes registering at once against PostgreSQL, 20 times:
// the versions are unique and consecutive.
TEST(PgStoreCli, TwoTrainProcessesAtOnceTwentyTimesSlow) {
  MARQUEE_REQUIRE_POSTGRES(server);
  testing::TempDir dir;
  testing::MakePlays(dir);
  const std::string config = testing::MakeConfig(dir, "recs.toml", "recs");
  const std::string url = server->CreateDatabase();
  const std::string home = dir.file("home");
  for (int round = 0; round < 20; ++round) {
    pid_t a = testing::SpawnCli(
        {"--home", home, "--registry", url, "-q", "train", config, "--json"}, dir.file("a.log"));
    pid_t b = testing::SpawnCli({"--home", home, "--registry", url, "-q", "train", config, "--json",
                                 "--set", "model.lambda=7"},
                                dir.file("b.log"));
    ASSERT_GT(a, 0);
    ASSERT_GT(b, 0);
    ASSERT_EQ(testing::WaitChild(a), 0) << testing::Slurp(dir.file("a.log"));
    ASSERT_EQ(testing::WaitChild(b), 0) << testing::Slurp(dir.file("b.log"));
    std::set<int64_t> versions;
    for (const char* log : {"a.log", "b.log"}) {
      versions.insert(
          nlohmann::json::parse(testing::Slurp(dir.file(log)))["version"].get<int64_t>());
    }
    EXPECT_EQ(versions, (std::set<int64_t>{2 * round + 1, 2 * round + 2})) << "round " << round;
  }
  auto s = OpenPgStore(ParseRegistryUrl(url).postgres);
  const std::vector<VersionRecord> all = s->ListVersions("recs");
  ASSERT_EQ(all.size(), 40u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].version, static_cast<int64_t>(i + 1));
  EXPECT_TRUE(s->CheckIntegrity().empty());
  EXPECT_FALSE(Env::Default()->FileExists(home + "/registry.db"));  // nothing went to SQLite
}

}  // namespace
}  // namespace marquee
