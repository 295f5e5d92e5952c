// The known-user score cache (ServableModel::known_scores) answers exactly what scoring the
// training row would: same items, same float scores, for every family that keeps its training
// users; and it steps aside the moment a user's history grows. Its hit rate is observable:
// every ranking /v1/recommend makes is counted in marquee_recommend_rankings_total by how it
// was scored (the cache, per request, or the popularity fallback).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "events/event_log.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;

struct Server {
  std::unique_ptr<ModelManager> models;
  std::unique_ptr<ServingMetrics> metrics;
  std::unique_ptr<Service> service;
};

Server MakeServer(const std::string& home, size_t cache_bytes, EventLog* events) {
  Server s;
  ModelManagerOptions mo;
  mo.home = home;
  mo.refs = {"recs/1"};
  mo.score_cache_bytes = cache_bytes;
  s.models = std::make_unique<ModelManager>(std::move(mo));
  s.models->Refresh();
  s.metrics = std::make_unique<ServingMetrics>();
  s.service = std::make_unique<Service>(s.models.get(), events, s.metrics.get(), ApiKeys(),
                                        ServiceLimits());
  return s;
}

json Ask(const Server& s, const std::string& user, uint32_t k = 15) {
  RecommendRequest r;
  r.model = "recs/1";
  r.user = user;
  r.k = k;
  return s.service->Recommend({r})[0];
}

TEST(ScoreCache, AnswersEqualScoringForEveryFamily) {
  const std::vector<std::pair<std::string, json>> families = {
      {"ease", {{"lambda", 10.0}}},
      {"ials", {{"factors", 8}, {"iterations", 3}}},
      {"itemknn", json::object()},
      {"popularity", json::object()},
      {"bpr", {{"factors", 8}, {"epochs", 3}}},
      {"rp3beta", json::object()}};
  for (const auto& [family, params] : families) {
    marquee::testing::TempDir dir;
    const std::string home = dir.file("home");
    marquee::testing::RegisterModel(home, "recs", family, params);
    Server cached = MakeServer(home, 64u << 20, nullptr);
    Server plain = MakeServer(home, 0, nullptr);
    auto m = cached.models->Get("recs/1");
    ASSERT_FALSE(m->known_scores.empty()) << family;
    EXPECT_TRUE(plain.models->Get("recs/1")->known_scores.empty()) << family;
    for (const std::string& user : m->bundle.training->user_ids) {
      const json a = Ask(cached, user), b = Ask(plain, user);
      ASSERT_FALSE(a.contains("error")) << family << " " << a.dump();
      ASSERT_EQ(a.dump(), b.dump()) << family << " user " << user;
    }
  }
}

TEST(ScoreCache, TooLargeForTheBudgetIsNotMaterialised) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 10.0}});
  Server tiny = MakeServer(home, 16, nullptr);  // 16 bytes: nothing fits
  EXPECT_TRUE(tiny.models->Get("recs/1")->known_scores.empty());
  EXPECT_FALSE(Ask(tiny, "u0").contains("error"));
}

TEST(ScoreCache, APositiveEventBypassesTheCache) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 10.0}});
  auto events = EventLog::Open(home + "/events");
  Server cached = MakeServer(home, 64u << 20, events.get());
  Server plain = MakeServer(home, 0, events.get());
  const std::string user = cached.models->Get("recs/1")->bundle.training->user_ids[0];
  const json before = Ask(cached, user, 5);
  ASSERT_FALSE(before["items"].empty());
  const std::string top = before["items"][0]["id"];
  events->Append({Event{user, top, "play", 1.0f, 1700000000}});
  const json after = Ask(cached, user, 5);
  // The played item is excluded, and the scores are those of the grown history.
  for (const auto& it : after["items"]) EXPECT_NE(it["id"], top);
  EXPECT_EQ(after.dump(), Ask(plain, user, 5).dump());
  EXPECT_NE(after.dump(), before.dump());
}

RecommendRequest ForUser(const std::string& user) {
  RecommendRequest r;
  r.model = "recs/1";
  r.user = user;
  r.k = 5;
  return r;
}

RecommendRequest ForHistory(std::vector<std::string> history) {
  RecommendRequest r;
  r.model = "recs/1";
  r.history = std::move(history);
  r.k = 5;
  return r;
}

// The counter's value for one label in the /metrics text; -1 when the line is absent.
long long Counter(const ServingMetrics& m, const std::string& label) {
  const std::string text = m.Render("");
  const std::string key = "marquee_recommend_rankings_total{scored_by=\"" + label + "\"} ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + key.size()));
}

TEST(ScoreCacheMetrics, CountsCacheHitsPerRequestScoringAndFallbacks) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 10.0}});
  auto events = EventLog::Open(home + "/events");
  Server s = MakeServer(home, 64u << 20, events.get());
  auto m = s.models->Get("recs/1");
  ASSERT_FALSE(m->known_scores.empty());
  const auto& users = m->bundle.training->user_ids;
  ASSERT_GE(users.size(), 2u);
  EXPECT_EQ(Counter(*s.metrics, "score_cache"), 0);
  EXPECT_EQ(Counter(*s.metrics, "per_request"), 0);
  EXPECT_EQ(Counter(*s.metrics, "popularity_fallback"), 0);

  // Two known users in one batch: both from the cache.
  for (const json& j : s.service->Recommend({ForUser(users[0]), ForUser(users[1])})) {
    ASSERT_FALSE(j.contains("error")) << j.dump();
  }
  EXPECT_EQ(Counter(*s.metrics, "score_cache"), 2);
  EXPECT_EQ(Counter(*s.metrics, "per_request"), 0);

  // An anonymous history is folded in and scored; an empty one falls back to popularity.
  const std::string item = m->bundle.item_ids[0];
  ASSERT_FALSE(s.service->Recommend({ForHistory({item})})[0].contains("error"));
  const json empty = s.service->Recommend({ForHistory({})})[0];
  ASSERT_FALSE(empty.contains("error")) << empty.dump();
  EXPECT_EQ(empty.value("fallback", ""), "popularity");
  EXPECT_EQ(Counter(*s.metrics, "per_request"), 1);
  EXPECT_EQ(Counter(*s.metrics, "popularity_fallback"), 1);

  // A positive event for an item outside users[0]'s training row grows their history: from now
  // on it is their training sum plus the new row (EASE is additive), not the cache.
  const auto row0 = m->TrainingItems(0);
  uint32_t fresh = 0;
  while (std::binary_search(row0.begin(), row0.end(), fresh)) ++fresh;
  events->Append({Event{users[0], m->bundle.item_ids[fresh], "play", 1.0f, 1700000000}});
  ASSERT_FALSE(s.service->Recommend({ForUser(users[0])})[0].contains("error"));
  EXPECT_EQ(Counter(*s.metrics, "score_cache"), 2);
  EXPECT_EQ(Counter(*s.metrics, "training_sums"), 1);
  EXPECT_EQ(Counter(*s.metrics, "per_request"), 1);
  // A play of an item already in users[1]'s training row leaves their history as it was: the
  // cache still answers.
  events->Append(
      {Event{users[1], m->bundle.item_ids[m->TrainingItems(1)[0]], "play", 1.0f, 1700000001}});
  ASSERT_FALSE(s.service->Recommend({ForUser(users[1])})[0].contains("error"));
  EXPECT_EQ(Counter(*s.metrics, "score_cache"), 3);

  // A request that fails before scoring (unknown model) is not a ranking.
  RecommendRequest bad = ForUser(users[1]);
  bad.model = "nope/1";
  EXPECT_TRUE(s.service->Recommend({bad})[0].contains("error"));
  EXPECT_EQ(s.metrics->rankings_cached() + s.metrics->rankings_scored() +
                s.metrics->rankings_fallback() + s.metrics->rankings_grown(),
            6u);
}

// A known member whose history grew (plays of items outside their training row, a skip that
// adds nothing) is answered from their kept training sum plus the new rows: the same items and
// the same float scores as an anonymous request with their whole history, which ScoreBatch
// scores; with a cache of every size, the sums kept or not.
TEST(TrainingSums, GrownMembersAnswerAsTheirWholeHistoryWould) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 3.0}});
  auto events = EventLog::Open(home + "/events");
  Server big = MakeServer(home, 64u << 20, events.get());
  Server none = MakeServer(home, 0, events.get());  // no known scores, no kept sums
  auto m = big.models->Get("recs/1");
  ASSERT_NE(m->additive, nullptr);
  ASSERT_NE(m->training_sums, nullptr);
  EXPECT_EQ(none.models->Get("recs/1")->training_sums->capacity(), 0u);
  const auto& users = m->bundle.training->user_ids;
  std::mt19937_64 rng(3);
  int64_t ts = 1700000000;
  for (int round = 0; round < 3; ++round) {
    for (uint32_t u = 0; u < users.size(); u += 2) {
      const std::string item = m->bundle.item_ids[rng() % m->num_items()];
      events->Append({Event{users[u], item, "play", 1.0f, ts++}});
      events->Append(
          {Event{users[u], m->bundle.item_ids[rng() % m->num_items()], "skip", 0.0f, ts++}});
      // The whole history as ids: training row plus the positive plays so far.
      std::vector<std::string> whole;
      for (uint32_t i : m->TrainingItems(u)) whole.push_back(m->bundle.item_ids[i]);
      for (const StoredEvent& e : events->Recent(users[u], 1000)) {
        if (e.value > 0) whole.push_back(e.item);
      }
      RecommendRequest anon = ForHistory(whole);
      anon.k = 20;
      RecommendRequest member = ForUser(users[u]);
      member.k = 20;
      member.exclude_seen = false;  // the anonymous request excludes only its history
      anon.exclude_seen = true;
      const json want = big.service->Recommend({anon})[0];
      ASSERT_FALSE(want.contains("error")) << want.dump();
      // exclude_seen=false would keep the history in the member's list: exclude it by deny.
      member.deny = whole;
      for (const Server* s : {&big, &none}) {
        const json got = s->service->Recommend({member})[0];
        ASSERT_FALSE(got.contains("error")) << got.dump();
        ASSERT_EQ(got["items"].dump(), want["items"].dump()) << users[u] << " round " << round;
      }
    }
  }
  EXPECT_GT(Counter(*big.metrics, "training_sums"), 0);
  EXPECT_EQ(Counter(*big.metrics, "training_sums"), Counter(*none.metrics, "training_sums"));
  EXPECT_GT(m->training_sums->kept(), 0u);
}

TEST(ScoreCacheMetrics, WithoutTheCacheEveryKnownUserIsScored) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 10.0}});
  Server s = MakeServer(home, 0, nullptr);  // --score-cache-mb 0
  const auto& users = s.models->Get("recs/1")->bundle.training->user_ids;
  ASSERT_FALSE(s.service->Recommend({ForUser(users[0])})[0].contains("error"));
  EXPECT_EQ(Counter(*s.metrics, "score_cache"), 0);
  EXPECT_EQ(Counter(*s.metrics, "per_request"), 1);
}

}  // namespace
}  // namespace marquee
