// `marquee serve` with its online state in Redis (docs/formats/state-redis.md): two replicas
// share the members' recent history; with Redis down, writes answer 503 and recommendations
// still answer, without the recent history and marked so; both recover by themselves.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "events/redis_event_log.h"
#include "events/redis_test_util.h"
#include "pipeline/train.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpResult;
using marquee::testing::InProcessServer;
using marquee::testing::RedisServer;

class RedisStateServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = RedisServer::Fresh();
    MARQUEE_SKIP_WITHOUT_REDIS(redis_);
    home_ = dir_.file("home");
    marquee::testing::RegisterModel(home_, "recs", "ease", {{"lambda", 10.0}});
    Registry reg = OpenRegistry(home_);
    reg.Promote("recs/1", "production", {});
  }

  std::unique_ptr<InProcessServer> Replica() {
    marquee::testing::InProcessServerOptions o;
    o.refs = {"recs@production"};
    o.control_plane = false;
    o.core.state = redis_->Url();
    // The two in-process replicas share one home here (real replicas each have their own): the
    // per-home shadow log (serving/shadow.h) is not what this suite tests, and one home holds it
    // once.
    o.core.shadow = false;
    auto s = std::make_unique<InProcessServer>(home_, std::move(o));
    s->Start();
    return s;
  }

  static std::vector<std::string> Ids(const json& res) {
    std::vector<std::string> ids;
    for (const auto& it : res["items"]) ids.push_back(it["id"]);
    return ids;
  }

  RedisServer* redis_ = nullptr;
  marquee::testing::TempDir dir_;
  std::string home_;
};

TEST_F(RedisStateServerTest, AnEventPostedToOneReplicaShapesTheNextAnswerOfAnother) {
  auto a = Replica();
  auto b = Replica();
  const json req = {{"model", "recs@production"}, {"user", "u0"}, {"k", 10}};
  const std::string top = b->client()->Post("/v1/recommend", req).json()["items"][0]["id"];
  HttpResult e = a->client()->Post("/v1/events", {{"events", {{{"user", "u0"}, {"item", top}}}}});
  ASSERT_EQ(e.status, 200) << e.body;
  const json after = b->client()->Post("/v1/recommend", req).json();
  for (const auto& id : Ids(after)) EXPECT_NE(id, top) << after.dump();
  EXPECT_FALSE(after.contains("history")) << after.dump();
  // The event is in Redis, not in the home.
  EXPECT_EQ(OpenRedisEventLog(redis_->ParsedUrl())->Recent("u0", 5).at(0).item, top);
  EXPECT_EQ(a->events()->Describe(), redis_->ParsedUrl().Redacted());
}

TEST_F(RedisStateServerTest, RedisDownWritesAre503RecommendationsAnswerWithoutHistory) {
  auto s = Replica();
  const json req = {{"model", "recs@production"}, {"user", "u0"}, {"k", 5}};
  const json ev = {{"events", {{{"user", "u0"}, {"item", "i3"}}}}};
  ASSERT_EQ(s->client()->Post("/v1/events", ev).status, 200);
  redis_->Kill(SIGKILL);
  marquee::testing::ExpectErrorResponse(s->client()->Post("/v1/events", ev), 503, "unavailable",
                                        "Redis");
  HttpResult r = s->client()->Post("/v1/recommend", req);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["history"], "unavailable") << r.body;
  EXPECT_EQ(r.json()["items"].size(), 5u) << r.body;
  // A member known only through events gets the popular items, marked, rather than an error.
  HttpResult fresh =
      s->client()->Post("/v1/recommend", {{"model", "recs@production"}, {"user", "only-in-redis"}});
  EXPECT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(s->client()->Get("/readyz").status, 503);
  ASSERT_TRUE(redis_->Start());
  // Back by itself: no restart of the server.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = s->client()->Post("/v1/events", ev).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200);
  r = s->client()->Post("/v1/recommend", req);
  EXPECT_FALSE(r.json().contains("history")) << r.body;
  EXPECT_EQ(s->client()->Get("/readyz").status, 200);
  // The acknowledged event of before the crash is there (plus the one after).
  EXPECT_EQ(OpenRedisEventLog(redis_->ParsedUrl())->Recent("u0", 10).size(), 2u);
}

TEST_F(RedisStateServerTest, AServerRefusesARedisThatCouldLoseWrites) {
  redis_->Command({"CONFIG", "SET", "appendfsync", "everysec"});
  marquee::testing::InProcessServerOptions o;
  o.refs = {"recs@production"};
  o.control_plane = false;
  o.core.state = redis_->Url();
  try {
    InProcessServer s(home_, o);
    ADD_FAILURE() << "the server started";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("appendfsync"), std::string::npos) << e.what();
  }
  o.core.state = redis_->Url(0, "durability=relaxed");
  EXPECT_NO_THROW(InProcessServer(home_, o));
  redis_->Command({"CONFIG", "SET", "appendfsync", "always"});
}

}  // namespace
}  // namespace marquee
