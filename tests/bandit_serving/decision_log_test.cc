// The decision log: durable decisions, reward joining (late, duplicate, unknown ids), window
// expiry with the default reward under a fake clock, restart, export formats; the semantics on
// both implementations (RocksDB and Redis).
#include "bandits/decision_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "bandits/redis_decision_log.h"
#include "events/full_disk_fs.h"
#include "events/redis_test_util.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

struct FakeClock {
  std::atomic<int64_t> ms{1'700'000'000'000};
  std::function<int64_t()> fn() {
    return [this] { return ms.load(); };
  }
};

DecisionLogOptions Options(FakeClock& clock, std::vector<Decision>* closed = nullptr) {
  DecisionLogOptions o;
  o.reward_window_ms = 60'000;
  o.default_reward = -0.5;
  o.now_ms = clock.fn();
  o.sweep_interval = std::chrono::milliseconds(0);  // tests sweep explicitly
  if (closed != nullptr) o.on_closed = [closed](const Decision& d) { closed->push_back(d); };
  return o;
}

Decision MakeDecision(int64_t ts_ms, uint32_t chosen = 1) {
  Decision d;
  d.id = DecisionLog::NewId(ts_ms);
  d.ts_ms = ts_ms;
  d.model = "artwork";
  d.version = 3;
  d.updates = 7;
  d.user = "196";
  d.context = {{"country", "US"}, {"hour", 21}};
  d.actions = json::array({{{"id", "img-1"}, {"features", {{"tone", "dark"}}}},
                           {{"id", "img-2"}, {"features", {{"faces", 1}}}},
                           {{"id", "img-3"}, {"features", json::object()}}});
  d.probabilities = {0.2, 0.5, 0.3};
  d.chosen = chosen;
  return d;
}

ErrorCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return static_cast<ErrorCode>(-1);
}

// The tests of the log's semantics run on both implementations: "rocksdb" (a log in a temporary
// directory) and "redis" (the test process's Redis, events/redis_test_util.h, flushed first).
class DecisionStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") MARQUEE_SKIP_WITHOUT_REDIS(marquee::testing::RedisServer::Fresh());
  }
  std::unique_ptr<DecisionLog> Open(DecisionLogOptions o) {
    if (GetParam() == "redis") {
      return OpenRedisDecisionLog(marquee::testing::RedisServer::Get()->ParsedUrl(), std::move(o));
    }
    return DecisionLog::Open(dir_.file("d"), std::move(o));
  }
  marquee::testing::TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Backends, DecisionStoreTest, ::testing::Values("rocksdb", "redis"),
                         [](const auto& info) { return info.param; });

TEST(DecisionLog, IdsAreHexTimeOrderedAndUnique) {
  std::set<std::string> ids;
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    std::string id = DecisionLog::NewId(1'700'000'000'000 + i / 10);
    ASSERT_EQ(id.size(), 32u);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_GE(id.substr(0, 12), prev.empty() ? "" : prev.substr(0, 12));
    prev = id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(CodeOf([] { ValidateDecisionId("xyz", "decision_id"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { ValidateDecisionId(std::string(32, 'A'), "decision_id"); }),
            ErrorCode::kInvalidArgument);
}

// Closing the log with rewards still queued drains them: each reward's preparer reads the log
// (the join), which used to run after the log pointer was cleared and crashed.
TEST_P(DecisionStoreTest, ClosingWithQueuedRewardsDrainsThem) {
  FakeClock clock;
  std::vector<std::string> ids;
  {
    auto log = Open(Options(clock));
    for (int i = 0; i < 200; ++i) {
      Decision d = MakeDecision(clock.ms.load() + i);
      ids.push_back(d.id);
      log->Append(std::move(d));
    }
    for (const std::string& id : ids) {
      log->RewardAsync(id, 1.0, [](std::exception_ptr, const Decision*) {});
    }
  }  // destroyed with most of the 200 rewards still queued
  auto log = Open(Options(clock));
  for (const std::string& id : ids) {
    std::optional<Decision> d = log->Get(id);
    ASSERT_TRUE(d.has_value()) << id;
    EXPECT_EQ(d->outcome.kind, OutcomeKind::kJoined) << id << ": the queued reward was lost";
  }
}

TEST_P(DecisionStoreTest, AppendThenJoinOneReward) {
  FakeClock clock;
  std::vector<Decision> closed;
  auto log = Open(Options(clock, &closed));
  Decision d = MakeDecision(clock.ms);
  log->Append(d);
  auto got = log->Get(d.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->outcome.kind, OutcomeKind::kOpen);
  EXPECT_EQ(got->deadline_ms, d.ts_ms + 60'000);
  EXPECT_EQ(got->context, d.context);
  EXPECT_EQ(got->probabilities, d.probabilities);
  EXPECT_EQ(got->updates, 7u);

  clock.ms += 59'000;
  Decision joined = log->Reward(d.id, 1.0);
  EXPECT_EQ(joined.outcome.kind, OutcomeKind::kJoined);
  EXPECT_EQ(joined.outcome.reward, 1.0);
  EXPECT_EQ(joined.version, 3);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].id, d.id);
  EXPECT_EQ(closed[0].outcome.reward, 1.0);
  EXPECT_EQ(log->Get(d.id)->outcome.kind, OutcomeKind::kJoined);
  EXPECT_EQ(log->stats().decisions, 1u);
  EXPECT_EQ(log->stats().joined, 1u);
}

TEST_P(DecisionStoreTest, DuplicateRewardConflictsAndFirstWins) {
  FakeClock clock;
  auto log = Open(Options(clock));
  Decision d = MakeDecision(clock.ms);
  log->Append(d);
  log->Reward(d.id, 1.0);
  try {
    log->Reward(d.id, 0.0);
    FAIL() << "a second reward was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kAlreadyExists);
    EXPECT_NE(std::string(e.what()).find(d.id), std::string::npos) << e.what();
  }
  EXPECT_EQ(log->Get(d.id)->outcome.reward, 1.0);
}

TEST_P(DecisionStoreTest, ConcurrentDuplicateRewardsJoinExactlyOnce) {
  FakeClock clock;
  auto log = Open(Options(clock));
  Decision d = MakeDecision(clock.ms);
  log->Append(d);
  std::atomic<int> ok{0}, conflict{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      ErrorCode c = CodeOf([&] { log->Reward(d.id, t); });
      if (c == static_cast<ErrorCode>(-1)) ++ok;
      if (c == ErrorCode::kAlreadyExists) ++conflict;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflict.load(), 7);
}

TEST_P(DecisionStoreTest, UnknownAndMalformedIds) {
  FakeClock clock;
  auto log = Open(Options(clock));
  const std::string unknown = DecisionLog::NewId(clock.ms);
  try {
    log->Reward(unknown, 1.0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find(unknown), std::string::npos) << e.what();
  }
  EXPECT_EQ(CodeOf([&] { log->Reward("not-an-id", 1.0); }), ErrorCode::kInvalidArgument);
  Decision d = MakeDecision(clock.ms);
  log->Append(d);
  EXPECT_EQ(CodeOf([&] { log->Reward(d.id, std::nan("")); }), ErrorCode::kInvalidArgument);
}

TEST_P(DecisionStoreTest, LateRewardIsRefusedAndSweepGivesDefault) {
  FakeClock clock;
  std::vector<Decision> closed;
  auto log = Open(Options(clock, &closed));
  Decision early = MakeDecision(clock.ms);
  log->Append(early);
  clock.ms += 30'000;
  Decision later = MakeDecision(clock.ms);
  log->Append(later);

  clock.ms += 30'000;  // exactly at early's deadline: still open
  EXPECT_EQ(log->Sweep(), 0u);
  clock.ms += 1;  // early's window has closed, not later's
  // A reward after the deadline is late even before the sweeper ran.
  try {
    log->Reward(early.id, 1.0);
    FAIL() << "a late reward was joined";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("window"), std::string::npos) << e.what();
  }
  EXPECT_EQ(log->Sweep(), 1u);
  auto e = log->Get(early.id);
  EXPECT_EQ(e->outcome.kind, OutcomeKind::kDefault);
  EXPECT_EQ(e->outcome.reward, -0.5);
  EXPECT_EQ(log->Get(later.id)->outcome.kind, OutcomeKind::kOpen);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].id, early.id);
  // Still late (and still the default) after the sweep.
  EXPECT_EQ(CodeOf([&] { log->Reward(early.id, 1.0); }), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(log->Get(early.id)->outcome.reward, -0.5);
  EXPECT_EQ(log->Sweep(), 0u);  // nothing left to close
  log->Reward(later.id, 2.0);
  clock.ms += 3'600'000;
  EXPECT_EQ(log->Sweep(), 0u);  // a joined decision is never defaulted
  EXPECT_EQ(log->Get(later.id)->outcome.reward, 2.0);
  EXPECT_EQ(log->stats().defaulted, 1u);
}

TEST_P(DecisionStoreTest, SweepsResumeWhereTheLastEndedButMissNothing) {
  FakeClock clock;
  auto log = Open(Options(clock));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) {
      Decision d = MakeDecision(clock.ms + i);
      ids.push_back(d.id);
      log->Append(d);
    }
    if (round == 1) log->Reward(ids[3], 1.0);
    clock.ms += 120'000;
    EXPECT_EQ(log->Sweep(), round == 1 ? 19u : 20u) << "round " << round;
    for (const auto& id : ids) EXPECT_NE(log->Get(id)->outcome.kind, OutcomeKind::kOpen);
  }
  // A decision stamped before the last sweep (a clock that went back) is still swept.
  Decision old = MakeDecision(clock.ms - 500'000);
  log->Append(old);
  EXPECT_EQ(log->Sweep(), 1u);
  EXPECT_EQ(log->Get(old.id)->outcome.kind, OutcomeKind::kDefault);
}

TEST_P(DecisionStoreTest, BackgroundSweeperClosesExpiredDecisions) {
  FakeClock clock;
  DecisionLogOptions o = Options(clock);
  o.sweep_interval = std::chrono::milliseconds(10);
  auto log = Open(o);
  Decision d = MakeDecision(clock.ms);
  log->Append(d);
  clock.ms += 120'000;
  for (int i = 0; i < 500 && log->Get(d.id)->outcome.kind == OutcomeKind::kOpen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(log->Get(d.id)->outcome.kind, OutcomeKind::kDefault);
}

TEST_P(DecisionStoreTest, RestartKeepsOpenDecisionsAndClosesExpiredOnes) {
  FakeClock clock;
  Decision a = MakeDecision(clock.ms), b = MakeDecision(clock.ms + 50'000);
  {
    auto log = Open(Options(clock));
    log->Append(a);
    log->Append(b);
  }
  clock.ms += 70'000;  // a expired while no server ran; b is still open
  std::vector<Decision> closed;
  auto log = Open(Options(clock, &closed));
  EXPECT_EQ(log->Get(a.id)->outcome.kind, OutcomeKind::kDefault);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].id, a.id);
  EXPECT_EQ(log->Reward(b.id, 1.0).outcome.kind, OutcomeKind::kJoined);
}

TEST_P(DecisionStoreTest, ReadOnlyViewBesideWriterAndTimeOrder) {
  FakeClock clock;
  auto log = Open(Options(clock));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    Decision d = MakeDecision(clock.ms + 1000 * i, static_cast<uint32_t>(i % 3));
    ids.push_back(d.id);
    log->Append(d);
  }
  log->Reward(ids[1], 1.0);
  DecisionLogOptions ro;
  ro.read_only = true;
  auto view = Open(ro);
  std::vector<std::string> seen;
  view->ForEach(0, [&](const Decision& d) {
    seen.push_back(d.id);
    if (d.id == ids[1]) {
      EXPECT_EQ(d.outcome.kind, OutcomeKind::kJoined);
    }
    return true;
  });
  EXPECT_EQ(seen, ids);
  seen.clear();
  view->ForEach(clock.ms + 2000, [&](const Decision& d) {
    seen.push_back(d.id);
    return true;
  });
  EXPECT_EQ(seen, std::vector<std::string>(ids.begin() + 2, ids.end()));
  EXPECT_EQ(CodeOf([&] { view->Append(MakeDecision(clock.ms)); }), ErrorCode::kFailedPrecondition);
  if (GetParam() == "rocksdb") {
    EXPECT_EQ(CodeOf([&] { DecisionLog::Open(dir_.file("missing"), ro); }), ErrorCode::kNotFound);
  }
}

TEST_P(DecisionStoreTest, ManyConcurrentAppendsAreGroupCommitted) {
  FakeClock clock;
  auto log = Open(Options(clock));
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 50; ++i) log->Append(MakeDecision(clock.ms));
    });
  }
  for (auto& t : ts) t.join();
  size_t n = 0;
  log->ForEach(0, [&](const Decision&) { return ++n, true; });
  EXPECT_EQ(n, 400u);
  EXPECT_LE(log->stats().group_commits, 400u);
}

TEST(DecisionLog, DsjsonFollowsVowpalWabbitsLayout) {
  Decision d = MakeDecision(1'700'000'000'123, /*chosen=*/1);
  EXPECT_EQ(CodeOf([&] { ToDsjson(d); }), ErrorCode::kFailedPrecondition);  // no label yet
  d.outcome = {OutcomeKind::kJoined, 1.0, d.ts_ms + 10};
  json j = json::parse(ToDsjson(d).dump());
  EXPECT_EQ(j["_label_cost"], -1.0);
  EXPECT_EQ(j["_label_probability"], 0.5);
  EXPECT_EQ(j["_label_Action"], 2);
  EXPECT_EQ(j["_labelIndex"], 1);
  EXPECT_EQ(j["EventId"], d.id);
  EXPECT_EQ(j["Version"], "1");
  EXPECT_EQ(j["Timestamp"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["a"], json::array({2, 1, 3}));        // chosen first, 1-based
  EXPECT_EQ(j["p"], json::array({0.5, 0.2, 0.3}));  // in the order of "a"
  EXPECT_EQ(j["c"]["context"]["country"], "US");
  EXPECT_EQ(j["c"]["user"]["id"], "196");
  ASSERT_EQ(j["c"]["_multi"].size(), 3u);
  EXPECT_EQ(j["c"]["_multi"][0]["action"]["tone"], "dark");
  EXPECT_EQ(j["c"]["_multi"][1]["_id"], "img-2");
  EXPECT_EQ(j["o"][0]["v"], 1.0);
  EXPECT_EQ(j["VWState"]["m"], "artwork/3");
  // The label fields come first, as VW writes them.
  EXPECT_EQ(ToDsjson(d).begin().key(), "_label_cost");

  json l = ToJsonl(d);
  EXPECT_EQ(l["outcome"]["kind"], "joined");
  Decision back = Decision::FromJson(json::parse(l.dump()));
  EXPECT_EQ(back.id, d.id);
  EXPECT_EQ(back.actions, d.actions);
  EXPECT_EQ(back.chosen, 1u);
}

// A full disk (the issue #12 case the event log already handled): the log says it cannot store
// writes, with the reason, for /readyz; once space is freed it is writable again by itself,
// without a decision being sent (a server that is not ready gets none).
TEST(DecisionLogFullDisk, NotWritableWhileFullAndWritableAgainWithoutAWrite) {
  testing::TempDir dir;
  testing::FullDisk disk;
  FakeClock clock;
  DecisionLogOptions o = Options(clock);
  o.tuning.env = disk.env.get();
  auto log = DecisionLog::Open(dir.file("d"), o);
  log->Append(MakeDecision(clock.ms));
  EXPECT_TRUE(log->writable());
  disk.fs->full = true;
  EXPECT_THROW(log->Append(MakeDecision(clock.ms)), Error);
  std::string why;
  EXPECT_FALSE(log->writable(&why));
  EXPECT_NE(why.find("No space left on device"), std::string::npos) << why;
  disk.fs->full = false;
  bool ok = false;
  for (int i = 0; i < 100 && !ok; ++i) {
    ok = log->writable();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(ok) << "the log never resumed after space was freed";
  const Decision after = MakeDecision(clock.ms);
  log->Append(after);
  EXPECT_TRUE(log->Get(after.id).has_value());
}

}  // namespace
}  // namespace marquee
