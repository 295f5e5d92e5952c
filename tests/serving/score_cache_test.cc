// The known-user score cache (ServableModel::known_scores) answers exactly what scoring the
// training row would: same items, same float scores, for every family that keeps its training
// users; and it steps aside the moment a user's history grows.
#include <gtest/gtest.h>

#include "events/event_log.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee::serving {
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
  s.metrics = std::make_unique<ServingMetrics>(Service::Routes());
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
      {"bpr", {{"factors", 8}, {"epochs", 3}}}};
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

}  // namespace
}  // namespace marquee::serving
