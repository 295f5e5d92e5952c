// POST /v1/decide and /v1/reward over real HTTP (in-process server): response shape,
// probabilities (sum to 1, choice frequencies match them), bad input (each a named 4xx),
// reward joining, API-key scopes, online learning, alias moves.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "bandit_test_util.h"
#include "bandits/decision_log.h"
#include "common/text.h"
#include "serving/bandit_handler.h"
#include "serving/http_server.h"
#include "serving/model_manager.h"
#include "serving/service.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using namespace std::string_literals;
using marquee::testing::HttpClient;
using marquee::testing::HttpResult;

constexpr char kReader[] = "reader-key-0123456789";
constexpr char kWriter[] = "writer-key-0123456789";

// A server with the bandit routes, a fake clock for the decision log and no fsync (durability is
// the slow kill -9 test's job).
class BanditServer {
 public:
  BanditServer(const std::string& home, std::vector<std::string> refs, bool with_keys = false) {
    marquee::testing::InProcessServerOptions so;
    so.core.bandits = std::move(refs);
    so.core.max_actions = 8;
    DecisionLogOptions& o = so.core.decision_log;
    o.sync = false;
    o.reward_window_ms = 60'000;
    o.default_reward = 0;
    o.now_ms = [this] { return now_ms.load(); };
    o.sweep_interval = std::chrono::milliseconds(0);
    so.events = false;
    so.serve_reload = true;  // POST /admin/reload
    if (with_keys) so.api_keys = std::string(kReader) + " read\n" + kWriter + " read,write\n";
    server_ = std::make_unique<marquee::testing::InProcessServer>(home, std::move(so));
    server_->Start();
    client = server_->client();
  }
  ~BanditServer() { server_->Stop(); }
  BanditHandler& handler() { return *server_->core()->bandits(); }
  DecisionLog& log() { return *server_->core()->decisions(); }

  std::atomic<int64_t> now_ms{1'700'000'000'000};
  HttpClient* client = nullptr;

 private:
  std::unique_ptr<marquee::testing::InProcessServer> server_;
};

json DecideBody(const std::string& model = "artwork@production") {
  return {{"model", model},
          {"user", "196"},
          {"context", {{"country", "US"}, {"device", "tv"}, {"hour", 21}}},
          {"actions",
           {{{"id", "a"}, {"features", {{"tone", "dark"}, {"faces", 1}}}},
            {{"id", "b"}, {"features", {{"tone", "light"}, {"faces", 0}}}},
            {{"id", "c"}, {"features", {{"tone", "dark"}, {"faces", 2}}}}}}};
}

void ExpectError(const HttpResult& r, int status, const std::string& code,
                 const std::string& mention) {
  marquee::testing::ExpectErrorResponse(r, status, code, mention);
}

class BanditServing : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.file("home");
    auto p = marquee::testing::SkewedPolicy();
    version_ = marquee::testing::RegisterPolicy(home_, "artwork", *p);
    marquee::testing::SetAlias(home_, "artwork", "production", version_);
  }
  marquee::testing::TempDir dir_;
  std::string home_;
  int64_t version_ = 0;
};

TEST_F(BanditServing, DecideAnswersTheDocumentedShape) {
  BanditServer s(home_, {"artwork@production"});
  HttpResult r = s.client->Post("/v1/decide", DecideBody());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j.size(), 5u) << r.body;
  EXPECT_EQ(j["model"], "artwork");
  EXPECT_EQ(j["version"], version_);
  EXPECT_EQ(j["decision_id"].get<std::string>().size(), 32u);
  ASSERT_EQ(j["probabilities"].size(), 3u);
  double sum = 0;
  std::vector<std::string> ids;
  for (const auto& p : j["probabilities"]) {
    ids.push_back(p["id"]);
    EXPECT_GE(p["p"].get<double>(), 0.0);
    sum += p["p"].get<double>();
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));  // the order of the actions
  EXPECT_NEAR(sum, 1.0, 1e-9);
  const std::string action = j["action"];
  EXPECT_TRUE(action == "a" || action == "b" || action == "c") << action;
  // Logged with everything needed to evaluate it later.
  auto d = s.log().Get(j["decision_id"].get<std::string>());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->version, version_);
  EXPECT_EQ(*d->user, "196");
  EXPECT_EQ(d->context["device"], "tv");
  EXPECT_EQ(d->actions[d->chosen]["id"], action);
  EXPECT_NEAR(d->probabilities[d->chosen], j["probabilities"][d->chosen]["p"].get<double>(), 1e-12);
  // The model may be named by its name alone when one reference serves it.
  EXPECT_EQ(s.client->Post("/v1/decide", DecideBody("artwork")).status, 200);
}

TEST_F(BanditServing, ChosenActionFrequenciesMatchTheProbabilities) {
  BanditServer s(home_, {"artwork@production"});
  std::map<std::string, int> counts;
  std::map<std::string, double> probs;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    HttpResult r = s.client->Post("/v1/decide", DecideBody());
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.json();
    ++counts[j["action"].get<std::string>()];
    for (const auto& p : j["probabilities"]) {
      const double v = p["p"].get<double>();
      auto [it, fresh] = probs.emplace(p["id"].get<std::string>(), v);
      ASSERT_NEAR(it->second, v, 1e-12) << "no reward was given, the distribution must not move";
    }
  }
  double chi2 = 0;
  bool skewed = false;
  for (const auto& [id, p] : probs) {
    const double expected = p * n;
    if (p > 0.4) skewed = true;
    if (expected > 0) chi2 += std::pow(counts[id] - expected, 2) / expected;
    if (p == 0) {
      EXPECT_EQ(counts[id], 0) << id;
    }
  }
  EXPECT_TRUE(skewed) << "the test policy should prefer one action";
  // 2 degrees of freedom: P(chi2 > 13.8) = 0.001.
  EXPECT_LT(chi2, 13.8) << "counts a=" << counts["a"] << " b=" << counts["b"]
                        << " c=" << counts["c"];
}

TEST_F(BanditServing, BadDecideRequestsAreNamed4xx) {
  BanditServer s(home_, {"artwork@production"});
  auto with = [](const std::function<void(json&)>& edit) {
    json b = DecideBody();
    edit(b);
    return b;
  };
  auto post = [&](const json& b) { return s.client->Post("/v1/decide", b); };
  ExpectError(post(with([](json& b) { b["extra"] = 1; })), 400, "invalid_argument", "extra");
  ExpectError(post(with([](json& b) { b.erase("model"); })), 400, "invalid_argument", "model");
  ExpectError(post(with([](json& b) { b["model"] = 3; })), 400, "invalid_argument", "model");
  ExpectError(post(with([](json& b) { b["model"] = "nope"; })), 404, "not_found", "nope");
  ExpectError(post(with([](json& b) { b.erase("actions"); })), 400, "invalid_argument", "actions");
  ExpectError(post(with([](json& b) { b["actions"] = json::array(); })), 400, "invalid_argument",
              "actions");
  ExpectError(post(with([](json& b) { b["actions"] = "a,b"; })), 400, "invalid_argument",
              "actions");
  ExpectError(post(with([](json& b) { b["actions"][2]["id"] = "a"; })), 400, "invalid_argument",
              "actions[2].id");
  ExpectError(post(with([](json& b) { b["actions"][1].erase("id"); })), 400, "invalid_argument",
              "actions[1].id");
  ExpectError(post(with([](json& b) { b["actions"][1]["id"] = ""; })), 400, "invalid_argument",
              "actions[1].id");
  ExpectError(post(with([](json& b) { b["actions"][0]["colour"] = "red"; })), 400,
              "invalid_argument", "colour");
  ExpectError(post(with([](json& b) { b["actions"][0]["features"]["hdr"] = nullptr; })), 400,
              "invalid_argument", "actions[0].features.hdr");
  ExpectError(post(with([](json& b) { b["context"]["hour"] = json::array({1}); })), 400,
              "invalid_argument", "context.hour");
  ExpectError(post(with([](json& b) { b["context"] = "US"; })), 400, "invalid_argument", "context");
  ExpectError(post(with([](json& b) { b["user"] = 1.5; })), 400, "invalid_argument", "user");
  ExpectError(post(with([](json& b) {
                for (int i = 0; i < 9; ++i) b["actions"].push_back({{"id", std::to_string(i)}});
              })),
              413, "resource_exhausted", "actions");
  ExpectError(s.client->Call("POST", "/v1/decide", "{not json"), 400, "invalid_argument", "JSON");
  ExpectError(s.client->Call("GET", "/v1/decide"), 405, "invalid_argument", "POST");
}

TEST_F(BanditServing, AnUnknownReferenceStopsTheStart) {
  try {
    BanditServer s(home_, {"missing@production"});
    FAIL() << "started without its policy";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}

TEST_F(BanditServing, RewardJoinsOnceAndNamesEveryFailure) {
  BanditServer s(home_, {"artwork@production"});
  json d = s.client->Post("/v1/decide", DecideBody()).json();
  const std::string id = d["decision_id"];
  HttpResult r = s.client->Post("/v1/reward", {{"decision_id", id}, {"reward", 1.0}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["joined"], true);
  EXPECT_EQ(j["decision_id"], id);
  EXPECT_EQ(j["reward"], 1.0);
  EXPECT_EQ(j["version"], version_);
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", id}, {"reward", 0.0}}), 409,
              "already_exists", id);
  EXPECT_EQ(s.log().Get(id)->outcome.reward, 1.0);  // the first reward wins

  const std::string unknown = DecisionLog::NewId(s.now_ms);
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", unknown}, {"reward", 1}}), 404,
              "not_found", unknown);
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", "abc"}, {"reward", 1}}), 400,
              "invalid_argument", "decision_id");
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", id}}), 400, "invalid_argument",
              "reward");
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", id}, {"reward", "1"}}), 400,
              "invalid_argument", "reward");
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", id}, {"reward", 1}, {"x", 1}}), 400,
              "invalid_argument", "'x'");

  // Late: after the 60 s window the reward is refused and the sweeper gives the default.
  json late = s.client->Post("/v1/decide", DecideBody()).json();
  s.now_ms += 61'000;
  ExpectError(s.client->Post("/v1/reward", {{"decision_id", late["decision_id"]}, {"reward", 1.0}}),
              409, "failed_precondition", "window");
  EXPECT_EQ(s.log().Sweep(), 1u);
  auto closed = s.log().Get(late["decision_id"].get<std::string>());
  EXPECT_EQ(closed->outcome.kind, OutcomeKind::kDefault);
  EXPECT_EQ(closed->outcome.reward, 0.0);
  // The policy learned from the joined reward and from the default one.
  EXPECT_EQ(s.handler().Describe()["bandits"][0]["updates"], 2u);
}

TEST(ParseDecideRequest, NormalisesIdsAndBooleans) {
  json body = {{"model", "artwork"},
               {"user", 196},
               {"context", {{"kids", true}, {"hour", 21}}},
               {"actions", {{{"id", 7}, {"features", {{"hdr", false}}}}, {{"id", "x"}}}}};
  DecideRequest r = ParseDecideRequest(body, BanditLimits());
  EXPECT_EQ(*r.user, "196");
  EXPECT_EQ(r.context["kids"], 1.0);
  EXPECT_EQ(r.actions[0]["id"], "7");
  EXPECT_EQ(r.actions[0]["features"]["hdr"], 0.0);
  EXPECT_EQ(r.actions[1]["features"], json::object());
  ASSERT_EQ(r.input.actions.size(), 2u);
  EXPECT_EQ(r.input.actions[0].id, "7");
  ASSERT_EQ(r.input.context.size(), 2u);
  // The stored form parses back to the same policy input (online updates and replays use it).
  Decision d;
  d.model = "artwork";
  d.user = r.user;
  d.context = r.context;
  d.actions = r.actions;
  DecisionInput back = InputOf(d);
  ASSERT_EQ(back.actions.size(), 2u);
  EXPECT_EQ(back.actions[1].id, "x");
  EXPECT_EQ(back.context, r.input.context);
}

TEST_F(BanditServing, ApiKeyScopes) {
  BanditServer s(home_, {"artwork@production"}, /*with_keys=*/true);
  const std::string reader = std::string("Authorization: Bearer ") + kReader + "\r\n";
  const std::string writer = std::string("X-API-Key: ") + kWriter + "\r\n";
  ExpectError(s.client->Post("/v1/decide", DecideBody()), 401, "unauthenticated", "");
  HttpResult d = s.client->Post("/v1/decide", DecideBody(), reader);
  ASSERT_EQ(d.status, 200) << d.body;
  json reward = {{"decision_id", d.json()["decision_id"]}, {"reward", 1}};
  ExpectError(s.client->Post("/v1/reward", reward), 401, "unauthenticated", "");
  ExpectError(s.client->Post("/v1/reward", reward, reader), 403, "permission_denied", "");
  EXPECT_EQ(s.client->Post("/v1/reward", reward, writer).status, 200);
}

TEST_F(BanditServing, JoinedRewardsUpdateTheLivePolicyAndAreRecorded) {
  BanditServer s(home_, {"artwork@production"});
  auto updates = [&] { return s.handler().Describe()["bandits"][0]["updates"].get<uint64_t>(); };
  EXPECT_EQ(updates(), 0u);
  std::vector<double> before;
  for (int i = 0; i < 20; ++i) {
    json d = s.client->Post("/v1/decide", DecideBody()).json();
    if (before.empty()) {
      for (const auto& p : d["probabilities"]) before.push_back(p["p"]);
    }
    const double reward = d["action"] == "b" ? 1.0 : 0.0;  // b is the best action online
    ASSERT_EQ(s.client->Post("/v1/reward", {{"decision_id", d["decision_id"]}, {"reward", reward}})
                  .status,
              200);
  }
  EXPECT_EQ(updates(), 20u);
  HttpResult m = s.client->Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(
      m.body.find("marquee_bandit_online_updates{ref=\"artwork@production\",model=\"artwork\"} 20"),
      std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("marquee_bandit_decisions_total 20"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("marquee_bandit_rewards_total{outcome=\"joined\"} 20"), std::string::npos);
  json d = s.client->Post("/v1/decide", DecideBody()).json();
  EXPECT_NE(d["probabilities"][1]["p"].get<double>(), before[1]) << "the policy did not learn";
  auto logged = s.log().Get(d["decision_id"].get<std::string>());
  EXPECT_EQ(logged->updates, 20u);  // which state of the policy made this decision
}

TEST_F(BanditServing, FollowsAliasMovesAndReplaysTheLogOnLoad) {
  auto p2 = marquee::testing::SkewedPolicy();
  DecisionInput in;
  for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
  p2->Update(in, 2, 1.0, 0.5);  // a different version
  const int64_t v2 = marquee::testing::RegisterPolicy(home_, "artwork", *p2);
  {
    BanditServer s(home_, {"artwork@production"});
    json d = s.client->Post("/v1/decide", DecideBody()).json();
    EXPECT_EQ(d["version"], version_);
    ASSERT_EQ(
        s.client->Post("/v1/reward", {{"decision_id", d["decision_id"]}, {"reward", 1}}).status,
        200);
    marquee::testing::SetAlias(home_, "artwork", "production", v2);
    json res = s.handler().Refresh();
    EXPECT_EQ(res["artwork@production"], fmt::format("loaded v{}", v2)) << res.dump();
    d = s.client->Post("/v1/decide", DecideBody()).json();
    EXPECT_EQ(d["version"], v2);
    EXPECT_EQ(s.handler().Describe()["bandits"][0]["updates"], 0u);
    marquee::testing::SetAlias(home_, "artwork", "production", version_);
  }
  // A restarted server loads version 1 again and replays the reward it had joined.
  BanditServer s(home_, {"artwork@production"});
  EXPECT_EQ(s.handler().Describe()["bandits"][0]["updates"], 1u);
  EXPECT_EQ(s.client->Post("/v1/decide", DecideBody()).json()["version"], version_);
}

// An alias that flips between two versions (the soak test promotes every minute) must not
// replay the whole decision log at every flip: the replaced version is kept, learns from the
// rewards of its own decisions while retired, and is taken back as it is.
TEST_F(BanditServing, AnAliasMovingBackResumesTheRetiredVersionWithoutReplay) {
  auto p2 = marquee::testing::SkewedPolicy();
  DecisionInput in;
  for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
  p2->Update(in, 2, 1.0, 0.5);
  const int64_t v2 = marquee::testing::RegisterPolicy(home_, "artwork", *p2);
  BanditServer s(home_, {"artwork@production"});
  auto updates = [&] { return s.handler().Describe()["bandits"][0]["updates"].get<uint64_t>(); };
  auto reward = [&](const json& d) {
    return s.client->Post("/v1/reward", {{"decision_id", d["decision_id"]}, {"reward", 1}}).status;
  };
  json first = s.client->Post("/v1/decide", DecideBody()).json();
  json late = s.client->Post("/v1/decide", DecideBody()).json();  // rewarded after the move
  ASSERT_EQ(reward(first), 200);
  EXPECT_EQ(updates(), 1u);

  marquee::testing::SetAlias(home_, "artwork", "production", v2);
  EXPECT_EQ(s.handler().Refresh()["artwork@production"], fmt::format("loaded v{}", v2));
  EXPECT_EQ(updates(), 0u);
  ASSERT_EQ(reward(late), 200);  // a decision of the retired version 1
  EXPECT_EQ(updates(), 0u) << "v2 learned from a v1 decision";

  marquee::testing::SetAlias(home_, "artwork", "production", version_);
  EXPECT_EQ(s.handler().Refresh()["artwork@production"], fmt::format("resumed v{}", version_));
  EXPECT_EQ(updates(), 2u) << "the retired version missed the reward that arrived meanwhile";
  const std::string metrics = s.client->Get("/metrics").body;
  EXPECT_NE(metrics.find("marquee_bandit_replayed_rewards_total 0\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("marquee_bandit_resumed_total 1\n"), std::string::npos) << metrics;
}

TEST_F(BanditServing, AdminReloadMovesPoliciesAtOnceAndModelsListsThem) {
  auto p2 = marquee::testing::SkewedPolicy();
  DecisionInput in;
  for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
  p2->Update(in, 1, 1.0, 0.5);
  const int64_t v2 = marquee::testing::RegisterPolicy(home_, "artwork", *p2);
  BanditServer s(home_, {"artwork@production"});
  json listed = s.client->Get("/v1/models").json();
  ASSERT_EQ(listed["bandits"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["bandits"][0]["ref"], "artwork@production");
  EXPECT_EQ(listed["bandits"][0]["version"], version_);
  marquee::testing::SetAlias(home_, "artwork", "production", v2);
  HttpResult r = s.client->Post("/admin/reload", json::object());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["bandits_refresh"]["artwork@production"], fmt::format("loaded v{}", v2))
      << r.body;
  EXPECT_EQ(r.json()["bandits"][0]["version"], v2) << r.body;
  EXPECT_EQ(s.client->Post("/v1/decide", DecideBody()).json()["version"], v2);
}

TEST_F(BanditServing, RefusesAModelThatIsNotABanditPolicy) {
  marquee::testing::RegisterModel(home_, "recs");
  try {
    BanditServer s(home_, {"recs"});
    FAIL() << "a recommender was served as a bandit policy";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a bandit policy"), std::string::npos) << e.what();
  }
}

// Numbers past float32 range become infinity in the policy's featurisation: a 400 naming the
// field, as /v1/predict answers, not a 500 "invalid distribution".
TEST_F(BanditServing, FeatureValuesBeyondFloatRangeAreA400NamingTheField) {
  BanditServer s(home_, {"artwork@production"});
  json b = DecideBody();
  b["context"]["x"] = 1e100;
  ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument",
              "context.x: 1e+100 does not fit in a float32");
  b = DecideBody();
  b["actions"][2]["features"]["faces"] = -4e38;
  ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument",
              "actions[2].features.faces: -4e+38 does not fit in a float32");
  b = DecideBody();
  b["context"]["x"] = 12345.5;
  ASSERT_EQ(s.client->Post("/v1/decide", b).status, 200);
}

// In range, but the product of two features overflows float32 inside the policy: its
// probabilities are NaN. That used to be logged and answered 200 ("p": null) by softmax, and a
// 500 by epsilon-greedy; it is a 400 naming the largest value, and nothing is logged.
TEST(BanditOverflow, FeaturesWhoseProductsOverflowAreA400AndNotLogged) {
  for (const char* family : {"softmax", "epsilon-greedy"}) {
    SCOPED_TRACE(family);
    marquee::testing::TempDir dir;
    const std::string home = dir.file("home");
    PolicyConfig c;
    c.family = family;
    const int64_t v = marquee::testing::RegisterPolicy(home, "artwork", *MakePolicy(c));
    marquee::testing::SetAlias(home, "artwork", "production", v);
    BanditServer s(home, {"artwork@production"});
    json b = DecideBody();
    b["context"]["x"] = 1e30;
    b["actions"][0]["features"]["faces"] = 1e25;
    ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument",
                "context.x: 1e+30 is too large for policy artwork v1");
    EXPECT_EQ(s.log().stats().decisions, 0u);
    EXPECT_EQ(s.client->Post("/v1/decide", DecideBody()).status, 200);
  }
}

// A decision id of 63 ASCII bytes and then 'é': an error message that quotes it must not cut
// the character in two (the body would not be UTF-8 and the server used to abort building it).
TEST_F(BanditServing, ADecisionIdCutInsideACharacterIsA400AndTheServerLives) {
  BanditServer s(home_, {"artwork@production"});
  const std::string id = std::string(63, 'a') + "\u00e9";
  HttpResult r = s.client->Post("/v1/reward", {{"decision_id", id}, {"reward", 1}});
  ExpectError(r, 400, "invalid_argument", "is not a decision id");
  EXPECT_TRUE(IsValidUtf8(r.body)) << r.body;
  r = s.client->Post("/v1/reward",
                     {{"decision_id", std::string(31, 'a') + "\u00e9"}, {"reward", 1}});
  ExpectError(r, 400, "invalid_argument", "is not a decision id");
  EXPECT_EQ(s.client->Post("/v1/decide", DecideBody()).status, 200);
}

TEST_F(BanditServing, IdsAndTextThatCannotBeLoggedAreRefused) {
  BanditServer s(home_, {"artwork@production"});
  json b = DecideBody();
  b["user"] = "a\0b"s;
  ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument", "user: contains a NUL");
  b = DecideBody();
  b["actions"][1]["id"] = "\0"s;
  ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument",
              "actions[1].id: contains a NUL");
  b = DecideBody();
  b["context"]["country"] = "U\0S"s;
  ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument",
              "context.country: contains a NUL");
  b = DecideBody();
  b["context"]["na\0me"s] = 1;
  ExpectError(s.client->Post("/v1/decide", b), 400, "invalid_argument", "a feature name");
  EXPECT_EQ(s.log().stats().decisions, 0u);
}

// The dashboard's bandit views on a server that holds the decision log answer from that log's
// counters: decisions, joined rewards and defaults as they happen, in the decisions' hour.
TEST_F(BanditServing, TheBanditViewsCountWhatTheServerLogged) {
  BanditServer s(home_, {"artwork@production"});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(s.client->Post("/v1/decide", DecideBody()).json()["decision_id"]);
  }
  ASSERT_EQ(s.client->Post("/v1/reward", {{"decision_id", ids[0]}, {"reward", 1.0}}).status, 200);
  ASSERT_EQ(s.client->Post("/v1/reward", {{"decision_id", ids[1]}, {"reward", 0.5}}).status, 200);
  HttpResult r = s.client->Get("/api/v1/bandits");
  ASSERT_EQ(r.status, 200) << r.body;
  json list = r.json()["policies"];
  ASSERT_EQ(list.size(), 1u) << r.body;
  EXPECT_EQ(list[0]["name"], "artwork");
  EXPECT_EQ(list[0]["decisions"], 5);
  EXPECT_EQ(list[0]["joined"], 2);
  EXPECT_EQ(list[0]["rewards"], 1.5);
  EXPECT_EQ(list[0]["versions"], json::array({version_}));
  s.now_ms += 61'000;  // the window closes: the other three get the default reward 0
  EXPECT_EQ(s.log().Sweep(), 3u);
  r = s.client->Get("/api/v1/bandits/artwork?bucket=day");
  ASSERT_EQ(r.status, 200) << r.body;
  json b = r.json();
  EXPECT_EQ(b["closed"], 5);
  ASSERT_EQ(b["series"].size(), 1u) << r.body;
  EXPECT_EQ(b["series"][0]["decisions"], 5);
  EXPECT_DOUBLE_EQ(b["series"][0]["reward_rate"].get<double>(), 1.5 / 5);
  uint64_t chosen = 0;
  for (const auto& a : b["actions"]) chosen += a["decisions"].get<uint64_t>();
  EXPECT_EQ(chosen, 5u);
}

}  // namespace
}  // namespace marquee
