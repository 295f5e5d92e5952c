// Service::Rank answers each request of a batch by one of its stages (failed in preparation,
// popularity fallback, known-user score cache, per-request scoring grouped by model). A batch
// that mixes every stage and two models answers each request exactly as that request alone,
// in the batch's order, and counts each ranking once.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using Items = std::vector<std::string>;

RecommendRequest Req(const std::string& model, std::optional<std::string> user,
                     std::optional<Items> history, uint32_t k) {
  RecommendRequest r;
  r.model = model;
  r.user = std::move(user);
  r.history = std::move(history);
  r.k = k;
  return r;
}

TEST(RankStages, AMixedBatchAnswersEachRequestAsAlone) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  marquee::testing::RegisterModel(home, "recs", "ease", {{"lambda", 10.0}});
  marquee::testing::RegisterModel(home, "knn", "itemknn", json::object());
  ModelManagerOptions mo;
  mo.home = home;
  mo.refs = {"recs/1", "knn/1"};
  mo.score_cache_bytes = 64u << 20;
  ModelManager models(std::move(mo));
  models.Refresh();
  ServingMetrics metrics;
  Service service(&models, nullptr, &metrics, ApiKeys(), ServiceLimits());
  ASSERT_FALSE(models.Get("recs/1")->known_scores.empty());

  std::vector<RecommendRequest> batch = {
      Req("recs/1", "u0", std::nullopt, 5),               // cached
      Req("recs/1", std::nullopt, Items{"i1", "i3"}, 4),  // scored, EASE
      Req("nope/1", "u0", std::nullopt, 5),               // failed: unknown model
      Req("knn/1", std::nullopt, Items{"i12"}, 6),        // scored, itemknn
      Req("recs/1", std::nullopt, Items{}, 3),            // fallback: empty history
      Req("recs/1", "u1", std::nullopt, 7),               // cached
      Req("recs/1", std::nullopt, Items{"i99"}, 5),       // failed: unknown item
      Req("knn/1", "u2", Items{"i2"}, 5),                 // scored: a known user with a history
  };
  batch[5].allow = Items{"i10", "i11", "i12", "i1"};
  batch[1].deny = {"i0"};

  const std::vector<json> together = service.Recommend(batch);
  ASSERT_EQ(together.size(), batch.size());
  EXPECT_EQ(metrics.rankings_cached(), 2u);
  EXPECT_EQ(metrics.rankings_scored(), 3u);
  EXPECT_EQ(metrics.rankings_fallback(), 1u);
  for (size_t q = 0; q < batch.size(); ++q) {
    const json alone = service.Recommend({batch[q]})[0];
    EXPECT_EQ(together[q].dump(), alone.dump()) << "request " << q;
  }
  EXPECT_TRUE(together[2].contains("error"));
  EXPECT_TRUE(together[6].contains("error"));
  EXPECT_EQ(together[4].value("fallback", ""), "popularity");
  EXPECT_EQ(together[3]["model"], "knn");
  EXPECT_EQ(together[1]["items"].size(), 4u);
  for (const json& it : together[1]["items"]) EXPECT_NE(it["id"], "i0");
  // The allow list holds for a cached answer too.
  ASSERT_FALSE(together[5]["items"].empty());
  for (const json& it : together[5]["items"]) {
    const std::string id = it["id"];
    EXPECT_TRUE(id == "i10" || id == "i11" || id == "i12" || id == "i1") << id;
  }
  // Each request alone counted once more: twice the batch's rankings in all.
  EXPECT_EQ(metrics.rankings_cached(), 4u);
  EXPECT_EQ(metrics.rankings_scored(), 6u);
  EXPECT_EQ(metrics.rankings_fallback(), 2u);
}

}  // namespace
}  // namespace marquee
