// The decision log's counters (DecisionCounters) against the scan they replace: random workloads
// of decisions, joined, late and duplicate rewards, sweeps, several policies and restarts, after
// which SummarizeDecisions (from the counters) must equal SummarizeDecisionsByScan (one pass over
// every record) exactly, for every option; counters built on open for a log that has none; a
// failed write (full disk) leaves them in step; bad bucket widths and unknown versions refused.
// Rewards are multiples of 1/8, so their sums are exact in any order.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "bandits/decision_log.h"
#include "bandits/decision_stats.h"
#include "events/full_disk_fs.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

constexpr int64_t kT0 = 1'796'083'200'000;  // 2026-12-01T00:00:00Z
constexpr int64_t kHour = 3'600'000;

struct Clock {
  std::atomic<int64_t> ms{kT0};
};

DecisionLogOptions Options(Clock& clock, int64_t window_ms = 30 * 60'000) {
  DecisionLogOptions o;
  o.reward_window_ms = window_ms;
  o.default_reward = 0.25;
  o.now_ms = [&clock] { return clock.ms.load(); };
  o.sweep_interval = std::chrono::milliseconds(0);
  o.sync = false;
  return o;
}

const char* kPolicies[] = {"artwork", "rows", "a-much-longer-policy-name.v2"};

Decision RandomDecision(std::mt19937_64& rng, int64_t ts) {
  Decision d;
  d.id = DecisionLog::NewId(ts);
  d.ts_ms = ts;
  d.model = kPolicies[rng() % 3];
  d.version = 1 + static_cast<int64_t>(rng() % 3);
  const size_t n = 2 + rng() % 4;
  d.actions = json::array();
  for (size_t i = 0; i < n; ++i) {
    // Ids from a pool of 9, sometimes none (counted as "").
    if (rng() % 20 == 0) {
      d.actions.push_back({{"features", json::object()}});
    } else {
      d.actions.push_back({{"id", "act-" + std::to_string(rng() % 9)}});
    }
  }
  d.probabilities.assign(n, 1.0 / static_cast<double>(n));
  d.chosen = static_cast<uint32_t>(rng() % n);
  return d;
}

void ExpectSameCounts(const DecisionCounts& a, const DecisionCounts& b, const std::string& what) {
  EXPECT_EQ(a.decisions, b.decisions) << what;
  EXPECT_EQ(a.closed, b.closed) << what;
  EXPECT_EQ(a.joined, b.joined) << what;
  EXPECT_EQ(a.rewards, b.rewards) << what;
  EXPECT_EQ(a.first_ms, b.first_ms) << what;
  EXPECT_EQ(a.last_ms, b.last_ms) << what;
}

void ExpectSame(const std::vector<PolicyActivity>& got, const std::vector<PolicyActivity>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string w = what + " policy " + want[i].policy;
    EXPECT_EQ(got[i].policy, want[i].policy) << w;
    ExpectSameCounts(got[i].counts, want[i].counts, w);
    EXPECT_EQ(got[i].first_ms, want[i].first_ms) << w;
    EXPECT_EQ(got[i].last_ms, want[i].last_ms) << w;
    EXPECT_EQ(got[i].versions, want[i].versions) << w;
    ASSERT_EQ(got[i].series.size(), want[i].series.size()) << w;
    for (size_t b = 0; b < got[i].series.size(); ++b) {
      EXPECT_EQ(got[i].series[b].start, want[i].series[b].start) << w;
      ExpectSameCounts(got[i].series[b].counts, want[i].series[b].counts,
                       w + " bucket " + std::to_string(b));
    }
    EXPECT_EQ(got[i].actions, want[i].actions) << w;
    EXPECT_EQ(got[i].other_actions, want[i].other_actions) << w;
  }
}

// Every kind of question the views ask, answered by both paths.
void ExpectCountersMatchScan(const DecisionLog& log, std::mt19937_64& rng, int64_t now,
                             const std::string& what) {
  ASSERT_TRUE(log.WithCounters([](const DecisionCounters&) {})) << what;
  std::vector<ActivityOptions> asks(1);  // every policy's totals (GET /api/v1/bandits)
  for (const char* p : kPolicies) {
    for (int64_t width : {3600, 86400, 7200}) {
      ActivityOptions o;
      o.policy = p;
      o.bucket_seconds = width;
      o.actions = true;
      asks.push_back(o);
    }
  }
  ActivityOptions top;  // the two most chosen actions, the rest in other_actions
  top.actions = true;
  top.max_actions = 2;
  top.bucket_seconds = 3600;
  asks.push_back(top);
  for (int i = 0; i < 4; ++i) {  // since a random time, inside an hour
    ActivityOptions o = top;
    o.max_actions = 1 + rng() % 10;
    o.policy = rng() % 2 ? kPolicies[rng() % 3] : "";
    o.since_ms = kT0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(now - kT0 + kHour));
    asks.push_back(o);
  }
  ActivityOptions later;  // after every decision: nothing
  later.since_ms = now + 2 * kHour;
  asks.push_back(later);
  ActivityOptions unknown;
  unknown.policy = "nobody";
  asks.push_back(unknown);
  for (size_t i = 0; i < asks.size(); ++i) {
    const std::string w = what + " ask " + std::to_string(i);
    const auto counted = SummarizeDecisions(log, asks[i]);
    ExpectSame(counted, SummarizeDecisionsByScan(log, asks[i]), w);
    if (i == 0) {
      EXPECT_FALSE(counted.empty()) << w;
    }
  }
}

// What the test itself counted of one policy.
struct Expected {
  uint64_t decisions = 0, joined = 0;
  double joined_rewards = 0;
};

void RandomWorkloads(uint64_t first_seed, uint64_t last_seed) {
  for (uint64_t seed = first_seed; seed <= last_seed; ++seed) {
    testing::TempDir dir;
    std::mt19937_64 rng(seed);
    Clock clock;
    const int64_t window = (10 + static_cast<int64_t>(rng() % 110)) * 60'000;
    auto log = DecisionLog::Open(dir.file("d"), Options(clock, window));
    std::vector<std::string> ids;
    std::map<std::string, std::string> policy_of;
    std::map<std::string, Expected> expected;
    int joined = 0, late = 0, duplicate = 0, restarts = 0;
    for (int step = 0; step < 500; ++step) {
      const uint64_t op = rng() % 100;
      if (op < 55) {  // a decision, now or taken a little earlier (out of time order)
        const int64_t ts = clock.ms - static_cast<int64_t>(rng() % 2 ? 0 : rng() % 600'000);
        Decision d = RandomDecision(rng, ts);
        ids.push_back(d.id);
        policy_of[d.id] = d.model;
        ++expected[d.model].decisions;
        log->Append(std::move(d));
      } else if (op < 85 && !ids.empty()) {  // a reward to a known decision: joined, late or again
        const double reward = static_cast<double>(static_cast<int>(rng() % 25) - 8) / 8;
        try {
          const std::string& id = ids[rng() % ids.size()];
          log->Reward(id, reward);
          ++joined;
          ++expected[policy_of[id]].joined;
          expected[policy_of[id]].joined_rewards += reward;
        } catch (const Error& e) {
          if (e.code() == ErrorCode::kFailedPrecondition) ++late;
          if (e.code() == ErrorCode::kAlreadyExists) ++duplicate;
          ASSERT_TRUE(e.code() == ErrorCode::kFailedPrecondition ||
                      e.code() == ErrorCode::kAlreadyExists)
              << e.what();
        }
      } else if (op < 92) {
        log->Sweep();
      } else if (op < 94) {  // a restart: the writer's cache starts empty
        log.reset();
        log = DecisionLog::Open(dir.file("d"), Options(clock, window));
        ++restarts;
      }
      clock.ms += static_cast<int64_t>(rng() % (12 * 60'000));  // up to 12 minutes
      if (step % 125 == 124) {
        ExpectCountersMatchScan(*log, rng, clock.ms,
                                "seed " + std::to_string(seed) + " step " + std::to_string(step));
      }
    }
    // The workload covered what it is meant to.
    EXPECT_GT(joined, 0);
    EXPECT_GT(late + duplicate, 0);
    // Once every window has closed, the totals are what the test counted itself.
    clock.ms += window + 1;
    while (log->Sweep() > 0) {
    }
    const auto totals = SummarizeDecisions(*log, {});
    ASSERT_EQ(totals.size(), expected.size());
    for (const PolicyActivity& a : totals) {
      const Expected& e = expected[a.policy];
      EXPECT_EQ(a.counts.decisions, e.decisions) << a.policy;
      EXPECT_EQ(a.counts.closed, e.decisions) << a.policy;
      EXPECT_EQ(a.counts.joined, e.joined) << a.policy;
      EXPECT_EQ(a.counts.rewards,
                e.joined_rewards + 0.25 * static_cast<double>(e.decisions - e.joined))
          << a.policy;
    }
    ExpectCountersMatchScan(*log, rng, clock.ms, "swept, seed " + std::to_string(seed));
    // A read-only open beside the writer reads the same counters.
    DecisionLogOptions ro;
    ro.read_only = true;
    auto reader = DecisionLog::Open(dir.file("d"), ro);
    ExpectCountersMatchScan(*reader, rng, clock.ms, "read-only, seed " + std::to_string(seed));
  }
}

TEST(DecisionCounters, RandomWorkloadsMatchTheScan) { RandomWorkloads(1, 1); }
TEST(DecisionCounters, RandomWorkloadsMatchTheScanSlow) { RandomWorkloads(2, 12); }

// Deletes every counter (and the version key) of a closed log, as a log written before counters.
void DropCounters(const std::string& dir) {
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir, &db).ok());
  ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), db->DefaultColumnFamily(), "c", "d").ok());
  delete db;
}

void PutKey(const std::string& dir, const std::string& key, const std::string& value) {
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
  delete db;
}

TEST(DecisionCounters, ALogWithoutCountersIsScannedThenCountedOnOpen) {
  testing::TempDir dir;
  std::mt19937_64 rng(11);
  Clock clock;
  std::vector<std::string> ids;
  {
    auto log = DecisionLog::Open(dir.file("d"), Options(clock));
    for (int i = 0; i < 200; ++i) {
      Decision d = RandomDecision(rng, clock.ms);
      ids.push_back(d.id);
      log->Append(std::move(d));
      if (i % 3 == 0) log->Reward(ids.back(), 1);
      clock.ms += 60'000;
      if (i % 50 == 0) log->Sweep();
    }
  }
  DropCounters(dir.file("d"));
  ActivityOptions all;
  all.bucket_seconds = 3600;
  all.actions = true;
  DecisionLogOptions ro;
  ro.read_only = true;
  std::vector<PolicyActivity> scanned;
  {
    auto reader = DecisionLog::Open(dir.file("d"), ro);
    EXPECT_FALSE(reader->WithCounters([](const DecisionCounters&) {}));
    scanned = SummarizeDecisionsByScan(*reader, all);
    ASSERT_EQ(scanned.size(), 3u);
    ExpectSame(SummarizeDecisions(*reader, all), scanned, "fallback to the scan");
  }
  // The writer counts the old log on open (the open's sweep closes the rest afterwards).
  auto log = DecisionLog::Open(dir.file("d"), Options(clock));
  EXPECT_TRUE(log->WithCounters([](const DecisionCounters&) {}));
  ExpectCountersMatchScan(*log, rng, clock.ms, "built on open");
  // And keeps them from there on.
  Decision d = RandomDecision(rng, clock.ms);
  const std::string id = d.id;
  log->Append(std::move(d));
  log->Reward(id, 0.5);
  ExpectCountersMatchScan(*log, rng, clock.ms, "after the build");
}

TEST(DecisionCounters, AFailedWriteLeavesTheCountersInStep) {
  testing::TempDir dir;
  testing::FullDisk disk;
  std::mt19937_64 rng(5);
  Clock clock;
  DecisionLogOptions o = Options(clock);
  o.sync = true;
  o.tuning.env = disk.env.get();
  auto log = DecisionLog::Open(dir.file("d"), o);
  Decision first = RandomDecision(rng, clock.ms);
  const std::string id = first.id;
  const std::string policy = first.model;
  log->Append(std::move(first));
  disk.fs->full = true;
  EXPECT_THROW(log->Append(RandomDecision(rng, clock.ms)), Error);
  EXPECT_THROW(log->Reward(id, 1), Error);
  disk.fs->full = false;
  bool ok = false;
  for (int i = 0; i < 100 && !ok; ++i) {
    ok = log->writable();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ok) << "the log never resumed after space was freed";
  Decision second = RandomDecision(rng, clock.ms);
  second.model = policy;
  log->Append(std::move(second));
  log->Reward(id, 1);
  ActivityOptions one;
  one.policy = policy;
  const auto got = SummarizeDecisions(*log, one);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].counts.decisions, 2u);  // not the refused one
  EXPECT_EQ(got[0].counts.joined, 1u);
  EXPECT_EQ(got[0].counts.rewards, 1.0);
  ExpectCountersMatchScan(*log, rng, clock.ms, "after a full disk");
}

TEST(DecisionCounters, BucketsMustBeWholeHours) {
  testing::TempDir dir;
  Clock clock;
  auto log = DecisionLog::Open(dir.file("d"), Options(clock));
  for (int64_t width : {1800, -3600, 5400}) {
    ActivityOptions o;
    o.bucket_seconds = width;
    try {
      SummarizeDecisions(*log, o);
      ADD_FAILURE() << width << " s was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::to_string(width)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("3600"), std::string::npos) << e.what();
    }
  }
  ActivityOptions two_hours;
  two_hours.bucket_seconds = 7200;
  EXPECT_TRUE(SummarizeDecisions(*log, two_hours).empty());
}

TEST(DecisionCounters, SinceRoundsDownToItsHour) {
  testing::TempDir dir;
  Clock clock;
  auto log = DecisionLog::Open(dir.file("d"), Options(clock));
  std::mt19937_64 rng(3);
  for (int64_t minute : {5, 50, 70}) {  // two decisions in hour 0, one in hour 1
    Decision d = RandomDecision(rng, kT0 + minute * 60'000);
    d.model = "artwork";
    log->Append(std::move(d));
  }
  ActivityOptions o;
  o.since_ms = kT0 + 30 * 60'000;  // inside hour 0: both of its decisions count
  ASSERT_EQ(SummarizeDecisions(*log, o).size(), 1u);
  EXPECT_EQ(SummarizeDecisions(*log, o)[0].counts.decisions, 3u);
  EXPECT_EQ(SummarizeDecisions(*log, o)[0].first_ms, kT0 + 5 * 60'000);
  o.since_ms = kT0 + 61 * 60'000;
  EXPECT_EQ(SummarizeDecisions(*log, o)[0].counts.decisions, 1u);
  EXPECT_EQ(SummarizeDecisions(*log, o)[0].first_ms, kT0 + 70 * 60'000);
}

TEST(DecisionCounters, AnUnknownCountersVersionIsRefused) {
  testing::TempDir dir;
  Clock clock;
  { DecisionLog::Open(dir.file("d"), Options(clock)); }
  PutKey(dir.file("d"), "cv", "2");
  try {
    DecisionLog::Open(dir.file("d"), Options(clock));
    ADD_FAILURE() << "opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("counters version '2'"), std::string::npos) << e.what();
  }
  DecisionLogOptions ro;
  ro.read_only = true;
  auto reader = DecisionLog::Open(dir.file("d"), ro);
  EXPECT_THROW(SummarizeDecisions(*reader, {}), Error);
}

}  // namespace
}  // namespace marquee
