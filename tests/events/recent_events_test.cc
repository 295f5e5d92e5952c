// The recent events kept in memory (events/recent_events.h) answer EventLog::Recent exactly as the
// RocksDB reverse scan they replace: random appends (out-of-order and equal times, trimmed and
// evicted entries) against a log without the cache, readers racing the writer, after a restart;
// and the write-only durability (sync = false) fsyncs in the background.
#include "events/recent_events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "events/durable_log.h"
#include "events/event_log.h"
#include "test_util.h"

namespace marquee {
namespace {

std::string Describe(const std::vector<StoredEvent>& v) {
  std::string s;
  for (const auto& e : v) {
    s += fmt::format("{}:{}:{}:{}:{}:{} ", e.user, e.item, e.type, e.value, e.ts, e.seq);
  }
  return s;
}

// Appends the same random events to both logs, in the same groups.
void AppendRandom(std::mt19937& rng, int users, EventLog& a, EventLog& b) {
  std::vector<Event> batch;
  const int n = 1 + static_cast<int>(rng() % 5);
  for (int i = 0; i < n; ++i) {
    Event e;
    e.user = fmt::format("u{}", rng() % users);
    e.item = fmt::format("i{}", rng() % 500);
    e.type = rng() % 2 ? "play" : "skip";
    e.value = static_cast<float>(static_cast<int>(rng() % 5) - 1);
    e.ts = 1000 + static_cast<int64_t>(rng() % 50);  // many equal times, often out of order
    batch.push_back(e);
  }
  a.Append(batch);
  b.Append(batch);
}

// Not fsynced (the tests compare answers, not durability): fast appends.
EventLogOptions Cached(size_t per_user, size_t max_events) {
  EventLogOptions o;
  o.sync = false;
  o.recent_per_user = per_user;
  o.recent_max_events = max_events;
  return o;
}

EventLogOptions Uncached() {
  EventLogOptions o;
  o.sync = false;
  o.recent_per_user = 0;
  return o;
}

TEST(RecentEvents, AnswerAsTheScanUnderRandomAppendsAndAfterRestart) {
  marquee::testing::TempDir dir;
  std::mt19937 rng(7);
  size_t hits = 0, compared = 0;
  // Per-user bound 8 (entries drop their oldest), 16 x 12 events in all (users are evicted).
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto cached = EventLog::Open(dir.file("cached"), Cached(8, 16 * 12));
    auto plain = EventLog::Open(dir.file("plain"), Uncached());
    for (int step = 0; step < 3000; ++step) {
      if (rng() % 3 == 0) {
        AppendRandom(rng, 40, *cached, *plain);
        continue;
      }
      const std::string user = fmt::format("u{}", rng() % 44);  // some never have events
      const size_t limit = rng() % 12;                          // around the per-user bound
      const auto want = plain->Recent(user, limit);
      const auto got = cached->Recent(user, limit);
      ASSERT_EQ(Describe(got), Describe(want))
          << "user " << user << " limit " << limit << " step " << step << " reopen " << reopen;
      ++compared;
    }
    hits += cached->recent_hits();
    EXPECT_GT(cached->recent_misses(), 0u);
  }
  EXPECT_GT(hits, compared / 5) << "the cache answered too few reads to have been tested";
}

TEST(RecentEvents, ReadersRacingTheWriterSeeEveryAcknowledgedEvent) {
  marquee::testing::TempDir dir;
  auto log = EventLog::Open(dir.file("events"), Cached(1000, 1 << 16));
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};  // events of user "w" acknowledged so far
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        const int before = acked.load();
        // Every event acknowledged before the read is in its answer (read-your-writes).
        if (static_cast<int>(log->Recent("w", 1000).size()) < before) ++bad;
      }
    });
  }
  for (int i = 0; i < 400; ++i) {
    Event e;
    e.user = "w";
    e.item = fmt::format("i{}", i);
    e.ts = 5000 - i % 7;
    log->Append({e});
    acked = i + 1;
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  // And the memory answers what a log without it reads from the same directory.
  const auto got = log->Recent("w", 1000);
  log.reset();
  auto plain = EventLog::Open(dir.file("events"), Uncached());
  EXPECT_EQ(Describe(got), Describe(plain->Recent("w", 1000)));
  EXPECT_EQ(got.size(), 400u);
}

TEST(RecentEvents, DirectUseBoundsEachUserAndTheTotal) {
  RecentEvents cache(3, 16 * 4);  // 4 events per shard
  int scans = 0;
  auto scan_of = [&](std::vector<StoredEvent> v) {
    return [&scans, v](size_t n) {
      ++scans;
      std::vector<StoredEvent> out = v;
      if (out.size() > n) out.resize(n);
      return out;
    };
  };
  std::vector<StoredEvent> five;
  for (int i = 5; i >= 1; --i) {  // newest first
    StoredEvent e;
    e.user = "a";
    e.item = fmt::format("i{}", i);
    e.ts = i;
    e.seq = static_cast<uint64_t>(i);
    five.push_back(e);
  }
  EXPECT_EQ(cache.Recent("a", 2, scan_of(five)).size(), 2u);  // scans 3 (the per-user bound)
  EXPECT_EQ(scans, 1);
  EXPECT_EQ(cache.Recent("a", 3, scan_of(five)).size(), 3u);  // from memory
  EXPECT_EQ(scans, 1);
  EXPECT_EQ(cache.Recent("a", 5, scan_of(five)).size(), 5u);  // more than it holds: scans
  EXPECT_EQ(scans, 2);
  StoredEvent newer = five[0];
  newer.item = "i6";
  newer.ts = 6;
  newer.seq = 6;
  cache.Add(newer);
  auto r = cache.Recent("a", 3, scan_of({}));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].item, "i6");
  EXPECT_EQ(r[2].item, "i4");
  EXPECT_EQ(scans, 2);
  StoredEvent old = five[4];  // older than all it holds, entry incomplete: not inserted
  old.seq = 100;
  cache.Add(old);
  EXPECT_EQ(Describe(cache.Recent("a", 3, scan_of({}))), Describe(r));
  EXPECT_LE(cache.events(), 16u * 4u);
}

TEST(DurableLog, WriteOnlyAppendsAreSyncedInTheBackground) {
  marquee::testing::TempDir dir;
  DurableLogOptions o;
  o.sync = false;
  o.sync_interval = std::chrono::milliseconds(20);
  auto log = DurableLog::Open(dir.file("log"), o);
  log->Append({{"k", "v"}});
  for (int i = 0; i < 200 && log->wal_syncs() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(log->wal_syncs(), 1u);
  const uint64_t syncs = log->wal_syncs();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // nothing new: no fsync
  EXPECT_EQ(log->wal_syncs(), syncs);
}

}  // namespace
}  // namespace marquee
