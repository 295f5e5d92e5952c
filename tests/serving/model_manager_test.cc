// One model manager for every kind (issue #13): recommenders, bandit policies and tabular models
// are loaded by their kind's ModelKind::Load into the same slots, swapped and listed the same
// way, and a reference of one kind is never served as another.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "bandit_serving/bandit_test_util.h"
#include "kinds/bandit/live_policy.h"
#include "kinds/tabular/tabular_servable.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "serving/model_manager.h"
#include "serving_test_util.h"
#include "tabular/predictor.h"
#include "tabular_test_util.h"
#include "test_util.h"

namespace marquee {
namespace {

using nlohmann::json;

class OneModelManager : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs");
    marquee::testing::RegisterPolicy(home_, "artwork", *marquee::testing::SkewedPolicy());
    marquee::testing::RegisterTabular(home_, "retry", 3);
  }
  std::unique_ptr<ModelManager> Manager(std::vector<std::string> refs = {}) {
    ModelManagerOptions mo;
    mo.home = home_;
    mo.refs = std::move(refs);
    return std::make_unique<ModelManager>(std::move(mo));
  }

  marquee::testing::TempDir dir_;
  std::string home_;
};

TEST_F(OneModelManager, HoldsEveryKindInTheSameSlots) {
  auto m = Manager({"recs"});
  m->Add({"artwork"}, kKindBandit, /*required=*/true);
  EXPECT_FALSE(m->ready());
  json r = m->Refresh();
  EXPECT_EQ(r["recs"], "loaded v1") << r.dump();
  EXPECT_EQ(r["artwork"], "loaded v1") << r.dump();
  EXPECT_TRUE(m->ready());
  EXPECT_NE(dynamic_cast<const ServableModel*>(m->Find("recs", kKindRecommender).get()), nullptr);
  auto policy = m->Find("artwork", kKindBandit);
  ASSERT_NE(dynamic_cast<const LivePolicy*>(policy.get()), nullptr);
  EXPECT_EQ(policy->family, "softmax");
  // A name served by one kind is unknown to the others.
  EXPECT_EQ(m->Find("artwork", kKindRecommender), nullptr);
  EXPECT_EQ(m->Find("recs", kKindBandit), nullptr);

  // Tabular models load on first use, then are held like the others.
  EXPECT_TRUE(m->Refs(kKindTabular).empty());
  auto t = m->GetOrLoad("retry/1", kKindTabular);
  const auto* tabular = dynamic_cast<const TabularServable*>(t.get());
  ASSERT_NE(tabular, nullptr);
  EXPECT_EQ(tabular->version, 1);
  EXPECT_EQ(tabular->predictor->info().feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m->GetOrLoad("retry/1", kKindTabular), t);  // shared, not loaded again
  EXPECT_EQ(m->Refs(kKindTabular), std::vector<std::string>{"retry/1"});
  json listed = m->Describe(kKindTabular)["models"];
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["state"], "loaded");
  EXPECT_EQ(listed[0]["family"], "xgboost");
  EXPECT_EQ(m->Describe(kKindBandit)["models"][0]["updates"], 0u);
  // Every kind's version is in /metrics.
  const std::string metrics = m->MetricsText();
  for (const char* line : {"marquee_model_version{ref=\"recs\",model=\"recs\"} 1",
                           "marquee_model_version{ref=\"artwork\",model=\"artwork\"} 1",
                           "marquee_model_version{ref=\"retry/1\",model=\"retry\"} 1"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
}

TEST_F(OneModelManager, AReferenceOfAnotherKindIsRefusedNamingBoth) {
  auto m = Manager();
  m->Add({"recs"}, kKindBandit, /*required=*/true);
  try {
    m->RefreshKind(kKindBandit, /*force=*/true, /*strict=*/true);
    FAIL() << "a recommender was loaded as a bandit policy";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("recs v1 is a ease model, not a bandit policy"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(m->Describe(kKindBandit)["models"][0]["state"], "failed");
  // On-demand loads check the kind (and that the model exists) before adding a slot, so a bad
  // request leaves nothing behind.
  try {
    m->GetOrLoad("recs", kKindTabular);
    FAIL() << "a recommender was loaded as a tabular model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("is a ease model, not a tabular"), std::string::npos)
        << e.what();
  }
  try {
    m->GetOrLoad("nope@production", kKindTabular);
    FAIL() << "an unknown model loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
  }
  EXPECT_TRUE(m->Refs(kKindTabular).empty());
}

// Tabular models used to be resolved in the registry on every request, under one mutex; now they
// follow alias moves like every kind: on the poll or at once on a (forced) refresh.
TEST_F(OneModelManager, OnDemandModelsFollowAliasMoves) {
  const int64_t v2 = marquee::testing::RegisterTabular(home_, "retry", 5);
  marquee::testing::SetAlias(home_, "retry", "production", 1);
  auto m = Manager();
  EXPECT_EQ(m->GetOrLoad("retry@production", kKindTabular)->version, 1);
  marquee::testing::SetAlias(home_, "retry", "production", v2);
  EXPECT_EQ(m->GetOrLoad("retry@production", kKindTabular)->version, 1);  // until a refresh
  json r = m->Refresh(/*force=*/true);
  EXPECT_EQ(r["retry@production"], fmt::format("loaded v{}", v2)) << r.dump();
  EXPECT_EQ(m->GetOrLoad("retry@production", kKindTabular)->version, v2);
}

// Only versions whose state changes while served (bandit policies) are kept when an alias moves
// away; a recommender moved back is loaded again.
TEST_F(OneModelManager, OnlyLearningVersionsAreKeptWhenRetired) {
  marquee::testing::RegisterModel(home_, "recs");                                         // v2
  marquee::testing::RegisterPolicy(home_, "artwork", *marquee::testing::SkewedPolicy());  // v2
  for (const char* model : {"recs", "artwork"}) {
    marquee::testing::SetAlias(home_, model, "production", 1);
  }
  auto m = Manager({"recs@production"});
  m->Add({"artwork@production"}, kKindBandit, true);
  m->Refresh();
  for (int64_t v : {2, 1}) {
    for (const char* model : {"recs", "artwork"}) {
      marquee::testing::SetAlias(home_, model, "production", v);
    }
    json r = m->Refresh();
    if (v == 2) continue;
    EXPECT_EQ(r["recs@production"], "loaded v1") << r.dump();
    EXPECT_EQ(r["artwork@production"], "resumed v1") << r.dump();
  }
  EXPECT_EQ(m->resumed_total(), 1u);
}

}  // namespace
}  // namespace marquee
