// EventLog: durable appends, per-user recent history in time order, scans, reopen, group
// commit under concurrency, validation; the first two for both implementations (the embedded
// RocksDB log and Redis, redis_test_util.h).
#include "events/event_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "events/redis_event_log.h"
#include "events/redis_test_util.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

Event E(std::string user, std::string item, int64_t ts, float value = 1.0f) {
  Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = "play";
  e.value = value;
  e.ts = ts;
  return e;
}

// The same tests over each backend: "rocksdb" (a log in a temporary directory) or "redis" (the
// test process's Redis, flushed first).
class EventStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") MARQUEE_SKIP_WITHOUT_REDIS(marquee::testing::RedisServer::Fresh());
  }
  std::unique_ptr<EventLog> Open() {
    if (GetParam() == "redis") return OpenRedisEventLog(testing::RedisServer::Get()->ParsedUrl());
    return EventLog::Open(dir_.file("events"));
  }
  testing::TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Backends, EventStoreTest, ::testing::Values("rocksdb", "redis"),
                         [](const auto& info) { return info.param; });

TEST_P(EventStoreTest, RecentIsNewestFirstPerUserAndSurvivesReopen) {
  {
    auto log = Open();
    log->Append({E("a", "x", 30), E("a", "y", 10), E("ab", "z", 5), E("b", "w", 20)});
    log->Append({E("a", "v", 20, 0.5f), E("a", "u", -5)});
    auto r = log->Recent("a", 10);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].item, "x");  // ts 30
    EXPECT_EQ(r[1].item, "v");  // ts 20
    EXPECT_FLOAT_EQ(r[1].value, 0.5f);
    EXPECT_EQ(r[2].item, "y");
    EXPECT_EQ(r[3].item, "u");  // negative times sort first
    EXPECT_EQ(r[0].type, "play");
    EXPECT_EQ(log->Recent("a", 2).size(), 2u);
    EXPECT_EQ(log->Recent("ab", 10).size(), 1u);  // "a" is a prefix of "ab", not its history
    EXPECT_TRUE(log->Recent("nobody", 10).empty());
    EXPECT_EQ(log->appended(), 6u);
  }
  auto log = Open();
  std::vector<std::pair<std::string, int64_t>> order;
  uint64_t max_seq = 0, max_seq_a = 0;
  log->ForEach([&](const StoredEvent& e) {
    order.emplace_back(e.user, e.ts);
    max_seq = std::max(max_seq, e.seq);
    if (e.user == "a") max_seq_a = std::max(max_seq_a, e.seq);
    return true;
  });
  // (user, ts) order, whatever the backend.
  const std::vector<std::pair<std::string, int64_t>> want = {{"a", -5}, {"a", 10}, {"a", 20},
                                                             {"a", 30}, {"ab", 5}, {"b", 20}};
  EXPECT_EQ(order, want);
  // Sequence numbers continue after a reopen: across the log (RocksDB) or per member (Redis,
  // where each member has its own sequence: docs/formats/state-redis.md).
  log->Append({E("a", "x2", 1)});
  auto a = log->Recent("a", 10);
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[3].item, "x2");
  EXPECT_GT(a[3].seq, max_seq_a);
  log->Append({E("c", "x", 1)});
  if (GetParam() == "rocksdb") {
    EXPECT_GT(log->Recent("c", 1)[0].seq, max_seq);
  }
  size_t stop_after = 0;
  log->ForEach([&](const StoredEvent&) { return ++stop_after < 3; });
  EXPECT_EQ(stop_after, 3u) << "fn returning false stops the scan";
}

TEST_P(EventStoreTest, ConcurrentAppendsAreGroupCommitted) {
  auto log = Open();
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::vector<Event> batch;
        for (int j = 0; j < 10; ++j) batch.push_back(E("u" + std::to_string(t), "i", i * 10 + j));
        log->Append(std::move(batch));
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(log->appended(), 2000u);
  EXPECT_LE(log->group_commits(), 200u);
  for (int t = 0; t < 8; ++t) EXPECT_EQ(log->Recent("u" + std::to_string(t), 1000).size(), 250u);
}

// commit_gap: an append after a quiet spell is written at once; a burst that arrives just after a
// commit began waits for the gap and is written as one group.
TEST(EventLog, CommitGapGroupsABurstAndLeavesAQuietAppendAlone) {
  testing::TempDir dir;
  EventLogOptions o;
  o.commit_gap = std::chrono::seconds(2);
  auto log = EventLog::Open(dir.file("events"), o);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  log->Append({E("a", "x", 1)});
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500)) << "a quiet append is not held";
  const uint64_t before = log->group_commits();
  t0 = Clock::now();
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 5; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        log->AppendAsync({E("b", "i" + std::to_string(t * 10 + i), i)},
                         [&](std::exception_ptr e) { done += e == nullptr ? 1 : 1000; });
      }
    });
  }
  for (auto& t : ts) t.join();
  while (done.load() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(done.load(), 50) << "every append succeeded";
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(1000)) << "the burst waited for the gap";
  EXPECT_LE(log->group_commits() - before, 2u) << "the burst shares one fsync (two at most)";
  EXPECT_EQ(log->Recent("b", 100).size(), 50u);
}

TEST(EventLog, ValidationNamesTheField) {
  try {
    ValidateEvent(E("", "x", 0), "events[2]");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("events[2].user"), std::string::npos);
  }
  EXPECT_THROW(ValidateEvent(E("u", std::string(300, 'x'), 0), "e"), Error);
  EXPECT_THROW(ValidateEvent(E("u", "i", 0, std::nanf("")), "e"), Error);
  EXPECT_NO_THROW(ValidateEvent(E("u", "i", 0), "e"));
}

TEST(EventLog, ASecondProcessCannotOpenTheSameLog) {
  testing::TempDir dir;
  auto log = EventLog::Open(dir.file("events"));
  EXPECT_THROW(EventLog::Open(dir.file("events")), Error);
}

}  // namespace
}  // namespace marquee
