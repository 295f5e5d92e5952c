// Experiment definitions, assignment (stability, weights, independence), the registry lifecycle
// (stop/start semantics), the exposure log and attribution windows.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "events/redis_test_util.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "experiments/exposure_log.h"
#include "experiments/stats.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

const char* kIssueToml = R"(
[experiment]
name = "recs-ease-vs-ials"
salt = "2026-11"
[[cell]]
name = "control"
model = "title-recs@production"
weight = 0.5
[[cell]]
name = "treatment"
model = "title-recs/4"
weight = 0.5
)";

// Expects kInvalidArgument whose message contains every needle.
void ExpectInvalid(const std::string& toml, std::initializer_list<std::string> needles) {
  try {
    ParseExperimentToml(toml, "exp.toml");
    ADD_FAILURE() << "accepted: " << toml;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << e.what() << "' lacks '" << n << "'";
    }
  }
}

TEST(ExperimentDefinition, ParsesTheIssueExample) {
  ExperimentSpec s = ParseExperimentToml(kIssueToml, "exp.toml");
  EXPECT_EQ(s.name, "recs-ease-vs-ials");
  EXPECT_EQ(s.salt, "2026-11");
  EXPECT_EQ(s.mode, Mode::kAB);
  ASSERT_EQ(s.cells.size(), 2u);
  EXPECT_EQ(s.cells[0].model, "title-recs@production");
  EXPECT_EQ(s.cells[1].model, "title-recs/4");
  EXPECT_DOUBLE_EQ(s.cells[0].weight, 0.5);
  EXPECT_EQ(s.attribution_window, 86400);
  ExperimentSpec back = ExperimentSpec::FromJson(s.ToJson());
  EXPECT_EQ(back.ToJson(), s.ToJson());
}

TEST(ExperimentDefinition, WeightsAreNormalisedAndOptional) {
  std::string t = R"([experiment]
name = "x"
salt = "s"
attribution_window = "2h"
event_types = ["play"]
[[cell]]
name = "a"
model = "m/1"
weight = 1
[[cell]]
name = "b"
model = "m/2"
weight = 3
)";
  ExperimentSpec s = ParseExperimentToml(t, "x.toml");
  EXPECT_DOUBLE_EQ(s.cells[0].weight, 0.25);
  EXPECT_DOUBLE_EQ(s.cells[1].weight, 0.75);
  EXPECT_EQ(s.attribution_window, 7200);
  EXPECT_TRUE(s.CountsAsPlay("play", 1));
  EXPECT_FALSE(s.CountsAsPlay("click", 1));
  EXPECT_FALSE(s.CountsAsPlay("play", 0));
  std::string equal = R"([experiment]
name = "x"
salt = "s"
[[cell]]
name = "a"
model = "m/1"
[[cell]]
name = "b"
model = "m/2"
[[cell]]
name = "c"
model = "m/3"
)";
  ExperimentSpec e = ParseExperimentToml(equal, "x.toml");
  for (const auto& c : e.cells) EXPECT_DOUBLE_EQ(c.weight, 1.0 / 3);
}

TEST(ExperimentDefinition, ErrorsNameTheFileKeyAndProblem) {
  const std::string head = "[experiment]\nname = \"x\"\nsalt = \"s\"\n";
  const std::string a = "[[cell]]\nname = \"a\"\nmodel = \"m/1\"\n";
  const std::string b = "[[cell]]\nname = \"b\"\nmodel = \"m/2\"\n";
  ExpectInvalid(head + a, {"exp.toml", "at least two"});
  ExpectInvalid(head + a + a, {"exp.toml", "cell[1].name", "'a'"});
  ExpectInvalid(head + a + "[[cell]]\nname = \"b\"\nmodel = \"m/2\"\nweight = -1\n",
                {"cell[1].weight", "positive"});
  ExpectInvalid(head + a + "[[cell]]\nname = \"b\"\nmodel = \"m/2\"\nweight = 1\n",
                {"every cell a weight"});
  ExpectInvalid(head + a + "[[cell]]\nname = \"b\"\nmodel = \"bad ref!\"\n", {"cell[1].model"});
  ExpectInvalid(head + "colour = 1\n" + a + b, {"experiment", "unknown key 'colour'"});
  ExpectInvalid("[experiment]\nname = \"x\"\n" + a + b, {"experiment.salt", "missing"});
  ExpectInvalid(head + "mode = \"bandit\"\n" + a + b, {"experiment.mode", "bandit"});
  ExpectInvalid(
      head + "mode = \"interleave\"\n" + a + b + "[[cell]]\nname = \"c\"\nmodel = \"m/3\"\n",
      {"exactly two cells"});
  ExpectInvalid(head + "attribution_window = \"3 weeks\"\n" + a + b,
                {"experiment.attribution_window", "3 weeks"});
  ExpectInvalid("[experiment\nname=", {"exp.toml:"});
  EXPECT_EQ(ParseDuration("90s", "w"), 90);
  EXPECT_EQ(ParseDuration("30m", "w"), 1800);
  EXPECT_EQ(ParseDuration("7d", "w"), 7 * 86400);
  EXPECT_EQ(ParseDuration("3600", "w"), 3600);
  EXPECT_THROW(ParseDuration("0", "w"), Error);
  EXPECT_THROW(ParseDuration("-5s", "w"), Error);
}

ExperimentSpec TwoCells(const std::string& name, const std::string& salt, double wa = 0.5) {
  ExperimentSpec s;
  s.name = name;
  s.salt = salt;
  s.cells = {{"control", "m/1", wa}, {"treatment", "m/2", 1 - wa}};
  return s;
}

TEST(ExperimentAssignment, IsStableAcrossCallsAndProcesses) {
  ExperimentSpec s = TwoCells("recs-ease-vs-ials", "2026-11");
  // Same member, same cell on every call (across processes: PinnedPointsDoNotChangeBetweenBuilds
  // and the HTTP test that restarts the server).
  std::vector<size_t> first;
  for (int u = 0; u < 1000; ++u) first.push_back(AssignCell(s, "user" + std::to_string(u)));
  for (int u = 0; u < 1000; ++u) EXPECT_EQ(AssignCell(s, "user" + std::to_string(u)), first[u]);
  // A different salt reshuffles.
  ExperimentSpec t = TwoCells("recs-ease-vs-ials", "2026-12");
  int same = 0;
  for (int u = 0; u < 1000; ++u) same += AssignCell(t, "user" + std::to_string(u)) == first[u];
  EXPECT_GT(same, 400);
  EXPECT_LT(same, 600);
}

TEST(ExperimentAssignment, PinnedPointsDoNotChangeBetweenBuilds) {
  // XXH64 is a specified hash: XXH64("exp\0salt\0user-42", seed 0) = 9942024960366720577
  // (one-shot XXH64 of libxxhash), whose top 53 bits / 2^53 = 0.53895825304673539. A change
  // here would move members between cells after an upgrade.
  EXPECT_DOUBLE_EQ(AssignmentPoint("exp", "salt", "user-42"), 0.53895825304673539);
  EXPECT_DOUBLE_EQ(AssignmentPoint("exp", "salt", "user-42"),
                   static_cast<double>(uint64_t{9942024960366720577ULL} >> 11) * 0x1.0p-53);
}

TEST(ExperimentAssignment, WeightsAreRespectedWithinSamplingError) {
  ExperimentSpec s;
  s.name = "w";
  s.salt = "s";
  s.cells = {{"a", "m/1", 0.2}, {"b", "m/2", 0.3}, {"c", "m/3", 0.5}};
  const int n = 100000;
  std::vector<int> counts(3, 0);
  for (int u = 0; u < n; ++u) ++counts[AssignCell(s, "member-" + std::to_string(u))];
  for (size_t c = 0; c < 3; ++c) {
    const double p = s.cells[c].weight;
    const double sd = std::sqrt(n * p * (1 - p));
    EXPECT_LT(std::abs(counts[c] - n * p), 5 * sd) << "cell " << c << ": " << counts[c];
  }
}

TEST(ExperimentAssignment, TwoExperimentsAreIndependent) {
  ExperimentSpec a = TwoCells("exp-a", "2026-11");
  ExperimentSpec b = TwoCells("exp-b", "2026-11");  // same salt, different experiment
  const int n = 100000;
  double table[2][2] = {{0, 0}, {0, 0}};
  for (int u = 0; u < n; ++u) {
    const std::string user = "m" + std::to_string(u);
    table[AssignCell(a, user)][AssignCell(b, user)] += 1;
  }
  double chi2 = 0;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) {
      const double row = table[i][0] + table[i][1], col = table[0][j] + table[1][j];
      const double expected = row * col / n;
      chi2 += (table[i][j] - expected) * (table[i][j] - expected) / expected;
    }
  }
  const double p = ChiSquareSurvival(chi2, 1);
  EXPECT_GT(p, 0.001) << "chi2 " << chi2;
  // Sanity: the same experiment twice is perfectly dependent (the test can fail).
  double same = 0;
  for (int u = 0; u < 1000; ++u) {
    const std::string user = "m" + std::to_string(u);
    same += AssignCell(a, user) == AssignCell(a, user);
  }
  EXPECT_EQ(same, 1000);
}

class ExperimentLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    Registry reg(home_);
    for (int v = 0; v < 2; ++v) {
      NewVersion nv;
      nv.model_name = "title-recs";
      nv.artifact = std::string(64, static_cast<char>('a' + v));
      nv.family = "ease";
      nv.created_at = 1;
      reg.store().RegisterVersion(nv);
    }
  }
  marquee::testing::TempDir dir_;
  std::string home_;
};

TEST_F(ExperimentLifecycle, StartStopRestartKeepsHistoryAndAssignment) {
  Registry reg(home_);
  std::string toml = std::string(kIssueToml);
  toml.replace(toml.find("title-recs@production"), 21, "title-recs/1");
  toml.replace(toml.find("title-recs/4"), 12, "title-recs/2");
  ExperimentSpec spec = ParseExperimentToml(toml, "exp.toml");
  Experiment e = CreateExperiment(reg, spec, toml, 1000);
  EXPECT_EQ(e.record.state, ExperimentState::kDraft);
  EXPECT_EQ(e.record.first_started_at, 0);
  try {
    CreateExperiment(reg, spec, toml, 1001);
    ADD_FAILURE() << "duplicate name accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kAlreadyExists);
  }
  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& err) {
      return err.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of([&] { StopExperiment(reg.store(), spec.name, 1001); }),
            ErrorCode::kFailedPrecondition);  // a draft cannot stop
  std::vector<size_t> before;
  for (int u = 0; u < 100; ++u) before.push_back(AssignCell(e.spec, std::to_string(u)));

  Experiment started = StartExperiment(reg.store(), spec.name, 2000);
  EXPECT_EQ(started.record.state, ExperimentState::kRunning);
  EXPECT_EQ(started.record.first_started_at, 2000);
  EXPECT_EQ(code_of([&] { StartExperiment(reg.store(), spec.name, 2001); }),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(StopExperiment(reg.store(), spec.name, 3000).record.state, ExperimentState::kStopped);
  Experiment again = StartExperiment(reg.store(), spec.name, 4000);
  EXPECT_EQ(again.record.state, ExperimentState::kRunning);
  EXPECT_EQ(again.record.first_started_at, 2000);  // the pre-period ends at the first start
  EXPECT_EQ(again.record.updated_at, 4000);
  for (int u = 0; u < 100; ++u) EXPECT_EQ(AssignCell(again.spec, std::to_string(u)), before[u]);

  auto history = reg.store().ExperimentHistory(spec.name);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].action, "start");
  EXPECT_EQ(history[1].action, "stop");
  EXPECT_EQ(history[2].action, "start");
  EXPECT_EQ(history[2].from, ExperimentState::kStopped);
  EXPECT_EQ(history[2].at, 4000);
  EXPECT_EQ(code_of([&] { GetExperiment(reg.store(), "nope"); }), ErrorCode::kNotFound);
  EXPECT_EQ(ListExperiments(reg.store()).size(), 1u);
}

TEST_F(ExperimentLifecycle, CreateRefusesCellsWhoseModelDoesNotResolve) {
  Registry reg(home_);
  ExperimentSpec spec = ParseExperimentToml(kIssueToml, "exp.toml");  // @production is unset
  try {
    CreateExperiment(reg, spec, kIssueToml, 1);
    ADD_FAILURE() << "accepted an unresolvable model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("title-recs@production"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(ListExperiments(reg.store()).empty());
}

// The exposure log's tests on both stores: "rocksdb" (a directory) and "redis" (the test
// process's Redis, events/redis_test_util.h, flushed first).
class ExposureStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") MARQUEE_SKIP_WITHOUT_REDIS(marquee::testing::RedisServer::Fresh());
  }
  std::unique_ptr<ExposureLog> Open(ExposureLogOptions o = {}) {
    if (GetParam() == "redis") o.redis = marquee::testing::RedisServer::Get()->ParsedUrl();
    return ExposureLog::Open(dir_.file("exposures"), o);
  }
  marquee::testing::TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ExposureStoreTest, ::testing::Values("rocksdb", "redis"),
                         [](const auto& info) { return info.param; });

TEST_P(ExposureStoreTest, RecordsDurablyMarksFirstExposuresAndSurvivesReopen) {
  {
    auto log = Open();
    for (int i = 0; i < 3; ++i) {
      Exposure e;
      e.experiment = "exp";
      e.cell = "control";
      e.user = i < 2 ? "alice" : "bob";
      e.ts = 100 + i;
      e.items = {"i1", "i2"};
      EXPECT_TRUE(log->Record(e));
    }
    Exposure other;
    other.experiment = "exp2";  // another experiment: alice's first exposure there too
    other.cell = "a";
    other.user = "alice";
    other.ts = 50;
    other.items = {"x"};
    other.rankers = {1};
    log->Record(other);
    log->Flush();
    std::vector<Exposure> seen;
    log->ForEach("exp", [&](const Exposure& e) {
      seen.push_back(e);
      return true;
    });
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_TRUE(seen[0].first);   // alice
    EXPECT_FALSE(seen[1].first);  // alice again
    EXPECT_TRUE(seen[2].first);   // bob
    EXPECT_EQ(seen[0].items, (std::vector<std::string>{"i1", "i2"}));
    EXPECT_TRUE(seen[0].rankers.empty());
  }
  auto log = Open();  // a restart: alice is not new any more
  Exposure e;
  e.experiment = "exp";
  e.cell = "control";
  e.user = "alice";
  e.ts = 200;
  log->Record(e);
  log->Flush();
  int n = 0, firsts = 0;
  log->ForEach("exp", [&](const Exposure& x) {
    ++n;
    firsts += x.first;
    return true;
  });
  EXPECT_EQ(n, 4);
  EXPECT_EQ(firsts, 2);
  std::vector<Exposure> two;
  log->ForEach("exp2", [&](const Exposure& x) {
    two.push_back(x);
    return true;
  });
  ASSERT_EQ(two.size(), 1u);
  EXPECT_TRUE(two[0].first);
  EXPECT_EQ(two[0].rankers, (std::vector<uint8_t>{1}));
}

TEST_P(ExposureStoreTest, AServingExposureKeepsItsCatalogueAliveUntilItIsWritten) {
  // The serving path records indices into a model's catalogue; the model version may be swapped
  // out (its last outside reference dropped) before the flush. The log's pin keeps it alive
  // (under ASan a missing pin is a use-after-free here).
  ExposureLogOptions o;
  o.flush_interval = std::chrono::milliseconds(60000);
  auto log = Open(o);
  auto spec = std::make_shared<ExperimentSpec>(TwoCells("exp", "s"));
  auto catalogue = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"item-a", "item-b", "item-c"});
  for (int i = 0; i < 3; ++i) {
    std::shared_ptr<const void> owners[2] = {spec, catalogue};
    const std::vector<uint32_t> items = {2, static_cast<uint32_t>(i)};
    const std::string user = "member-" + std::to_string(i);
    ShownExposure x;
    x.spec = spec.get();
    x.cell = 1;
    x.user = user;
    x.ts = 100 + i;
    x.catalogues[0] = catalogue.get();
    x.items = items;
    x.owners[0] = &owners[0];
    x.owners[1] = &owners[1];
    ASSERT_TRUE(log->Record(x));
  }
  std::weak_ptr<const std::vector<std::string>> watch = catalogue;
  spec.reset();
  catalogue.reset();
  EXPECT_FALSE(watch.expired());  // pinned by the log
  log->Flush();
  EXPECT_TRUE(watch.expired());  // released once written
  std::vector<Exposure> seen;
  log->ForEach("exp", [&](const Exposure& e) {
    seen.push_back(e);
    return true;
  });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].cell, "treatment");
  EXPECT_EQ(seen[0].user, "member-0");
  EXPECT_EQ(seen[2].items, (std::vector<std::string>{"item-c", "item-c"}));
  EXPECT_EQ(seen[1].items, (std::vector<std::string>{"item-c", "item-b"}));
  EXPECT_TRUE(seen[1].rankers.empty());
}

// Two replicas on one Redis record the same members: each member's first exposure is marked
// exactly once (HSETNX), and both replicas' exposures are read back.
TEST(ExposureLogRedisTest, TwoReplicasMarkEachMembersFirstExposureOnce) {
  marquee::testing::RedisServer* redis = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(redis);
  ExposureLogOptions o;
  o.redis = redis->ParsedUrl();
  auto a = ExposureLog::Open("", o), b = ExposureLog::Open("", o);
  for (int i = 0; i < 20; ++i) {
    for (ExposureLog* log : {a.get(), b.get()}) {
      Exposure e;
      e.experiment = "exp";
      e.cell = "control";
      e.user = "m" + std::to_string(i);
      e.ts = 100 + i;
      e.items = {"x"};
      log->Record(e);
    }
  }
  std::thread ta([&] { a->Flush(); }), tb([&] { b->Flush(); });
  ta.join();
  tb.join();
  std::map<std::string, int> seen, firsts;
  a->ForEach("exp", [&](const Exposure& e) {
    ++seen[e.user];
    firsts[e.user] += e.first;
    return true;
  });
  ASSERT_EQ(seen.size(), 20u);
  for (const auto& [user, n] : seen) {
    EXPECT_EQ(n, 2) << user;
    EXPECT_EQ(firsts[user], 1) << user;
  }
  redis->Command({"CONFIG", "SET", "appendfsync", "no"});
  EXPECT_THROW(ExposureLog::Open("", o), Error) << "a Redis that could lose writes is refused";
  redis->Command({"CONFIG", "SET", "appendfsync", "always"});
}

TEST(ExposureLogTest, ConcurrentRecordsWhileFlushingKeepEveryExposureAndItsIds) {
  // Four request threads record while the flusher drains every millisecond and catalogues are
  // swapped under them (each thread drops its catalogue every 100 exposures, as a model swap
  // would): every exposure arrives once, with the ids of the catalogue it was recorded against.
  marquee::testing::TempDir dir;
  ExposureLogOptions o;
  o.flush_interval = std::chrono::milliseconds(1);
  o.sync = false;
  auto log = ExposureLog::Open(dir.file("exposures"), o);
  auto spec = std::make_shared<ExperimentSpec>(TwoCells("exp", "s"));
  const std::shared_ptr<const void> spec_owner = spec;
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::shared_ptr<const std::vector<std::string>> catalogue;
      for (int i = 0; i < kEach; ++i) {
        if (i % 100 == 0) {  // a new model version: ids that name the thread and the version
          catalogue = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{
              fmt::format("t{}v{}a", t, i / 100), fmt::format("t{}v{}b", t, i / 100)});
        }
        const std::shared_ptr<const void> owner = catalogue;
        const std::vector<uint32_t> items = {1, 0};
        const std::string user = fmt::format("t{}-{}", t, i);
        ShownExposure x;
        x.spec = spec.get();
        x.cell = static_cast<uint8_t>(i % 2);
        x.user = user;
        x.ts = i;
        x.catalogues[0] = catalogue.get();
        x.items = items;
        x.owners[0] = &spec_owner;
        x.owners[1] = &owner;
        ASSERT_TRUE(log->Record(x));
      }
    });
  }
  for (auto& th : threads) th.join();
  log->Flush();
  size_t n = 0;
  std::set<std::string> users;
  log->ForEach("exp", [&](const Exposure& e) {
    ++n;
    users.insert(e.user);
    int t = 0, i = 0;
    EXPECT_EQ(std::sscanf(e.user.c_str(), "t%d-%d", &t, &i), 2) << e.user;
    EXPECT_EQ(e.items, (std::vector<std::string>{fmt::format("t{}v{}b", t, i / 100),
                                                 fmt::format("t{}v{}a", t, i / 100)}))
        << e.user;
    EXPECT_EQ(e.cell, i % 2 ? "treatment" : "control");
    EXPECT_TRUE(e.first);
    return true;
  });
  EXPECT_EQ(n, static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(users.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(log->dropped(), 0u);
}

TEST(ExposureLogTest, ClosingWritesEverythingBufferedWithoutAnExplicitFlush) {
  marquee::testing::TempDir dir;
  const std::string path = dir.file("exposures");
  ExposureLogOptions o;
  o.flush_interval = std::chrono::milliseconds(60000);  // only the destructor writes
  {
    auto log = ExposureLog::Open(path, o);
    for (int i = 0; i < 1000; ++i) {
      Exposure e;
      e.experiment = "exp";
      e.cell = i % 2 ? "a" : "b";
      e.user = "u" + std::to_string(i % 100);
      e.ts = 1000 + i;
      e.items = {"x", "y"};
      ASSERT_TRUE(log->Record(e));
    }
    EXPECT_EQ(log->recorded(), 1000u);
  }  // SIGTERM path of `marquee serve`: the router (and this log) are destroyed
  ExposureLogOptions ro;
  ro.read_only = true;
  auto log = ExposureLog::Open(path, ro);
  int n = 0, first = 0;
  int64_t last_ts = 0;
  log->ForEach("exp", [&](const Exposure& e) {
    EXPECT_GE(e.ts, last_ts);  // arrival (here: time) order is kept
    last_ts = e.ts;
    ++n;
    first += e.first;
    return true;
  });
  EXPECT_EQ(n, 1000);
  EXPECT_EQ(first, 100);
}

TEST(ExposureLogTest, AFullBufferDropsAndCountsInsteadOfBlocking) {
  marquee::testing::TempDir dir;
  ExposureLogOptions o;
  o.max_queue = 10;
  o.flush_interval = std::chrono::milliseconds(60000);
  auto log = ExposureLog::Open(dir.file("exposures"), o);
  int accepted = 0;
  for (int i = 0; i < 25; ++i) {
    Exposure e;
    e.experiment = "exp";
    e.cell = "a";
    e.user = "u";
    accepted += log->Record(e);
  }
  EXPECT_EQ(accepted, 10);
  EXPECT_EQ(log->dropped(), 15u);
  log->Flush();
  Exposure again;
  again.experiment = "exp";
  again.user = "u";
  EXPECT_TRUE(log->Record(again));  // room again after the flush
}

Exposure Shown(const std::string& user, const std::string& cell, int64_t ts,
               std::vector<std::string> items, std::vector<uint8_t> rankers = {}) {
  static uint64_t seq = 0;
  Exposure e;
  e.experiment = "exp";
  e.cell = cell;
  e.user = user;
  e.ts = ts;
  e.items = std::move(items);
  e.rankers = std::move(rankers);
  e.seq = ++seq;
  return e;
}

StoredEvent Play(const std::string& user, const std::string& item, int64_t ts,
                 const std::string& type = "play") {
  StoredEvent e;
  e.user = user;
  e.item = item;
  e.ts = ts;
  e.type = type;
  return e;
}

TEST(Attribution, CreditsPlaysInsideTheWindowOfAnExposureThatShowedTheItem) {
  AnalysisInput in;
  in.spec = TwoCells("exp", "s");
  in.spec.attribution_window = 3600;
  in.state = "running";
  in.first_started_at = 1000;
  in.exposures = {Shown("a", "control", 1000, {"i1", "i2"}),
                  Shown("b", "treatment", 1000, {"i1", "i2"})};
  in.events = {
      Play("a", "i1", 1500),           // inside the window: credited
      Play("a", "i2", 1000 + 3600),    // at the window's edge: credited
      Play("a", "i1", 1000 + 3601),    // outside: not credited
      Play("a", "i9", 1200),           // never shown: not credited
      Play("b", "i1", 999),            // before the exposure (and the start): pre-period
      Play("b", "i2", 1100, "click"),  // counts (no event_types: every event with value > 0)
      Play("c", "i1", 1100),           // not exposed: ignored
  };
  json a = AnalyzeExperiment(in);
  EXPECT_EQ(a["members"], 2);
  EXPECT_EQ(a["plays_credited"], 3);
  EXPECT_EQ(a["plays_not_credited"], 2);
  EXPECT_EQ(a["cells"][0]["plays"], 2);
  EXPECT_EQ(a["cells"][1]["plays"], 1);
  EXPECT_EQ(a["cells"][0]["members"], 1);
  // Fewer than 2 members per cell: the statistics are reported as errors, not NaN.
  EXPECT_TRUE(a["comparisons"][0]["plays_per_member"].contains("error"));

  in.spec.event_types = {"play"};
  json b = AnalyzeExperiment(in);
  EXPECT_EQ(b["plays_credited"], 2);  // the click no longer counts
}

TEST(Attribution, PlayBeforeTheExposureIsNotCreditedAndTheLatestExposureWins) {
  AnalysisInput in;
  in.spec = TwoCells("exp", "s");
  in.spec.mode = Mode::kInterleave;
  in.spec.attribution_window = 100;
  in.exposures = {Shown("a", "control", 1000, {"i1", "i2"}, {0, 1}),
                  Shown("a", "control", 2000, {"i2", "i1"}, {0, 1})};
  in.events = {Play("a", "i1", 900),    // before any exposure
               Play("a", "i2", 1050),   // first list: ranker 1
               Play("a", "i2", 2050),   // second list: ranker 0
               Play("a", "i1", 2060)};  // second list: ranker 1
  json a = AnalyzeExperiment(in);
  EXPECT_EQ(a["plays_credited"], 3);
  EXPECT_EQ(a["plays_not_credited"], 1);
  EXPECT_EQ(a["rankers"][0]["plays"], 1);
  EXPECT_EQ(a["rankers"][1]["plays"], 2);
  EXPECT_EQ(a["rankers"][1]["members_preferring"], 1);
  EXPECT_EQ(a["ties"], 0);
}

TEST(Attribution, AnalysisOfASimulatedABTestFindsALiftAndTheSrmCheckWarns) {
  AnalysisInput in;
  in.spec = TwoCells("exp", "s");
  in.first_started_at = 1000;
  // 400 members; the treatment's members play twice as often as the control's.
  for (int u = 0; u < 400; ++u) {
    const std::string user = "u" + std::to_string(u);
    const size_t cell = AssignCell(in.spec, user);
    in.exposures.push_back(Shown(user, in.spec.cells[cell].name, 1000 + u, {"i1", "i2", "i3"}));
    const int plays = (u % 3) + (cell == 1 ? 2 : 0);
    for (int p = 0; p < plays; ++p)
      in.events.push_back(Play(user, "i" + std::to_string(1 + p % 3), 1000 + u + 10));
    in.events.push_back(Play(user, "i1", 10 + (u % 5)));  // pre-period
  }
  json a = AnalyzeExperiment(in);
  const json& m = a["comparisons"][0]["plays_per_member"];
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_GT(m["diff"].get<double>(), 1.0);
  EXPECT_LT(m["p_value"].get<double>(), 1e-6);
  EXPECT_LT(m["sequential_p_value"].get<double>(), 0.05);
  EXPECT_TRUE(m["cuped"].contains("variance_reduction")) << m.dump();
  EXPECT_FALSE(a["srm"]["warning"].get<bool>());
  EXPECT_NE(FormatAnalysis(a).find("plays_per_member"), std::string::npos);

  // Drop most treatment exposures: the split no longer matches the weights.
  AnalysisInput skewed = in;
  skewed.exposures.clear();
  int kept = 0;
  for (const auto& e : in.exposures) {
    if (e.cell == "control" || ++kept % 3 == 0) skewed.exposures.push_back(e);
  }
  json s = AnalyzeExperiment(skewed);
  EXPECT_TRUE(s["srm"]["warning"].get<bool>()) << s["srm"].dump();
  EXPECT_NE(FormatAnalysis(s).find("SAMPLE RATIO MISMATCH"), std::string::npos);
}

TEST(Attribution, TheSequentialTestLooksAtTheDataAsItStoodAtEachTime) {
  // 200 members exposed one per second; every play arrives at t = 5000, after all exposures.
  // Looks before 5000 see no plays (no spread: the p-value cannot move); only the last look sees
  // the difference, so the always-valid p-value is exactly that look's mSPRT p-value. The early
  // members of the treatment play much more: feeding members in with their final plays (what
  // no analyst could have seen at the time) would give a smaller running minimum.
  AnalysisInput in;
  in.spec = TwoCells("exp", "s");
  in.spec.attribution_window = 100000;
  MomentAccumulator final_plays[2];
  SequentialTest replayed;  // members fed in order of exposure with their final plays
  for (int u = 0; u < 200; ++u) {
    const std::string user = "u" + std::to_string(u);
    const size_t cell = AssignCell(in.spec, user);
    in.exposures.push_back(Shown(user, in.spec.cells[cell].name, 1000 + u, {"i1", "i2", "i3"}));
    const int plays = (u % 3) + (cell == 1 && u < 100 ? 3 : 0);
    for (int p = 0; p < plays; ++p)
      in.events.push_back(Play(user, "i" + std::to_string(1 + p % 3), 5000));
    final_plays[cell].Add(plays);
    replayed.Add(cell == 0 ? 0 : 1, plays);
    if ((u + 1) % 2 == 0) replayed.Peek();
  }
  json a = AnalyzeExperiment(in);
  const json& m = a["comparisons"][0]["plays_per_member"];
  ASSERT_FALSE(m.contains("error")) << m.dump();
  SequentialTest::Options o;
  o.rescale_tau2 = true;
  SequentialTest last_look(o);
  const double expected = last_look.PeekAt(final_plays[0].Get(), final_plays[1].Get());
  EXPECT_LT(expected, 1.0);
  EXPECT_DOUBLE_EQ(m["sequential_p_value"].get<double>(), expected);
  EXPECT_LT(replayed.p_value(), expected / 10);
}

// Known data over four UTC days (2026-12-01 .. 04): 24 members exposed on day 0, 12 of them
// again on day 1, 16 new ones on day 2, and a credited play on day 3 with no exposure. The day
// buckets and counts are exact, and the p-value of each day is a SequentialTest (the analysis's
// options) fed, at the day's last second, every member exposed by then with the plays credited
// by then, computed here from the raw data.
TEST(Timeseries, DaysCountExposuresAndThePValueIsTheSequentialTestAtEachDayEnd) {
  constexpr int64_t kBase = 1796083200;  // 2026-12-01T00:00:00Z
  constexpr int64_t kDay = 86400;
  AnalysisInput in;
  in.spec = TwoCells("exp", "s");
  in.spec.attribution_window = 3 * kDay;
  auto cell = [](int u) { return u % 2 ? "treatment" : "control"; };
  std::vector<int64_t> first(40);
  for (int u = 0; u < 40; ++u)
    first[u] = u < 24 ? kBase + 600 * u : kBase + 2 * kDay + 600 * (u - 24);
  std::vector<std::vector<int64_t>> plays(40);  // every play below is credited
  for (int u = 0; u < 24; ++u)
    in.exposures.push_back(Shown("u" + std::to_string(u), cell(u), first[u], {"i1", "i2", "i3"}));
  for (int u = 0; u < 12; ++u)
    in.exposures.push_back(
        Shown("u" + std::to_string(u), cell(u), kBase + kDay + 600 * u, {"i1", "i2", "i3"}));
  for (int u = 24; u < 40; ++u)
    in.exposures.push_back(Shown("u" + std::to_string(u), cell(u), first[u], {"i1", "i2", "i3"}));
  for (int u = 0; u < 40; ++u) {
    const std::string user = "u" + std::to_string(u);
    plays[u].push_back(first[u] + 60);
    if (u % 8 == 0) plays[u].push_back(first[u] + 300);
    if (u % 2 == 1) plays[u].push_back(first[u] + kDay + 120);  // the next day
    if (u % 4 == 1) plays[u].push_back(first[u] + 120);
    for (size_t p = 0; p < plays[u].size(); ++p) {
      in.events.push_back(Play(user, "i" + std::to_string(1 + p % 3), plays[u][p]));
    }
  }
  const json t = ExperimentTimeseries(in);
  EXPECT_EQ(t["metric"], "plays_per_member");
  EXPECT_EQ(t["control"], "control");
  ASSERT_EQ(t["days"].size(), 4u) << t.dump();
  const char* days[] = {"2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"};
  const int exposures[] = {12, 6, 8, 0}, fresh[] = {12, 0, 8, 0}, users[] = {24, 24, 40, 40};
  SequentialTest::Options o;
  o.rescale_tau2 = true;
  SequentialTest expected(o);
  for (size_t k = 0; k < 4; ++k) {
    const json& d = t["days"][k];
    EXPECT_EQ(d["day"], days[k]);
    EXPECT_EQ(d["exposures"], json({{"control", exposures[k]}, {"treatment", exposures[k]}}));
    EXPECT_EQ(d["new_members"], json({{"control", fresh[k]}, {"treatment", fresh[k]}}));
    const int64_t end = kBase + static_cast<int64_t>(k + 1) * kDay - 1;
    MomentAccumulator cells[2];
    for (int u = 0; u < 40; ++u) {
      if (first[u] > end) continue;
      cells[u % 2].Add(static_cast<double>(
          std::count_if(plays[u].begin(), plays[u].end(), [&](int64_t ts) { return ts <= end; })));
    }
    const double p = expected.PeekAt(cells[0].Get(), cells[1].Get());
    const json& s = t["sequential"][k];
    EXPECT_EQ(s["day"], days[k]);
    EXPECT_EQ(s["users"], users[k]);
    EXPECT_DOUBLE_EQ(s["p_value"].get<double>(), p) << "day " << k;
    EXPECT_DOUBLE_EQ(s["p_values"]["treatment"].get<double>(), p);
  }
  EXPECT_LT(expected.p_value(), 1.0);  // the sequence moved: the check above is not vacuous
}

TEST(Timeseries, InterleavingCountsExposuresOnceAndTestsPreferences) {
  AnalysisInput in;
  in.spec = TwoCells("exp", "s");
  in.spec.mode = Mode::kInterleave;
  in.exposures = {Shown("a", "control", 1796083200, {"i1", "i2"}, {0, 1}),
                  Shown("b", "control", 1796083200 + 86400, {"i2", "i1"}, {0, 1})};
  in.events = {Play("a", "i2", 1796083200 + 10)};
  const json t = ExperimentTimeseries(in);
  EXPECT_EQ(t["metric"], "preference");
  ASSERT_EQ(t["days"].size(), 2u) << t.dump();
  EXPECT_EQ(t["days"][0]["exposures"], json({{"interleaved", 1}}));
  EXPECT_EQ(t["days"][1]["new_members"], json({{"interleaved", 1}}));
  EXPECT_EQ(t["sequential"][1]["users"], 2);
  EXPECT_EQ(t["sequential"][1]["p_value"], 1.0);  // under min_n: the p-value has not moved
  // No exposures: no days.
  in.exposures.clear();
  EXPECT_TRUE(ExperimentTimeseries(in)["days"].empty());
}

}  // namespace
}  // namespace marquee
