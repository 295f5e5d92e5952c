// The registry of model kinds: every family has exactly one kind, and lookups say which.
#include <gtest/gtest.h>

#include <set>

#include "core/model_kind.h"
#include "kinds/builtin.h"
#include "marquee/error.h"
#include "marquee/recommender.h"

namespace marquee {
namespace {

TEST(KindRegistry, EveryBuiltinFamilyHasExactlyOneKind) {
  const KindRegistry& kinds = BuiltinKinds();
  ASSERT_EQ(kinds.kinds().size(), 3u);
  EXPECT_EQ(kinds.Get("lints").name(), "bandit");
  EXPECT_EQ(kinds.Get("ease").name(), "recommender");
  EXPECT_EQ(kinds.Get("rp3beta").name(), "recommender");
  EXPECT_EQ(kinds.Get("xgboost").name(), "tabular");
  EXPECT_TRUE(kinds.IsKind("linucb", "bandit"));
  EXPECT_FALSE(kinds.IsKind("ease", "bandit"));
  EXPECT_FALSE(kinds.IsKind("nope", "recommender"));
  EXPECT_EQ(kinds.Find("nope"), nullptr);
  const std::vector<std::string> all = kinds.Families();
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
  for (const auto& f : RecommenderFamilies()) EXPECT_TRUE(kinds.IsKind(f, "recommender")) << f;
  try {
    kinds.Get("eaze");
    ADD_FAILURE() << "an unknown family was found";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("unknown model family 'eaze' (known: "),
              std::string::npos);
  }
}

TEST(KindRegistry, EveryKindDeclaresItsRoutes) {
  const KindRegistry& kinds = BuiltinKinds();
  EXPECT_EQ(kinds.ByName("recommender")->routes(),
            (std::vector<std::string>{"recommend", "similar-items"}));
  EXPECT_EQ(kinds.ByName("bandit")->routes(), (std::vector<std::string>{"decide", "reward"}));
  EXPECT_EQ(kinds.ByName("tabular")->routes(), (std::vector<std::string>{"predict"}));
  EXPECT_EQ(kinds.ByName("nope"), nullptr);
}

// A family claimed by two kinds is a programming error caught when the kinds are registered.
class FakeKind final : public ModelKind {
 public:
  explicit FakeKind(std::string family) : family_(std::move(family)) {}
  std::string_view name() const override { return "fake"; }
  std::string_view noun() const override { return "fake model"; }
  std::vector<std::string> families() const override { return {family_}; }
  std::vector<std::string> routes() const override { return {}; }
  std::shared_ptr<const KindConfig> ParseConfig(const nlohmann::json&, const ConfigOrigin&,
                                                const std::vector<std::string>&) const override {
    return nullptr;
  }
  Identity Identify(const KindConfig&) const override { return {}; }
  TrainResult Train(const KindConfig&, const TrainJob&) const override { return {}; }
  std::string FormatReport(const nlohmann::json&) const override { return ""; }
  std::vector<std::string> SmokeTest(const std::string&, const std::string&, Env*) const override {
    return {};
  }
  std::shared_ptr<Servable> Load(const ServableSpec&) const override { return nullptr; }

 private:
  std::string family_;
};

TEST(KindRegistry, AFamilyClaimedTwiceIsRefused) {
  KindRegistry kinds;
  kinds.Add(std::make_unique<FakeKind>("ease"));
  EXPECT_THROW(kinds.Add(std::make_unique<FakeKind>("ease")), Error);
  EXPECT_NO_THROW(kinds.Add(std::make_unique<FakeKind>("other")));
  EXPECT_EQ(kinds.Families(), (std::vector<std::string>{"ease", "other"}));
}

}  // namespace
}  // namespace marquee
