// Feature hashing: stable hashes, determinism, settings.
#include <gtest/gtest.h>

#include "bandits/features.h"
#include "marquee/error.h"

namespace marquee {
namespace {

TEST(BanditFeatures, HashIsStableXxh64OfTheNamespacedKey) {
  // XXH64("c\x1f" "country=US", seed 0), computed with libxxhash: a change here changes every
  // saved policy's meaning (docs/formats/bandit.md).
  EXPECT_EQ(FeatureHash('c', "country", std::string("US")), 6911786011023834220ULL);
  EXPECT_NE(FeatureHash('a', "country", std::string("US")),
            FeatureHash('c', "country", std::string("US")));
  EXPECT_EQ(FeatureHash('c', "hour", 3.0), FeatureHash('c', "hour", 21.0));  // name only
}

TEST(BanditFeatures, VectorsAreDeterministicAndOrderIndependent) {
  FeatureSpec s;
  s.dim = 128;
  Featurizer a(s), b(s);
  FeatureMap ctx = {{"country", std::string("US")}, {"hour", 21.0}, {"zero", 0.0}};
  FeatureMap rev = {{"hour", 21.0}, {"country", std::string("US")}};
  Action act{"img-1", {{"tone", std::string("dark")}, {"faces", 1.0}}};
  auto v1 = a.Joint(ctx, act), v2 = b.Joint(ctx, act), v3 = a.Joint(rev, act);
  EXPECT_EQ(v1, v2);
  EXPECT_EQ(v1, v3);
  int nonzero = 0;
  for (float x : v1) nonzero += x != 0 ? 1 : 0;
  // bias + 2 context + 3 action (incl. id) + 2 x 3 crosses = 12 features (collisions may merge).
  EXPECT_GE(nonzero, 8);
  EXPECT_LE(nonzero, 12);
  Action other{"img-2", act.features};
  EXPECT_NE(v1, a.Joint(ctx, other));  // the id feature and its crosses differ
  auto c = a.ContextOnly(ctx);
  EXPECT_EQ(c, a.ContextOnly(rev));
}

TEST(BanditFeatures, SettingsSwitchPartsOff) {
  FeatureSpec s = FeatureSpec::FromJson({{"dim", 4096},
                                         {"interactions", nlohmann::json::array()},
                                         {"action_id", false},
                                         {"bias", false},
                                         {"context", false}});
  Featurizer f(s);
  FeatureMap ctx = {{"country", std::string("US")}};
  Action act{"img-1", {{"faces", 2.0}}};
  auto v = f.Joint(ctx, act);
  int nonzero = 0;
  float sum = 0;
  for (float x : v) {
    nonzero += x != 0 ? 1 : 0;
    sum += std::abs(x);
  }
  EXPECT_EQ(nonzero, 1);  // only faces = 2
  EXPECT_FLOAT_EQ(sum, 2.0f);
  EXPECT_EQ(FeatureSpec::FromJson(s.ToJson()).ToJson(), s.ToJson());
}

TEST(BanditFeatures, BadSettingsAreInvalidArgument) {
  EXPECT_THROW(FeatureSpec::FromJson({{"dim", -1}}), Error);
  EXPECT_THROW(FeatureSpec::FromJson({{"interactions", {{"context", "user"}}}}), Error);
  EXPECT_THROW(FeatureSpec::FromJson({{"bias", "yes"}}), Error);
}

TEST(KeyedFeatures, KeyedInputMatchesFeatureHashOfEveryFeature) {
  FeatureMap ctx = {{"age", 31.0}, {"zero", 0.0}, {"country", std::string("BR")}};
  std::vector<Action> actions = {{"a1", {{"len", 2.5}}}, {"a2", {{"genre", std::string("doc")}}}};
  KeyedScratch scratch;
  const KeyedInput& k = scratch.Key(ctx, actions);
  ASSERT_EQ(k.context.size(), 2u);  // the numeric zero is skipped
  EXPECT_EQ(k.context[0].key, FeatureHash('c', "age", 31.0));
  EXPECT_EQ(k.context[0].value, 31.0);
  EXPECT_EQ(k.context[1].key, FeatureHash('c', "country", std::string("BR")));
  EXPECT_EQ(k.context[1].value, 1.0);
  ASSERT_EQ(k.actions.size(), 2u);
  EXPECT_EQ(k.actions[0].id, "a1");
  EXPECT_EQ(k.actions[0].id_key, FeatureHash('a', "_id", std::string("a1")));
  ASSERT_EQ(k.actions[0].features.size(), 1u);
  EXPECT_EQ(k.actions[0].features[0].key, FeatureHash('a', "len", 2.5));
  EXPECT_EQ(k.actions[1].features[0].key, FeatureHash('a', "genre", std::string("doc")));
  // Reuse: a second Key() replaces the first.
  const KeyedInput& k2 = scratch.Key({}, {{"x", {}}});
  EXPECT_TRUE(k2.context.empty());
  ASSERT_EQ(k2.actions.size(), 1u);
  EXPECT_TRUE(k2.actions[0].features.empty());
}

}  // namespace
}  // namespace marquee
