// The decision log in Redis beyond the semantics shared with RocksDB (decision_log_test.cc):
// kill -9 of Redis under load loses no acknowledged decision or reward; two replicas' rewards
// and sweepers close each decision exactly once; the counters summed over the shards agree with
// a scan of the log.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "bandits/decision_stats.h"
#include "bandits/redis_decision_log.h"
#include "events/redis_test_util.h"
#include "marquee/error.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::RedisServer;

Decision MakeDecision(int64_t ts_ms, uint32_t chosen, const std::string& model = "artwork") {
  Decision d;
  d.id = DecisionLog::NewId(ts_ms);
  d.ts_ms = ts_ms;
  d.model = model;
  d.version = 1 + chosen % 2;
  d.context = {{"country", "US"}};
  d.actions = json::array({{{"id", "a"}, {"features", json::object()}},
                           {{"id", "b"}, {"features", json::object()}},
                           {{"id", "c"}, {"features", json::object()}}});
  d.probabilities = {0.2, 0.5, 0.3};
  d.chosen = chosen % 3;
  return d;
}

DecisionLogOptions Options(std::atomic<int64_t>* clock) {
  DecisionLogOptions o;
  o.reward_window_ms = 60'000;
  o.default_reward = -1;
  o.sweep_interval = std::chrono::milliseconds(0);
  if (clock != nullptr) o.now_ms = [clock] { return clock->load(); };
  return o;
}

TEST(RedisDecisionLog, KillNineLosesNoAcknowledgedDecisionOrReward) {
  RedisServer* r = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(r);
  auto log = OpenRedisDecisionLog(r->ParsedUrl(), Options(nullptr));
  std::mutex mu;
  std::map<std::string, double> rewarded;  // acknowledged rewards
  std::vector<std::string> decided;        // acknowledged decisions
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        Decision d = MakeDecision(log->NowMs(), static_cast<uint32_t>(i));
        const std::string id = d.id;
        try {
          log->Append(std::move(d));
        } catch (const Error&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        {
          std::lock_guard<std::mutex> l(mu);
          decided.push_back(id);
        }
        if (i % 2 == 0) continue;
        try {
          log->Reward(id, t + 0.5);
          std::lock_guard<std::mutex> l(mu);
          rewarded[id] = t + 0.5;
        } catch (const Error&) {
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  r->Kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(r->Start());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  stop = true;
  for (auto& w : writers) w.join();
  ASSERT_GT(decided.size(), 20u);
  for (const std::string& id : decided) {
    std::optional<Decision> d = log->Get(id);
    ASSERT_TRUE(d.has_value()) << "acknowledged decision " << id << " missing";
    if (auto it = rewarded.find(id); it != rewarded.end()) {
      EXPECT_EQ(d->outcome.kind, OutcomeKind::kJoined) << id;
      EXPECT_EQ(d->outcome.reward, it->second) << id;
    }
  }
  // The counters still agree with the log they count.
  const auto counted = SummarizeDecisions(*log, {});
  const auto scanned = SummarizeDecisionsByScan(*log, {});
  ASSERT_EQ(counted.size(), 1u);
  ASSERT_EQ(scanned.size(), 1u);
  EXPECT_EQ(counted[0].counts.decisions, scanned[0].counts.decisions);
  EXPECT_EQ(counted[0].counts.joined, scanned[0].counts.joined);
  EXPECT_GE(counted[0].counts.decisions, decided.size());
}

TEST(RedisDecisionLog, TwoReplicasCloseEachDecisionExactlyOnce) {
  RedisServer* r = marquee::testing::RedisServer::Fresh();
  MARQUEE_SKIP_WITHOUT_REDIS(r);
  std::atomic<int64_t> clock{1'700'000'000'000};
  std::atomic<int> closed{0};
  auto options = [&] {
    DecisionLogOptions o = Options(&clock);
    o.on_closed = [&](const Decision&) { ++closed; };
    return o;
  };
  auto a = OpenRedisDecisionLog(r->ParsedUrl(), options());
  auto b = OpenRedisDecisionLog(r->ParsedUrl(), options());
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    Decision d = MakeDecision(clock.load() + i, static_cast<uint32_t>(i));
    ids.push_back(d.id);
    (i % 2 ? a : b)->Append(std::move(d));
  }
  // Every decision rewarded through both replicas at once: one wins, the other conflicts.
  std::atomic<int> ok{0}, conflict{0};
  auto reward = [&](DecisionLog* log, size_t from) {
    for (size_t i = from; i < 100; ++i) {
      try {
        log->Reward(ids[i], 1.0);
        ++ok;
      } catch (const Error& e) {
        if (e.code() == ErrorCode::kAlreadyExists) ++conflict;
      }
    }
  };
  std::thread ta(reward, a.get(), 0), tb(reward, b.get(), 0);
  ta.join();
  tb.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(conflict.load(), 100);
  // The other 200 expire; both replicas sweep at once.
  clock += 120'000;
  size_t swept_a = 0, swept_b = 0;
  std::thread sa([&] { swept_a = a->Sweep(); }), sb([&] { swept_b = b->Sweep(); });
  sa.join();
  sb.join();
  EXPECT_EQ(swept_a + swept_b, 200u);
  EXPECT_EQ(closed.load(), 300);
  EXPECT_EQ(a->Get(ids[150])->outcome.kind, OutcomeKind::kDefault);
  EXPECT_EQ(a->Get(ids[150])->outcome.reward, -1);
  // A read-only view (what `decisions export` opens) sees all 300 in time order.
  DecisionLogOptions ro = Options(&clock);
  ro.read_only = true;
  auto view = OpenRedisDecisionLog(r->ParsedUrl(), ro);
  std::vector<std::string> seen;
  view->ForEach(0, [&](const Decision& d) {
    seen.push_back(d.id);
    return true;
  });
  EXPECT_EQ(seen, ids);
  const auto counted = SummarizeDecisions(*view, {});
  const auto scanned = SummarizeDecisionsByScan(*view, {});
  ASSERT_EQ(counted.size(), 1u);
  EXPECT_EQ(counted[0].counts.decisions, 300u);
  EXPECT_EQ(counted[0].counts.closed, 300u);
  EXPECT_EQ(counted[0].counts.joined, 100u);
  EXPECT_DOUBLE_EQ(counted[0].counts.rewards, 100.0 - 200.0);
  EXPECT_EQ(counted[0].versions, scanned[0].versions);
  EXPECT_EQ(counted[0].counts.first_ms, scanned[0].counts.first_ms);
  EXPECT_EQ(counted[0].counts.last_ms, scanned[0].counts.last_ms);
}

}  // namespace
}  // namespace marquee
